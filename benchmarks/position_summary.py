"""One compact table from position_table.py JSONs: STFT distance per subset and method, with the position model's
change against Mono2Binaural and against the DSP renderer (oracle tracks), and ENV of both.

    python benchmarks/position_summary.py benchmarks/results/position_table_near_*.json [--out FILE.md]

Tables given later replace earlier ones' methods subset by subset (they must score the same clips).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COLS = ["Mono-Mono", "Mono2Binaural", "Geometry-aware", "DSP, oracle tracks", "Position, oracle tracks",
        "DSP, detected tracks", "Position, detected tracks", "Flow matching, 1 step, oracle tracks",
        "Class NMF, oracle tracks", "Class NMF, classes from the frames", "Class NMF, detected tracks",
        "DSP, object tracks", "Class NMF, object tracks",
        "Position pipeline, oracle masks (dry-stem IRM)", "Position pipeline, oracle masks (wet-stem IRM)"]
SHORT = {"DSP, oracle tracks": "DSP oracle", "Position, oracle tracks": "Position oracle",
         "DSP, detected tracks": "DSP detected", "Position, detected tracks": "Position detected",
         "Flow matching, 1 step, oracle tracks": "Flow 1 step", "Geometry-aware": "geometry",
         "Position pipeline, oracle masks (dry-stem IRM)": "oracle masks",
         "Position pipeline, oracle masks (wet-stem IRM)": "oracle wet masks",
         "Class NMF, oracle tracks": "Class NMF oracle", "Class NMF, classes from the frames": "Class NMF, classes seen",
         "Class NMF, detected tracks": "Class NMF detected", "DSP, object tracks": "DSP objects",
         "Class NMF, object tracks": "Class NMF objects"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--subject", default="Position, oracle tracks",
                    help="the method whose change against Mono2Binaural and the DSP renderer is given")
    ap.add_argument("--dsp", nargs="+", default=["DSP, oracle tracks"],
                    help="the DSP rows the subject is compared with (one column each)")
    a = ap.parse_args(argv)
    summary = {}
    for t in a.tables:  # later tables replace earlier ones method by method (same clips: e.g. a new position run
        for key, methods in json.loads(t.read_text())["summary"].items():  # scored with --no-issue6 on top of
            summary.setdefault(key, {}).update(methods)                   # the full table)
    cols = [c for c in COLS if any(c in s for s in summary.values())]
    lines = ["| subset | input | " + " | ".join(SHORT.get(c, c) for c in cols)
             + f" | {SHORT.get(a.subject, a.subject)} vs Mono2Binaural | "
             + " | ".join(f"vs {SHORT.get(d, d)}" for d in a.dsp) + f" | ENV {SHORT.get(a.subject, a.subject)}"
             " / Mono2Binaural |",
             "|---|---|" + "---|" * (len(cols) + 2 + len(a.dsp))]
    for key in sorted(summary, key=lambda k: (k.split("/")[1], k.split("/")[0], k.split("/")[2])):
        split, inp, n = key.split("/")
        s = summary[key]

        def v(m, metric="gao2019/stft"):
            return s.get(m, {}).get(metric, {}).get("mean")

        cells = [f"{v(c):.3f}" if v(c) is not None else "" for c in cols]
        pos, m2b = v(a.subject), v("Mono2Binaural")
        rel = [f"{pos / ref - 1:+.1%}" if pos is not None and ref else "" for ref in (m2b, *(v(d) for d in a.dsp))]
        env = (f"{v(a.subject, 'gao2019/env'):.4f} / {v('Mono2Binaural', 'gao2019/env'):.4f}"
               if pos is not None and m2b is not None else "")
        lines.append(f"| {split}, {n} source{'s' if n != '1' else ''} | {'real mono' if inp == 'real' else '(L+R)/2'} | "
                     + " | ".join(cells) + " | " + " | ".join(rel) + f" | {env} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
