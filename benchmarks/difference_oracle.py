"""How much of the L - R difference can a model that knows each source's direction predict? (issue 6 diagnosis)

Mono2Binaural is trained with the squared error between its predicted difference spectrogram D^ and the true
D = L - R (the 2.5D Visual Sound loss). This script scores, on the same windows and in the same loss, three
predictors that know the oracle tracks of the synthetic set:

- ``zero``: D^ = 0 (what Mono-Mono predicts; the reference, ratio 1);
- ``dsp``: D^ = L - R of the DSP renderer's rendering of the input along the oracle tracks;
- ``dsp_shrunk``: the same times the best real gain per frequency bin, fitted on the scored windows themselves
  (a ceiling: the MSE-optimal scaling of an exact-direction rendering);

and prints their loss as a ratio of ``zero``'s, overall and per frequency band, for the clips of each split given.
A ratio near 1 for ``dsp_shrunk`` means that even exact directions leave the difference unpredictable in this loss
(reverberation and the microphone's colouring make L - R incoherent with the mono), so a learned model trained on
it has almost nothing to gain over D^ = 0.

    python benchmarks/difference_oracle.py --data DATA --splits scene_val single_val --out benchmarks/results/difference_oracle.json

Needs the feature cache and the DSP renders of the input (``binauralize train configs/flow.toml`` writes them, or
``binauralize.train.dsp_renders.add_dsp_renders``).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from binauralize.models.mono2binaural import stft  # noqa: E402
from binauralize.train.cache import SR  # noqa: E402
from binauralize.train.dsp_renders import FlowWindows  # noqa: E402
from binauralize.train.windows import CachedClips  # noqa: E402

BANDS = [(0, 500), (500, 1500), (1500, 4000), (4000, 8000)]


def sounding(data: Path, cid: str) -> int:
    meta = json.loads((data / "meta" / f"{cid}.json").read_text())
    return sum(1 for s in meta["sources"] if s.get("sounding"))


def score(data: Path, cache: Path, ids: list[str], input: str, max_windows: int) -> dict:
    """Accumulate per-bin sums over the fixed windows of ``ids``; -> ratios overall and per band."""
    clips = CachedClips(cache, ids)
    ds = FlowWindows(clips, ids, input, 0.63, random=False)
    idx = np.linspace(0, len(ds) - 1, min(len(ds), max_windows)).round().astype(int)
    e_true = e_err = cross = e_dsp = None
    for i in idx:
        it = ds[int(i)]
        true = stft(it["target"])
        dsp = stft(it["dsp"])
        d, dd = (true[0] - true[1]), (dsp[0] - dsp[1])
        t = [d.abs().pow(2).sum(-1), (dd - d).abs().pow(2).sum(-1), (dd.conj() * d).real.sum(-1), dd.abs().pow(2).sum(-1)]
        if e_true is None:
            e_true, e_err, cross, e_dsp = t
        else:
            e_true, e_err, cross, e_dsp = e_true + t[0], e_err + t[1], cross + t[2], e_dsp + t[3]
    gain = (cross / e_dsp.clamp_min(1e-12)).clamp(min=0.0)          # per-bin MSE-optimal real gain
    e_shr = e_true - 2 * gain * cross + gain ** 2 * e_dsp
    f = np.fft.rfftfreq(512, 1 / SR)
    out = {"windows": int(len(idx)), "clips": len(ids),
           "dsp": float(e_err.sum() / e_true.sum()), "dsp_shrunk": float(e_shr.sum() / e_true.sum()), "bands": {}}
    for lo, hi in BANDS:
        sel = torch.from_numpy((f >= lo) & (f < hi))
        out["bands"][f"{lo}-{hi} Hz"] = {"share_of_D": float(e_true[sel].sum() / e_true.sum()),
                                         "dsp": float(e_err[sel].sum() / e_true[sel].sum()),
                                         "dsp_shrunk": float(e_shr[sel].sum() / e_true[sel].sum()),
                                         "mean_gain": float(gain[sel].mean())}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--cache", type=Path, help="feature cache (default DATA/cache/efficientnet-lite0)")
    p.add_argument("--splits", nargs="+", default=["scene_val"])
    p.add_argument("--input", default="real", choices=["real", "mix"])
    p.add_argument("--max-windows", type=int, default=600, help="windows per split (evenly spread)")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    cache = a.cache or a.data / "cache" / "efficientnet-lite0"
    res = {"input": a.input, "command": "python benchmarks/difference_oracle.py " + shlex.join(argv or sys.argv[1:])}
    for sp in a.splits:
        ids = [c for c in (a.data / "splits" / f"{sp}.txt").read_text().split()
               if (cache / f"{c}_dsp_{a.input}.npy").exists()]
        groups = {sp: ids}
        if not sp.startswith(("single", "easy")):
            for n in (1, 2, 3):
                groups[f"{sp}, {n} source{'s' if n > 1 else ''}"] = [c for c in ids if sounding(a.data, c) == n]
        for name, g in groups.items():
            if g:
                res[name] = score(a.data, cache, g, a.input, a.max_windows)
                r = res[name]
                print(f"{name:28s} clips {r['clips']:4d} windows {r['windows']:4d}  DSP {r['dsp']:.3f}  "
                      f"DSP shrunk (ceiling) {r['dsp_shrunk']:.3f}  per band (shrunk): " +
                      "  ".join(f"{k} {v['dsp_shrunk']:.2f} ({100 * v['share_of_D']:.0f}% of D)"
                                for k, v in r["bands"].items()), flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
