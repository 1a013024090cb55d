"""Paired per-clip comparisons from learned_table.py / position_table.py JSONs: is A better than B on the same clips?

    python benchmarks/paired_compare.py benchmarks/results/learned_table_near_scene.json [...] [--out FILE.md]

For each (split, input) and each pair of the papers' claims (visual beats Audio-Only and Flipped-Visual; the
geometry-aware model beats Mono2Binaural), prints the mean of A - B over clips with its standard error and the
share of clips where A is lower (better), for STFT, ENV and the ILD error (all lower = better).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

PAIRS = [("Mono2Binaural", "Audio-Only"), ("Mono2Binaural", "Flipped-Visual"), ("Geometry-aware", "Audio-Only"),
         ("Geometry-aware", "Geometry-aware, flipped visual"), ("Geometry-aware", "Mono2Binaural"),
         ("Geometry-aware", "DSP, oracle tracks"),
         # issue 7 (position_table.py JSONs, grouped by number of sounding sources)
         ("Position, oracle tracks", "DSP, oracle tracks"), ("Position, oracle tracks", "Mono2Binaural"),
         ("Position, oracle tracks", "Geometry-aware"), ("Position, detected tracks", "DSP, detected tracks"),
         ("Flow matching, 1 step, oracle tracks", "DSP, oracle tracks"),
         ("Class NMF, oracle tracks", "DSP, oracle tracks"), ("Class NMF, oracle tracks", "Mono2Binaural"),
         ("Class NMF, oracle tracks", "Position, oracle tracks"),
         ("Class NMF, classes from the frames", "DSP, oracle tracks"),
         ("Class NMF, classes from the frames", "Mono2Binaural")]
METRICS = [("gao2019/stft", "STFT", 3), ("gao2019/env", "ENV", 4), ("ild_err_db", "ILD err dB", 2),
           ("ild_err_db/200-500", "ILD err <500 Hz", 2), ("ild_err_db/4000-8000", "ILD err 4-8 kHz", 2)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    rows = [r for t in a.tables for r in json.loads(t.read_text())["per_clip"]]
    by = defaultdict(dict)
    for r in rows:
        by[(r["split"], r["input"], r.get("sources"))].setdefault(r["method"], {})[r["clip"]] = r
    lines = [f"Paired per-clip differences A - B (mean +- standard error; share of clips where A is lower = better). "
             f"`python benchmarks/paired_compare.py {' '.join(str(t) for t in a.tables)}`", ""]
    for (split, inp, nsrc), methods in by.items():
        count = f", {nsrc} source{'s' if nsrc != 1 else ''}" if nsrc is not None else ""
        lines += [f"**{split}{count}, {'real-mono' if inp == 'real' else '(L+R)/2'} input**", "",
                  "| A vs B | " + " | ".join(m[1] for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for x, y in PAIRS:
            if x not in methods or y not in methods:
                continue
            cells = []
            for key, _, nd in METRICS:
                d = [methods[x][c][key] - methods[y][c][key] for c in methods[x]
                     if c in methods[y] and methods[x][c].get(key) is not None and methods[y][c].get(key) is not None
                     and not (math.isnan(methods[x][c][key]) or math.isnan(methods[y][c][key]))]
                if not d:
                    cells.append("n/a")
                    continue
                m = sum(d) / len(d)
                se = (sum((v - m) ** 2 for v in d) / max(len(d) - 1, 1) / len(d)) ** 0.5
                win = sum(v < 0 for v in d) / len(d)
                cells.append(f"{m:+.{nd}f} +- {se:.{nd}f} ({win:.0%})")
            lines.append(f"| {x} vs {y} | " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
