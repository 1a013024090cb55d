"""Can the Mono2Binaural network fit at all? Train on ONE fixed batch of 16 windows and print the D loss relative to
Mono-Mono's (predicting D = 0). A working network and objective go far below 1 within 150 steps; if this fails,
something is broken, and if it works while full training stays near 1, the limit is the training budget.

    .venv/bin/python benchmarks/fit_check.py --data data/synth [--lr 1e-3] [--audio-only]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--input", default="mix", choices=["mix", "real"])
    ap.add_argument("--audio-only", action="store_true")
    args = ap.parse_args()
    import torch
    from torch.utils.data import DataLoader

    from binauralize.models.registry import build
    from binauralize.train.objectives import losses
    from binauralize.train.windows import CachedClips, CachedWindows

    data = Path(args.data)
    ids = (data / "splits" / "scene_train.txt").read_text().split()[:16]
    clips = CachedClips(data / "cache" / "efficientnet-lite0", ids)
    batch = next(iter(DataLoader(CachedWindows(clips, ids, args.input, random=False), batch_size=16)))
    torch.manual_seed(0)
    m = build("mono2binaural", ngf=32, use_visual=not args.audio_only).train()
    opt = torch.optim.Adam(m.parameters(), args.lr)
    curve, t0 = [], time.time()
    for s in range(args.steps):
        t = losses(m, batch)
        opt.zero_grad()
        t["total"].backward()
        opt.step()
        curve.append(float((t["diff"] / t["diff_zero"]).detach()))
        if s % 25 == 0 or s == args.steps - 1:
            print(f"step {s:4d}  D loss / Mono-Mono's = {curve[-1]:.3f}  ({time.time() - t0:.0f} s)", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "fit_check.json").write_text(json.dumps(
        {"command": "python benchmarks/fit_check.py " + shlex.join(sys.argv[1:]), "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
