"""How much of the L-R difference can a mask on the mono predict at all? (Why Mono2Binaural gains little here.)

For each validation window it fits the best complex mask per frequency (constant over the 0.63-s window: what a
model that knows the source's direction perfectly could at most do for a static source) by least squares,
m_f = sum_t D M* / sum_t |M|^2, and reports the D-loss of that oracle mask relative to Mono-Mono's (D = 0), with
real-mono or (L+R)/2 input, overall and by RT60. A ratio near 1 means D is mostly reverberation that is not
coherent with the mono, so no mask model can do much better than Mono-Mono on the papers' STFT loss.

    .venv/bin/python benchmarks/mask_ceiling.py --data data/synth --clips 60
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="scene_val")
    ap.add_argument("--clips", type=int, default=60)
    args = ap.parse_args()
    import torch

    from binauralize.models.mono2binaural import spec_channels, stft
    from binauralize.train.windows import CachedClips, CachedWindows

    data = Path(args.data)
    cache = data / "cache" / "efficientnet-lite0"
    ids = (data / "splits" / f"{args.split}.txt").read_text().split()[: args.clips]
    clips = CachedClips(cache, ids)
    rt60 = {c: float(clips.clips[c].get("rt60", np.nan)) for c in ids}
    res = {}
    for inp in ("mix", "real"):
        ds = CachedWindows(clips, ids, inp, random=False)
        ratios, rts = [], []
        for i in range(len(ds)):
            it = ds[i]
            s_t = stft(it["target"][None])[0]
            d = (s_t[0] - s_t[1])[:-1]
            m = stft(it["mix"][None])[0][:-1]
            mask = (d * m.conj()).sum(-1, keepdim=True) / ((m.abs() ** 2).sum(-1, keepdim=True) + 1e-9)
            zero = float((spec_channels(d[None]) ** 2).mean())
            best = float((spec_channels((d - mask * m)[None]) ** 2).mean())
            if zero > 1e-9:
                ratios.append(best / zero)
                rts.append(rt60[ds.index[i][0]])
        ratios, rts = np.array(ratios), np.array(rts)
        res[inp] = {"windows": len(ratios), "oracle_over_monomono_median": float(np.median(ratios)),
                    "mean": float(ratios.mean()),
                    "by_rt60": {f"{lo:.1f}-{hi:.1f}": float(np.median(ratios[(rts >= lo) & (rts < hi)]))
                                for lo, hi in ((0.2, 0.4), (0.4, 0.6), (0.6, 0.9)) if ((rts >= lo) & (rts < hi)).any()}}
    print(json.dumps(res, indent=1))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "mask_ceiling.json").write_text(json.dumps({"command": "python benchmarks/mask_ceiling.py "
                                                                    + shlex.join(sys.argv[1:]), **res}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
