"""Issue 7's results table: the position-conditioned model beside Mono-Mono, the DSP renderer and the issue-6 models,
by number of sounding sources, with oracle and detected tracks, one command.

    .venv/bin/python benchmarks/position_table.py --data data/synth --runs runs --per-count 12 --overwrite

(--overwrite: replace the existing docs/results_position.md and benchmarks/results/position_table.json, the
defaults of --out and --json; without it an existing file is refused before any work.)

For each test split (scene_test: rooms and backgrounds unseen; hrtf_test: a held-out head) and each input
(real: the generator's real single-microphone track; mix: (L+R)/2), the first ``--per-count`` clips with 1, 2 and
3 sounding sources are scored: Mono-Mono, DSP (oracle tracks from meta/), DSP (tracks the tool detects in the
video), Position (``RUNS/position_<input>/best.safetensors``) with oracle and detected tracks, Mono2Binaural and the
geometry-aware model (``RUNS/<model>_<input>/best.safetensors``, issue 6), and the flow-matching variant
(``RUNS/flow_<input>/best.safetensors``) at ``--flow-steps`` sampling steps. Separation: SI-SDR improvement of each
separated part over the mono itself, against the source's dry stem (delay-aligned), for the position model with
oracle tracks. Writes docs/results_position.md and benchmarks/results/position_table.json (per-clip rows included).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

COLS = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/env", "ENV", "{:.4f}"), ("ild_err_db", "ILD err dB", "{:.2f}"),
        ("azimuth_err_deg", "az err deg", "{:.1f}"), ("si_sdri_db", "SI-SDRi dB", "{:+.1f}")]


def sounding(data: Path, cid: str) -> int:
    meta = json.loads((data / "meta" / f"{cid}.json").read_text())
    return sum(1 for s in meta["sources"] if s.get("sounding"))


class OracleMasks:
    """Stands in for the mask network: the ideal ratio masks of the dry stems (what perfect separation by a mask
    could give), as ``[1, K + 1, F, N]``; the residual gets what no stem explains."""

    def __init__(self, stems16: list, n_freq: int = 4):
        from scipy.signal import stft as sp_stft

        from binauralize.models.position import HOP, N_FFT, SR, WIN

        self.n_freq, self.extra_dim, self.use_visual, self.init_args = n_freq, 0, False, {}
        self.receptive_frames = 10 ** 6  # the masks cover the whole clip: every piece sees all of it
        p = np.stack([np.abs(sp_stft(s, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)[2]) ** 2
                      for s in stems16])
        tot = p.sum(0, keepdims=True)
        irm = np.where(tot > 1e-12, p / np.maximum(tot, 1e-12), 0.0)
        self.m = np.concatenate([irm, 1 - irm.sum(0, keepdims=True)])

    def eval(self):
        return self

    def __call__(self, logmag, tokens, presence):
        import torch

        n = min(self.m.shape[-1], logmag.shape[-1])
        m = np.zeros((self.m.shape[0], self.m.shape[1], logmag.shape[-1]), np.float32)
        m[:, :, :n] = self.m[:, :, :n]
        m[-1, :, n:] = 1.0
        return torch.from_numpy(m)[None]


def oracle_rows(clips, data: Path, inp: str, progress, kind: str = "dry") -> list[dict]:
    """The position pipeline with oracle masks (ideal ratio masks of the dry stems, or with ``kind="wet"`` of each
    source through its own room, :func:`binauralize.train.sources.wet_stems`) and oracle tracks: what the network
    is trained to reproduce (not a strict upper bound: the mono is reverberant and, for real mono, coloured)."""
    import soxr

    from binauralize import evaluate as ev
    from binauralize.api import Binauralizer
    from binauralize.dsp.reverb import band_envelopes, estimate_t60
    from binauralize.models.position import SR, PositionSpatializer
    from binauralize.tracks import block_directions

    dsp = Binauralizer()
    rows = []
    for c in clips:
        gt, sr = ev.load_audio(c.gt)
        mono = ev.load_audio(c.mono)[0].mean(axis=0) if (inp == "real" and c.mono) else gt.mean(axis=0)
        meta = json.loads((data / "meta" / f"{c.name}.json").read_text())
        if kind == "wet":
            from binauralize.train.sources import wet_stems

            stems16 = wet_stems(data, c.name)
        else:
            stems = [ev.load_audio(data / s["stem"]) for s in meta["sources"] if s.get("sounding") and s.get("stem")]
            stems16 = [soxr.resample(x.mean(axis=0), r, SR) if r != SR else x.mean(axis=0) for x, r in stems]
        n = max(len(s) for s in stems16)
        stems16 = [np.pad(s, (0, n - len(s))) for s in stems16]
        sp = PositionSpatializer(OracleMasks(stems16), dsp.renderer)
        t60 = estimate_t60(band_envelopes(mono, sr))
        pred = sp.render(mono, sr, c.tracks or [], t60=t60)
        t = np.arange(0, gt.shape[-1] / sr, 0.1) + 0.05
        a, _, _, w = block_directions(c.tracks, t)
        rows.append({"method": f"Position pipeline, oracle masks ({kind}-stem IRM)", "clip": c.name,
                     **ev.score_pair(pred, gt, sr, mono=mono, azimuth=(a * w).sum(axis=0))})
        progress()
    return rows


def separation_rows(ck: Path, clips, data: Path, inp: str, progress, noname: bool = False) -> list[dict]:
    """Per clip: mean over sources of SI-SDR(part, stem) - SI-SDR(mono, stem), a track-driven separating model
    (position, class-nmf) with oracle tracks (``noname``: without their names)."""
    from binauralize import evaluate as ev
    from binauralize.metrics.separation import align_reference, si_sdr
    from binauralize.models.spatializer import open_spatializer

    sp = open_spatializer(ck)
    rows = []
    for c in clips:
        gt, sr = ev.load_audio(c.gt)
        mono = ev.load_audio(c.mono)[0].mean(axis=0) if (inp == "real" and c.mono) else gt.mean(axis=0)
        meta = json.loads((data / "meta" / f"{c.name}.json").read_text())
        stems = [ev.load_audio(data / s["stem"])[0].mean(axis=0) for s in meta["sources"] if s.get("sounding") and s.get("stem")]
        feats = ev._clip_features(sp, data, c, False) if sp.uses_visual else None
        tracks = ev.unnamed_tracks(c.tracks or []) if noname else (c.tracks or [])
        parts = sp.separate(mono, sr, tracks, feats)
        gains = []
        for k, stem in enumerate(stems[: len(parts) - 1]):
            ref = align_reference(stem, mono, int(0.05 * sr))
            if np.std(ref) > 0:
                gains.append(si_sdr(parts[k], ref) - si_sdr(mono, ref))
        rows.append({"clip": c.name, "si_sdri_db": float(np.mean(gains)) if gains else float("nan")})
        progress()
    return rows


def _write(path, text: str) -> None:
    """Write ``text`` whole or not at all (:func:`binauralize.evaluate.write_text_atomic`), folders made."""
    from binauralize.evaluate import write_text_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(path), text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", default="runs", help="folder of position_<input>/ (and issue 6's <model>_<input>/)")
    ap.add_argument("--issue6-runs", default=None, help="folder of the issue-6 runs (default: --runs)")
    ap.add_argument("--splits", nargs="+", default=["scene_test", "hrtf_test"])
    ap.add_argument("--inputs", nargs="+", default=["real", "mix"])
    ap.add_argument("--per-count", type=int, default=12, help="clips per source count (1, 2, 3) and split")
    ap.add_argument("--hop", type=float, default=0.2, help="sliding-window hop of the issue-6 models (s)")
    ap.add_argument("--no-issue6", action="store_true", help="skip Mono2Binaural / geometry-aware (slow)")
    ap.add_argument("--oracle-masks", nargs="*", choices=["dry", "wet"], default=["dry"],
                    help="oracle-mask rows on multi-source clips: ideal ratio masks of the dry stems and/or of each "
                         "source through its own room")
    ap.add_argument("--flow-steps", type=int, nargs="*", default=[1, 4],
                    help="sampling steps at which to score the flow model RUNS/flow_<input>/best.safetensors")
    ap.add_argument("--extra", nargs="*", default=[], metavar="LABEL=SPEC",
                    help="more rows: any `binauralize evaluate --model` spec, e.g. \"Class NMF, oracle tracks="
                         "runs/class_nmf/best.safetensors\" (track-driven separators also get SI-SDRi, with oracle "
                         "tracks)")
    ap.add_argument("--no-position", action="store_true", help="skip the position-model rows (RUNS need not hold it)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results_position.md"))
    ap.add_argument("--json", default=str(HERE / "results" / "position_table.json"))
    ap.add_argument("--overwrite", action="store_true", help="replace existing --out/--json files (the "
                    "tracked docs page and results by default)")
    args = ap.parse_args()
    for flag, f in (("--out", args.out), ("--json", args.json)):
        if f and Path(f).exists() and not args.overwrite:
            sys.exit(f"position_table.py: error: {flag} {f} exists (pass --overwrite to replace it, or give another {flag})")

    from tqdm import tqdm

    from binauralize import evaluate as ev

    data, runs = Path(args.data), Path(args.runs)
    runs6 = Path(args.issue6_runs) if args.issue6_runs else runs
    from binauralize.errors import InputError

    try:  # every split before any work
        split_clips = {split: ev.discover_dataset(data, split) for split in args.splits}
    except InputError as exc:
        sys.exit(f"position_table.py: error: {exc}")
    results, rows_all = {}, []
    t0 = time.time()
    for split in args.splits:
        allc = split_clips[split]
        by_count = {n: [c for c in allc if sounding(data, c.name) == n][: args.per_count] for n in (1, 2, 3)}
        for inp in args.inputs:
            pos = runs / f"position_{inp}" / "best.safetensors"
            if not pos.exists() and not args.no_position:
                print(f"missing {pos}: input {inp} skipped", file=sys.stderr)
                continue
            methods = [("Mono-Mono", "mono"), ("DSP, oracle tracks", "dsp"), ("DSP, detected tracks", "dsp-detected")]
            if not args.no_position:
                methods += [("Position, oracle tracks", f"Position={pos}"),
                            ("Position, detected tracks", f"Position={pos}@detected")]
            seps = [("Position, oracle tracks", pos, False)] if not args.no_position else []
            for token in args.extra:
                spec = ev.LearnedSpec.parse(token)
                methods.append((token.rpartition("=")[0] or spec.label, token.rpartition("=")[2]))
                if not spec.detected and spec.checkpoint.endswith(".safetensors"):
                    seps.append((methods[-1][0], Path(spec.checkpoint), spec.noname))
            fck = runs / f"flow_{inp}" / "best.safetensors"
            if fck.exists():
                methods += [(f"Flow matching, {k} step{'s' if k > 1 else ''}, oracle tracks", f"Flow={fck}@steps{k}")
                            for k in args.flow_steps]
            if not args.no_issue6:
                for label, run in (("Mono2Binaural", "mono2binaural"), ("Geometry-aware", "geometry")):
                    ck = runs6 / f"{run}_{inp}" / "best.safetensors"
                    if ck.exists():
                        methods.append((label, f"{label}={ck}"))
            for n, clips in by_count.items():
                key = f"{split}/{inp}/{n}"
                rows = []
                n_oracle = len(args.oracle_masks) if n > 1 else 0
                with tqdm(total=len(clips) * (len(methods) + len(seps) + n_oracle), desc=key) as bar:
                    for label, spec in methods:
                        r = ev.evaluate_model(spec, clips, data=data, input=inp, hop_s=args.hop, progress=bar.update)
                        for x in r:
                            x["method"] = label
                        rows += r
                    for kind in args.oracle_masks if n > 1 else ():
                        rows += oracle_rows(clips, data, inp, bar.update, kind)
                    sep = {(lab, r["clip"]): r["si_sdri_db"] for lab, ck, nn in seps
                           for r in separation_rows(ck, clips, data, inp, bar.update, noname=nn)}
                    for r in rows:  # every row gets the key (summaries take their keys from the first row)
                        r["si_sdri_db"] = sep.get((r["method"], r["clip"]), float("nan"))
                results[key] = ev.summarize(rows)
                rows_all += [{"split": split, "input": inp, "sources": n, **r} for r in rows]
                print(key, {m: round(s["gao2019/stft"]["mean"], 3) for m, s in results[key].items()}, flush=True)
    import shlex

    cmd = "python benchmarks/position_table.py " + shlex.join(sys.argv[1:])
    lines = ["# Position-conditioned model on the synthetic test splits (issue 7)", "",
             f"Regenerate with `{cmd}` (took {(time.time() - t0) / 60:.0f} min on this 2-core machine). Mean +- "
             "standard error over the first clips with 1, 2 and 3 sounding sources of each split; STFT and ENV as in "
             "the 2.5D Visual Sound code (16 kHz, peak-normalised, summed over channels); azimuth error from the "
             "output's ITD against the oracle direction (energy-weighted over sources); SI-SDRi: SI-SDR of each "
             "separated part minus that of the unseparated mono, against the source's dry stem (delay-aligned), "
             "position model with oracle tracks. Every learned model was trained with the input of its table "
             "(docs/models.md). Lower is better except SI-SDRi.", ""]
    for key, summ in results.items():
        split, inp, n = key.split("/")
        lines += [f"## {split}, {n} source{'s' if n != '1' else ''}, input: "
                  f"{'real-mono microphone track' if inp == 'real' else '(L+R)/2 of the ground truth'}",
                  "", *ev.summary_table_lines(summ, COLS), ""]
    _write(args.out, "\n".join(lines))
    _write(args.json, json.dumps({"command": cmd, "summary": results, "per_clip": rows_all}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
