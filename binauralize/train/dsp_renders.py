"""Training data for the flow-matching variant (issue 7): the DSP renderer's rendering of each clip's input.

``add_dsp_renders(root, cache, ids, input)`` writes ``<id>_dsp_<input>.npy`` beside the clip cache: float16
``[2, T]`` at 16 kHz, the input mono (the real-mono track or (L+R)/2) rendered along the clip's oracle tracks by
the default DSP renderer (T60 estimated from the input, as the tool does). :class:`FlowWindows` cuts the same
windows as :class:`~binauralize.train.windows.CachedWindows` and adds ``dsp`` ``[2, n]``, scaled like ``mix``
(the input's RMS normalisation), so ``(dsp[0] + dsp[1]) / 2`` is at the level of ``mix / 2``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..data.datasets import rms_scale
from .cache import SR
from .windows import CachedWindows


def add_dsp_renders(root: str | Path, cache: str | Path, ids: list[str], input: str = "real",
                    progress: bool = False) -> int:
    """Write missing ``<id>_dsp_<input>.npy`` files; returns how many were written."""
    from tqdm import tqdm

    from ..api import Binauralizer
    from ..tracks import parse_tracks

    root, cache = Path(root), Path(cache)
    b = Binauralizer()
    n = 0
    for cid in tqdm(ids, desc=f"DSP renders ({input})", disable=not progress):
        out = cache / f"{cid}_dsp_{input}.npy"
        if out.exists():
            continue
        z = np.load(cache / f"{cid}.npz")
        m = z["real"] if input == "real" else z["binaural"].mean(axis=0)
        tracks = parse_tracks(json.loads((root / "meta" / f"{cid}.json").read_text())["tracks"])
        y = b.render(m.astype(np.float64), SR, tracks).astype(np.float16)
        tmp = cache / f".{cid}_dsp_{input}.{os.getpid()}.partial.npy"
        np.save(tmp, y)
        os.replace(tmp, out)
        n += 1
    return n


class FlowWindows(CachedWindows):
    """:class:`CachedWindows` items plus ``dsp`` ``[2, n]`` (the DSP rendering of the input window, same scale)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._dsp: dict = {}

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        cid = self.index[i][0]
        if cid not in self._dsp:
            self._dsp[cid] = np.load(self.clips.cache / f"{cid}_dsp_{self.input}.npy", mmap_mode="r")
        start = item.pop("start")
        n = item["mix"].shape[0]
        w = np.asarray(self._dsp[cid][:, start:start + n], np.float32)
        w = np.pad(w, ((0, 0), (0, n - w.shape[1]))) * rms_scale(self.raw_mono(cid, start))
        item["dsp"] = torch.from_numpy(w.astype(np.float32))
        for k in ("feat", "feat2", "rir"):
            item.pop(k, None)
        return item
