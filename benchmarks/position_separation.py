"""Separation by position-model checkpoints on the first N multi-source clips of each test subset: mean SI-SDR
improvement of each separated source over the unseparated mono, against its dry stem (oracle tracks).

    .venv/bin/python benchmarks/position_separation.py --data data/synth_near --clips 15 \\
        shipped=binauralize/models/weights/position.safetensors new=runs/position_real/best.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from position_table import separation_rows, sounding  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--splits", nargs="+", default=["scene_test", "hrtf_test"])
    ap.add_argument("--clips", type=int, default=15, help="per split and source count")
    ap.add_argument("checkpoints", nargs="+", help="NAME=PATH of position-model checkpoints")
    a = ap.parse_args(argv)
    from binauralize import evaluate as ev

    data = Path(a.data)
    cks = [c.split("=", 1) for c in a.checkpoints]
    print("| subset | clips | " + " | ".join(n for n, _ in cks) + " |")
    print("|---|---|" + "---|" * len(cks))
    for split in a.splits:
        for n in (2, 3):
            clips = [c for c in ev.discover_dataset(data, split) if sounding(data, c.name) == n][: a.clips]
            vals = [np.nanmean([r["si_sdri_db"] for r in separation_rows(Path(ck), clips, data, a.input, lambda: None)])
                    for _, ck in cks]
            print(f"| {split}, {n} sources | {len(clips)} | " + " | ".join(f"{v:+.2f} dB" for v in vals) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
