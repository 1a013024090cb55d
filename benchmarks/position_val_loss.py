"""The position objective's mask term (dry-stem ideal ratio masks) of checkpoints on the same fixed validation
windows the training loop uses (scene_val, the first 60 clips, those with at least two sounding sources), beside
uniform masks (each present source an equal share): one script, so runs trained with different loss terms or
targets compare on one scale. A class-nmf checkpoint is scored by its own masks (the prior that position-nmf
refines); a position-nmf checkpoint gets its windows' prior from the separator it carries.

    .venv/bin/python benchmarks/position_val_loss.py --data data/synth_near \\
        shipped=binauralize/models/weights/position.safetensors new=runs/position_real/best.safetensors \\
        class-nmf=binauralize/models/weights/class-nmf.safetensors position-nmf=runs/position_nmf_real/best.safetensors
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


class UniformMasks(torch.nn.Module):
    """Every present source gets the same share of every bin; the residual takes frames with none."""

    registry_name = "position"

    def forward(self, logmag, tokens, presence):
        p = (presence > 0).float()[:, :, None, :].expand(-1, -1, logmag.shape[1], -1)
        return torch.cat([p / p.sum(1, keepdim=True).clamp(min=1), (p.sum(1, keepdim=True) == 0).float()], 1)


class PriorMasks(torch.nn.Module):
    """The class-NMF masks themselves (the batch's ``prior``)."""

    registry_name = "position"

    def __init__(self, nmf):
        super().__init__()
        self.classes, self._nmf = nmf.classes, nmf

    def nmf(self):
        return self._nmf

    def forward(self, logmag, tokens, presence, prior):
        return prior


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--trunk", default="efficientnet-lite0")
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--max-val-clips", type=int, default=60)
    ap.add_argument("checkpoints", nargs="*", help="NAME=PATH of position-model checkpoints")
    a = ap.parse_args(argv)
    from torch.utils.data import DataLoader

    from binauralize.models import checkpoint
    from binauralize.train.loop import _sounding, _split_ids
    from binauralize.train.objectives import position_losses
    from binauralize.train.sources import SourceWindows, add_sources
    from binauralize.train.windows import CachedClips

    root = Path(a.data)
    cache = root / "cache" / a.trunk
    ids = [c for c in _split_ids(root, "scene_val", cache, a.max_val_clips) if _sounding(root, c) >= 2]
    add_sources(root, cache, ids)
    visual = int(json.loads((cache / "trunk.json").read_text())["channels"]) + 1
    clips = CachedClips(cache, ids)

    def load(path):
        if checkpoint.read_metadata(path).get("model") == "class-nmf":
            from binauralize.models.class_nmf import ClassNMF

            return PriorMasks(ClassNMF.load(path)[0])
        return checkpoint.load(path)[0].eval()

    models = [("uniform masks", UniformMasks())] + [(n, load(p)) for n, p in (c.split("=", 1) for c in a.checkpoints)]
    for name, m in models:
        prior = m.nmf() if getattr(m, "classes", None) else None  # position-nmf: windows carry the NMF masks
        va = SourceWindows(clips, ids, a.input, 0.63, random=False, max_sources=3, visual_dim=visual,
                           prior_nmf=prior)
        tot, n = 0.0, 0
        with torch.no_grad():
            for b in DataLoader(va, batch_size=16):
                tot += float(position_losses(m, b)["mask"]) * len(b["mix"])
                n += len(b["mix"])
        print(f"{name}: mask loss {tot / n:.4f} ({n} windows)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
