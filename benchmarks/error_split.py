"""Where the STFT distance comes from: each method's distance split exactly into the part of the sum channel L+R and
the part of the difference L-R (``binauralize.metrics.signal.stft_distance_split``), on the multi-source clips of the
synthetic test splits, oracle tracks. Issue 7's target is measured against Mono2Binaural, which keeps the mono as L+R
and predicts only L-R: this shows how much of the distance any such method can move.

    .venv/bin/python benchmarks/error_split.py --data data/synth_near --runs runs_near --per-count 12 \\
        --json benchmarks/results/error_split_near.json

Per split, source count and input: mean STFT distance, its L+R and L-R parts, and the L-R part of a silent
difference (predicting L = R: Mono-Mono's L-R part, the ground truth's difference energy). A method whose L-R
part is above that one renders interaural differences that the complex L2 distance scores worse than none. Last
column pair: the distance with each output at its best level (``stft_distance_best_level``), which removes the
effect of the peak normalisation on poorly correlated outputs.

    .venv/bin/python benchmarks/error_split.py --summary benchmarks/results/error_split_near_*.json   # one row per subset
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from position_table import oracle_rows, sounding  # noqa: E402

SHIPPED = HERE.parent / "binauralize" / "models" / "weights" / "position.safetensors"


SUMMARY = ["Mono-Mono", "Mono2Binaural", "DSP renderer", "Position (shipped)", "Position pipeline, oracle masks"]


def summary_table(paths: list[str]) -> str:
    """One row per subset from saved ``--json`` files: STFT and STFT at the best level relative to Mono2Binaural,
    and the L-R part beside a silent difference's."""
    rows = [r for p in paths for r in json.loads(Path(p).read_text())["per_clip"]]
    short = {"Mono-Mono": "Mono", "Mono2Binaural": "M2B", "DSP renderer": "DSP", "Position (shipped)": "Position",
             "Position pipeline, oracle masks": "oracle masks"}
    out = ["| subset | input | clips | STFT vs Mono2Binaural: DSP / Position / oracle masks | at the best level: Mono / "
           "DSP / Position / oracle masks | L-R part: silent / M2B / DSP / Position / oracle masks |",
           "|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["input"], r["split"], r["sources"]) for r in rows))
    for inp, split, n in sorted(keys, key=lambda k: (k[0] != "real", k[1], k[2])):
        sub = [r for r in rows if (r["input"], r["split"], r["sources"]) == (inp, split, n)]

        def mean(m, k):
            v = [r[k] for r in sub if r["method"] == m]
            return float(np.mean(v)) if v else float("nan")

        def rel(m, k):
            return f"{100 * (mean(m, k) / mean('Mono2Binaural', k) - 1):+.0f}%"

        oracle = any(r["method"] == SUMMARY[-1] for r in sub)
        st = " / ".join(rel(m, "gao2019/stft") for m in SUMMARY[2:] if oracle or m != SUMMARY[-1])
        bl = " / ".join(rel(m, "gao2019/stft_best_level") for m in [SUMMARY[0]] + SUMMARY[2:] if oracle or m != SUMMARY[-1])
        lr = " / ".join(f"{mean(m, 'gao2019/stft_diff'):.3f}" for m in SUMMARY if oracle or m != SUMMARY[-1])
        clips = len({r["clip"] for r in sub})
        out.append(f"| {split}, {n} source{'s' if n > 1 else ''} | {'real mono' if inp == 'real' else '(L+R)/2'} | "
                   f"{clips} | {st} | {bl} | {lr} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", nargs="+", metavar="JSON", help="only print the one-row-per-subset table of saved runs")
    ap.add_argument("--data")
    ap.add_argument("--runs", help="folder with the issue-6 runs mono2binaural_{real,mix}/")
    ap.add_argument("--position", default=str(SHIPPED), help="position-model checkpoint (default: shipped)")
    ap.add_argument("--splits", nargs="+", default=["scene_test", "hrtf_test"])
    ap.add_argument("--inputs", nargs="+", default=["real", "mix"], choices=["real", "mix"])
    ap.add_argument("--counts", nargs="+", type=int, default=[2, 3], help="numbers of sounding sources")
    ap.add_argument("--per-count", type=int, default=12, help="clips per split and source count")
    ap.add_argument("--timbres", nargs="*", default=["none"],
                    help="extra position rows rendered with these RenderOptions timbres (besides the default 'mid')")
    ap.add_argument("--no-oracle-masks", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.summary:
        print(summary_table(a.summary))
        return 0
    if not (a.data and a.runs):
        ap.error("--data and --runs are required (or --summary)")
    from tqdm import tqdm

    from binauralize import evaluate as ev
    from binauralize.dsp.render import RenderOptions

    data, runs = Path(a.data), Path(a.runs)
    rows, lines = [], []
    t0 = time.time()
    for split in a.splits:
        allc = ev.discover_dataset(data, split)
        for inp in a.inputs:
            methods = [("Mono-Mono", "mono", None)]
            m2b = runs / f"mono2binaural_{inp}" / "best.safetensors"
            if m2b.exists():
                methods.append(("Mono2Binaural", f"Mono2Binaural={m2b}", None))
            methods += [("DSP renderer", "dsp", None), ("Position (shipped)", f"Position={a.position}", None)]
            methods += [(f"Position, timbre '{t}'", f"Position={a.position}", RenderOptions(timbre=t)) for t in a.timbres]
            for n in a.counts:
                clips = [c for c in allc if sounding(data, c.name) == n][: a.per_count]
                per = []
                masks = not a.no_oracle_masks and n > 1
                total = len(clips) * (len(methods) + masks)
                with tqdm(total=total, desc=f"{split}/{inp}/{n}") as bar:
                    for label, spec, opts in methods:
                        for r in ev.evaluate_model(spec, clips, data=data, input=inp, progress=bar.update, options=opts):
                            per.append({**r, "method": label})
                    if masks:
                        per += [{**r, "method": "Position pipeline, oracle masks"}
                                for r in oracle_rows(clips, data, inp, bar.update)]
                rows += [{"split": split, "input": inp, "sources": n, **r} for r in per]
                silent = np.mean([r["gao2019/stft_diff"] for r in per if r["method"] == "Mono-Mono"])
                ref = np.mean([r["gao2019/stft"] for r in per if r["method"] == "Mono2Binaural"]) if m2b.exists() else None
                ref_bl = np.mean([r["gao2019/stft_best_level"] for r in per if r["method"] == "Mono2Binaural"]) if ref else None
                lines += ["", f"**{split}, {n} sources, {'real-mono' if inp == 'real' else '(L+R)/2'} input** "
                          f"({len(clips)} clips; L-R part of a silent difference: {silent:.3f})", "",
                          "| method | STFT | L+R part | L-R part | vs Mono2Binaural | STFT at the best level | vs Mono2Binaural |",
                          "|---|---|---|---|---|---|---|"]
                for label in dict.fromkeys(r["method"] for r in per):
                    rs = [r for r in per if r["method"] == label]
                    st = np.mean([r["gao2019/stft"] for r in rs])
                    bl = np.mean([r["gao2019/stft_best_level"] for r in rs])
                    rel = f"{100 * (st / ref - 1):+.1f}%" if ref else ""
                    rel_bl = f"{100 * (bl / ref_bl - 1):+.1f}%" if ref else ""
                    lines.append(f"| {label} | {st:.3f} | {np.mean([r['gao2019/stft_sum'] for r in rs]):.3f} | "
                                 f"{np.mean([r['gao2019/stft_diff'] for r in rs]):.3f} | {rel} | {bl:.3f} | {rel_bl} |")
                print("\n".join(lines[-(len(methods) + 6):]), flush=True)
    cmd = "python benchmarks/error_split.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = f"`{cmd}` ({(time.time() - t0) / 60:.0f} min)\n" + "\n".join(lines)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "per_clip": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
