"""The flow model with its loss on the decompressed difference (configs/flow_linear.toml) against the plain one
(configs/flow.toml), both trained on the same set, from two position_ab.py runs' per-clip rows: the papers' STFT
distance, its L-R part, the distance at the best level (each output scaled by the gain that minimises it: what
is left when the peak normalisation's level of L+R is taken out), ENV and the placement measures, per subset, with
paired differences.

    .venv/bin/python benchmarks/flow_loss_compare.py benchmarks/results/flow_linear_ab_near_real.json \\
        benchmarks/results/flow_compressed_ab_near_real.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np

COLS = [("gao2019/stft", "STFT", ".3f"), ("gao2019/stft_diff", "L-R part", ".3f"),
        ("gao2019/stft_best_level", "STFT at best level", ".3f"), ("gao2019/env", "ENV", ".3f"),
        ("itd_err_us", "ITD err us", ".0f"), ("ild_side_agreement", "ILD side agr", ".2f"),
        ("width_band_db", "width per band dB", ".1f")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsons", nargs="+")
    ap.add_argument("--pairs", nargs="*", default=[
        "flow, linear loss, 1 step|flow, compressed loss, 1 step",
        "flow, linear loss, 1 step|DSP, oracle tracks",
        "flow, compressed loss, 1 step|DSP, oracle tracks"])
    a = ap.parse_args(argv)
    rows: dict = {}
    for f in a.jsons:
        for r in json.load(open(f))["per_clip"]:
            rows.setdefault((r["split"], int(r["sources"])), {}).setdefault(r["method"], {})[r["clip"]] = r
    print("| subset | method | clips | " + " | ".join(n for _, n, _ in COLS) + " |")
    print("|---|---|---|" + "---|" * len(COLS))
    for key in sorted(rows):
        for m, clips in rows[key].items():
            vals = [np.nanmean([float(c.get(k, np.nan)) for c in clips.values()]) for k, _, _ in COLS]
            print(f"| {key[0]}, {key[1]} | {m} | {len(clips)} | "
                  + " | ".join(format(v, f) for v, (_, _, f) in zip(vals, COLS)) + " |")
    print("\nPaired differences (A - B, mean +- standard error; share of clips where A is lower):\n")
    print("| subset | A vs B | STFT | STFT at best level | L-R part |\n|---|---|---|---|---|")
    for key in sorted(rows):
        for p in a.pairs:
            x, y = p.split("|")
            if x not in rows[key] or y not in rows[key]:
                continue
            common = sorted(set(rows[key][x]) & set(rows[key][y]))
            cells = []
            for k in ("gao2019/stft", "gao2019/stft_best_level", "gao2019/stft_diff"):
                d = np.array([rows[key][x][c][k] - rows[key][y][c][k] for c in common])
                cells.append(f"{d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f} ({np.mean(d < 0):.0%})")
            print(f"| {key[0]}, {key[1]} | {x} vs {y} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
