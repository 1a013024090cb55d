"""The ceiling of a mask model (option (a) of issue 7) on EVERY multi-source test clip: perfect masks (dry-stem
ideal ratio masks, rendered like every mask model) against Mono2Binaural, beside the DSP renderer and class-nmf.

    .venv/bin/python benchmarks/mask_ceiling_all.py benchmarks/results/error_split_all_*.json \\
        --ab benchmarks/results/m2b_ab_near_real.json benchmarks/results/m2b_ab_near_mix.json

Reads the per-clip rows of ``benchmarks/error_split.py --per-count 1000`` runs (Mono2Binaural, DSP, oracle masks)
and of ``benchmarks/position_ab.py`` runs (class-nmf with oracle tracks, the same clips); prints one markdown row
per subset: mean STFT distance and each method's difference to Mono2Binaural in percent (the issue's target: -15%).
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("error_split", nargs="+", help="error_split.py JSONs run on all clips")
    ap.add_argument("--ab", nargs="*", default=[], help="position_ab.py JSONs with a class-nmf row")
    ap.add_argument("--subject", default="class-nmf, oracle tracks")
    a = ap.parse_args()
    rows = [r for f in a.error_split for r in json.load(open(f))["per_clip"]]
    ab = {}
    for f in a.ab:
        for r in json.load(open(f))["per_clip"]:
            ab[(r["split"], r["input"], r["sources"], r["method"], r["clip"])] = r["gao2019/stft"]
    print("| subset | input | clips | Mono2Binaural | DSP | class-nmf | oracle masks | DSP vs M2B | class-nmf vs M2B "
          "| oracle masks vs M2B |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    keys = dict.fromkeys((r["split"], r["input"], r["sources"]) for r in rows)
    for split, inp, n in sorted(keys, key=lambda k: (k[1] != "real", k[0], k[2])):
        sub = [r for r in rows if (r["split"], r["input"], r["sources"]) == (split, inp, n)]
        clips = sorted({r["clip"] for r in sub})

        def mean(method):
            v = [r["gao2019/stft"] for r in sub if r["method"] == method]
            return float(np.mean(v)) if len(v) == len(clips) else float("nan")

        m2b, dsp, orc = mean("Mono2Binaural"), mean("DSP renderer"), mean("Position pipeline, oracle masks")
        cn = [ab.get((split, inp, n, a.subject, c)) for c in clips]
        cnm = float(np.mean(cn)) if cn and all(v is not None for v in cn) else float("nan")
        pct = lambda v: f"{100 * (v / m2b - 1):+.1f}%"  # noqa: E731
        print(f"| {split}, {n} sources | {'real mono' if inp == 'real' else '(L+R)/2'} | {len(clips)} | {m2b:.3f} | "
              f"{dsp:.3f} | {cnm:.3f} | {orc:.3f} | {pct(dsp)} | {pct(cnm)} | **{pct(orc)}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
