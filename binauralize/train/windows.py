"""Training windows from the per-clip cache (``binauralize.train.cache``), in the 2.5D Visual Sound protocol.

An item is one 0.63-s window whose centre lies within one feature interval of a cached frame, with that frame's
trunk feature map: ``mix`` ``[n]`` = M = L + R of the input, RMS-normalised (2.5D's ``normalize``: RMS 0.1 of the
mono); ``target`` ``[2, n]``: the ground-truth binaural window, scaled so that its own (L+R)/2 has RMS 0.1 (the
input and the target are normalised separately because the real-mono track has its own level and colour);
``feat`` ``[C, h, w]``; ``feat2``: the neighbouring cached frame's map (geometric consistency); ``rir`` and ``rt60``
when the clip has them. With ``input='mix'`` the input is (L+R)/2 of the ground truth (the papers' setting); with
``input='real'`` it is the generator's real single-microphone track (Okano et al.'s setting).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.datasets import rms_scale
from ..errors import InputError
from .cache import SR


class CachedClips:
    """All cached clips of some ids, loaded once into memory (a 10-s clip is about 2 MB)."""

    def __init__(self, cache: str | Path, ids: list[str], flipped: bool = False):
        self.cache = Path(cache)
        missing = [c for c in ids if not (self.cache / f"{c}.npz").exists()]
        if missing:
            raise InputError(f"{len(missing)} clips are not cached in {self.cache} (e.g. {missing[0]}): "
                             "run `binauralize train-cache DATA` first")
        self.clips = {}
        for c in ids:
            z = np.load(self.cache / f"{c}.npz")
            d = {k: z[k] for k in z.files}
            if flipped:
                f = self.cache / f"{c}_flipped.npy"
                if not f.exists():
                    raise InputError(f"no flipped features for {c}: run the cache with the test splits")
                d["features"] = np.load(f)
            self.clips[c] = d


class CachedWindows(Dataset):
    """Random (training) or fixed (validation) windows over cached clips.

    Args: clips: :class:`CachedClips`; ids; input: 'real' or 'mix'; window_s; random: False = the window centred
    on each cached frame in turn (``len = clips x frames``), deterministic; seed.
    """

    def __init__(self, clips: CachedClips, ids: list[str], input: str = "real", window_s: float = 0.63,
                 random: bool = True, seed: int = 0):
        if input not in ("real", "mix"):
            raise InputError("input must be 'real' or 'mix'")
        self.clips, self.ids, self.input, self.random, self.seed = clips, list(ids), input, random, seed
        self.n = int(round(window_s * SR))
        self.epoch = 0
        if input == "real" and any("real" not in clips.clips[c] for c in self.ids):
            raise InputError("input='real' needs the real-mono track (synthetic layout)")
        self.index = ([(c, None) for c in self.ids] if random else
                      [(c, k) for c in self.ids for k in range(len(clips.clips[c]["feature_times"]))])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def raw_mono(self, cid: str, start: int) -> np.ndarray:
        """The input mono window ``[n]`` at ``start`` (samples) at its stored scale: the real-mono track or (L+R)/2,
        zero-padded at the clip's end."""
        d = self.clips.clips[cid]
        m = d["real"][start:start + self.n] if self.input == "real" else d["binaural"][:, start:start + self.n].mean(axis=0)
        return np.pad(m, (0, self.n - len(m)))

    def __getitem__(self, i: int) -> dict:
        cid, k = self.index[i]
        d = self.clips.clips[cid]
        times = d["feature_times"]
        total = d["binaural"].shape[1]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if k is None:
            k = int(rng.integers(len(times)))
            step = times[1] - times[0] if len(times) > 1 else 1.0
            centre = times[k] + rng.uniform(-step / 2, step / 2)
        else:
            centre = times[k]
        start = int(np.clip(round(centre * SR) - self.n // 2, 0, max(0, total - self.n)))
        b = d["binaural"][:, start:start + self.n]
        if b.shape[1] < self.n:
            b = np.pad(b, ((0, 0), (0, self.n - b.shape[1])))
        m = self.raw_mono(cid, start)
        mix = 2.0 * m * rms_scale(m)
        target = b * rms_scale(b.mean(axis=0))
        k2 = int(np.clip(k + (1 if rng.random() < 0.5 else -1), 0, len(times) - 1))
        item = {"start": start, "mix": torch.from_numpy(mix.astype(np.float32)), "target": torch.from_numpy(target.astype(np.float32)),
                "feat": torch.from_numpy(d["features"][k].astype(np.float32)),
                "feat2": torch.from_numpy(d["features"][k2].astype(np.float32))}
        if "rir_logmag" in d:
            item["rir"] = torch.from_numpy(d["rir_logmag"])
        if type(self) is CachedWindows:
            item.pop("start")
        return item
