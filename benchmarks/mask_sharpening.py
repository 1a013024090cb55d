"""Sharper masks for a position model: each source's mask m -> m^p / sum over sources (and residual) of m^p, scored on
the validation clips of the scene split (not the test clips) against p = the first value given.

    .venv/bin/python benchmarks/mask_sharpening.py INPUT SOURCES CHECKPOINT P1,P2,...
    .venv/bin/python benchmarks/mask_sharpening.py mix 3 runs_pn/position_nmf_mix/best.safetensors 1,2

INPUT: real or mix ((L+R)/2); SOURCES: number of sounding sources. Prints, per p, the papers' STFT distance, the
distance at each output's best level, the L-R part and ENV, with the paired difference to the first p (mean +-
standard error over clips). Run from the folder holding data/synth_near.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from position_table import sounding  # noqa: E402

from binauralize import evaluate as ev  # noqa: E402
from binauralize.models import position as P  # noqa: E402

KEYS = ("gao2019/stft", "gao2019/stft_best_level", "gao2019/stft_diff", "gao2019/env")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    inp, n, ck, ps = argv[0], int(argv[1]), argv[2], [float(x) for x in argv[3].split(",")]
    data = Path("data/synth_near")
    original = P.PositionSpatializer.masks
    power = {"p": 1.0}

    def sharpened(self, *a, **k):
        m, tt = original(self, *a, **k)
        if power["p"] != 1.0:
            m = np.maximum(m, 1e-12) ** power["p"]
            m /= m.sum(0, keepdims=True)
        return m, tt

    P.PositionSpatializer.masks = sharpened
    clips = [c for c in ev.discover_dataset(data, "scene_val") if sounding(data, c.name) == n]
    print(len(clips), "clips", flush=True)
    res = {}
    for p in ps:
        power["p"] = p
        t = time.time()
        res[p] = {x["clip"]: x for x in ev.evaluate_model(f"Position={ck}", clips, data=data, input=inp)}
        base = res[ps[0]]
        line = f"p={p}:"
        for key in KEYS:
            d = np.array([res[p][c][key] - base[c][key] for c in base])
            line += (f"  {key.split('/')[1]} {np.mean([x[key] for x in res[p].values()]):.4f} "
                     f"({d.mean():+.4f} +- {d.std(ddof=1) / np.sqrt(len(d)):.4f})")
        print(line + f" ({time.time() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
