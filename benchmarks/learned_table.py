"""Issue 6's results table: learned models beside the baselines on the synthetic test splits, one command.

    .venv/bin/python benchmarks/learned_table.py --data data/synth --runs runs --max-clips 60 --overwrite

(--overwrite: replace the existing docs/results_learned.md and benchmarks/results/learned_table.json, the
defaults of --out and --json; without it an existing file is refused before any work.)

For each test split (scene_test: rooms and backgrounds unseen; hrtf_test: a held-out head) and each input
condition (real: the generator's real single-microphone track; mix: (L+R)/2 of the ground truth), it scores:
Mono-Mono, the DSP renderer with oracle tracks (meta/) and with the tracks the tool detects in the video, and the
models trained with that input: Audio-Only, Mono2Binaural, Mono2Binaural on mirrored frames (Flipped-Visual),
the geometry-aware model and the same on mirrored frames (``RUNS/<model>_<input>/best.safetensors``). Writes
docs/results_learned.md and benchmarks/results/learned_table.json (per-clip rows included).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

COLS = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/env", "ENV", "{:.4f}"), ("mrstft/distance", "MR-STFT", "{:.3f}"),
        ("ild_err_db", "ILD err dB", "{:.2f}"), ("azimuth_err_deg", "az err deg", "{:.1f}"),
        ("lcr_accuracy", "L/C/R acc", "{:.0%}")]


def _write(path, text: str) -> None:
    """Write ``text`` whole or not at all (:func:`binauralize.evaluate.write_text_atomic`), folders made."""
    from binauralize.evaluate import write_text_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(path), text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--splits", nargs="+", default=["scene_test", "hrtf_test"])
    ap.add_argument("--inputs", nargs="+", default=["real", "mix"])
    ap.add_argument("--max-clips", type=int, default=60)
    ap.add_argument("--hop", type=float, default=0.1)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results_learned.md"))
    ap.add_argument("--json", default=str(HERE / "results" / "learned_table.json"))
    ap.add_argument("--overwrite", action="store_true", help="replace existing --out/--json files (the "
                    "tracked docs page and results by default)")
    args = ap.parse_args()
    for flag, f in (("--out", args.out), ("--json", args.json)):
        if f and Path(f).exists() and not args.overwrite:
            sys.exit(f"learned_table.py: error: {flag} {f} exists (pass --overwrite to replace it, or give another {flag})")

    from tqdm import tqdm

    from binauralize import evaluate as ev

    from binauralize.errors import InputError

    data, runs = Path(args.data), Path(args.runs)
    try:  # every split before any work: a missing hrtf_test used to fail after the whole scene_test pass
        split_clips = {split: ev.discover_dataset(data, split)[: args.max_clips] for split in args.splits}
    except InputError as exc:
        sys.exit(f"learned_table.py: error: {exc}")
    results, rows_all = {}, []
    t0 = time.time()
    for split in args.splits:
        clips = split_clips[split]
        for inp in args.inputs:
            methods = [("Mono-Mono", "mono"), ("DSP, oracle tracks", "dsp"), ("DSP, detected tracks", "dsp-detected")]
            for label, run, flipped in (("Audio-Only", "audio_only", False), ("Mono2Binaural", "mono2binaural", False),
                                        ("Flipped-Visual", "mono2binaural", True), ("Geometry-aware", "geometry", False),
                                        ("Geometry-aware, flipped visual", "geometry", True)):
                ck = runs / f"{run}_{inp}" / "best.safetensors"
                if ck.exists():
                    methods.append((label, f"{label}={ck}" + ("@flipped" if flipped else "")))
                else:
                    print(f"missing {ck}: {label} skipped", file=sys.stderr)
            key = f"{split}/{inp}"
            rows = []
            with tqdm(total=len(clips) * len(methods), desc=key) as bar:
                for label, spec in methods:
                    r = ev.evaluate_model(spec, clips, data=data, input=inp, hop_s=args.hop, progress=bar.update)
                    for x in r:
                        x["method"] = label
                    rows += r
            results[key] = ev.summarize(rows)
            rows_all += [{"split": split, "input": inp, **r} for r in rows]
    cmd = "python benchmarks/learned_table.py " + shlex.join(sys.argv[1:])
    lines = ["# Learned models on the synthetic test splits (issue 6)", "",
             f"Regenerate with `{cmd}` (took {(time.time() - t0) / 60:.0f} min on this 2-core machine). Mean +- "
             "standard error over the first clips of each split; STFT and ENV as in the 2.5D Visual Sound code "
             "(16 kHz, peak-normalised, summed over channels); azimuth error from the output's ITD against the "
             "oracle direction; L/C/R: left/centre/right agreement. Each learned model was trained with the input "
             "of its table (docs/models.md).", ""]
    for key, summ in results.items():
        split, inp = key.split("/")
        lines += [f"## {split}, input: {'real-mono microphone track' if inp == 'real' else '(L+R)/2 of the ground truth'}",
                  "", *ev.summary_table_lines(summ, COLS, blank="n/a"), ""]
    _write(args.out, "\n".join(lines))
    _write(args.json, json.dumps({"command": cmd, "summary": results, "per_clip": rows_all}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
