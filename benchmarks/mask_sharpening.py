"""Two post-processings of a position model's masks, scored on the validation clips of the scene split (not the
test clips) against the first variant given:

- ``pP``: sharper masks: each source's mask m -> m^P / (sum over sources and residual of m^P);
- ``xN``: the model applied N times, each pass taking the previous pass's masks as its prior (position-nmf only);
- ``eCKPT``: an ensemble: the geometric mean of this model's masks and those of the model in CKPT (renormalised).

    .venv/bin/python benchmarks/mask_sharpening.py INPUT SOURCES CHECKPOINT VARIANT...
    .venv/bin/python benchmarks/mask_sharpening.py mix 3 runs_pn/position_nmf_mix/best.safetensors p1 p2 x2

INPUT: real or mix ((L+R)/2); SOURCES: number of sounding sources. Prints, per variant, the papers' STFT distance,
the distance at each output's best level, the L-R part and ENV, with the paired difference to the first variant
(mean +- standard error over clips). Run from the folder holding data/synth_near.
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
    if len(argv) < 4 or any(v[:1] not in "pxe" for v in argv[3:]):
        print(__doc__, file=sys.stderr)
        return 2
    inp, n, ck, variants = argv[0], int(argv[1]), argv[2], argv[3:]
    data = Path("data/synth_near")
    original = P.PositionSpatializer.masks
    state = {"power": 1.0, "passes": 1, "other": None}

    def post_processed(self, mono16, tracks, feature_at=None, chunk_frames=3000):
        m, tt = original(self, mono16, tracks, feature_at, chunk_frames)
        if tracks and state["passes"] > 1:
            from binauralize.models.class_nmf import class_onehot

            for _ in range(state["passes"] - 1):
                def again(mag, tt_, tr_, fa=None, prev=m):
                    classes, _ = self.classes_and_presence(tr_, tt_, fa)
                    return prev, class_onehot(classes, self.nmf.classes)

                self.prior_masks = again
                try:
                    m, _ = original(self, mono16, tracks, feature_at, chunk_frames)
                finally:
                    del self.prior_masks
        if state["other"] is not None and tracks:
            other = state["other"]
            other.fov_deg = self.fov_deg
            m2, _ = original(other, mono16, tracks, feature_at, chunk_frames)
            m = np.sqrt(np.maximum(m, 1e-12) * np.maximum(m2, 1e-12))
            m /= m.sum(0, keepdims=True)
        if state["power"] != 1.0:
            m = np.maximum(m, 1e-12) ** state["power"]
            m /= m.sum(0, keepdims=True)
        return m, tt

    P.PositionSpatializer.masks = post_processed
    clips = [c for c in ev.discover_dataset(data, "scene_val") if sounding(data, c.name) == n]
    print(len(clips), "clips", flush=True)
    res = {}
    for v in variants:
        state.update(power=float(v[1:]) if v[0] == "p" else 1.0, passes=int(v[1:]) if v[0] == "x" else 1,
                     other=None)
        if v[0] == "e":
            from binauralize.models.spatializer import open_spatializer

            state["other"] = open_spatializer(v[1:])
        t = time.time()
        res[v] = {x["clip"]: x for x in ev.evaluate_model(f"Position={ck}", clips, data=data, input=inp)}
        base = res[variants[0]]
        line = f"{v}:"
        for key in KEYS:
            d = np.array([res[v][c][key] - base[c][key] for c in base])
            line += (f"  {key.split('/')[1]} {np.mean([x[key] for x in res[v].values()]):.4f} "
                     f"({d.mean():+.4f} +- {d.std(ddof=1) / np.sqrt(len(d)):.4f})")
        print(line + f" ({time.time() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
