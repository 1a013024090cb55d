"""PyTorch datasets over the synthetic layout and FAIR-Play, and a memory-mapped cache of frozen visual features.

Windows follow the 2.5D Visual Sound protocol (Gao & Grauman 2019, public code): the 10-s binaural clip is
RMS-normalised (``normalize``: scale to RMS 0.1), a random 0.63-s window is cut, and the video frame at the window's
centre is taken (FAIR-Play: ``frames/ID.mp4/{round((t + 0.05) * 10):06d}.png``). Optional mirror augmentation flips
the picture and swaps the two channels together. Longer windows (``window_s``) serve the newer models.

Items are dicts of tensors: ``mono [1, T]`` (the (L+R)/2 mix, or the real-mono track with ``input='real'``),
``binaural [2, T]`` (index 0 = left), ``frame [3, H, W]`` float in [0, 1] or ``feature [D]`` from the cache,
``t_centre`` (s), ``mirrored`` (bool) and ``id``.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError


def rms_scale(x: np.ndarray, desired_rms: float = 0.1, eps: float = 1e-4) -> float:
    """The factor of 2.5D Visual Sound's ``normalize``: ``desired_rms / max(eps, rms(x))``."""
    return desired_rms / max(eps, float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def rms_normalize(x: np.ndarray, desired_rms: float = 0.1, eps: float = 1e-4) -> np.ndarray:
    """2.5D Visual Sound's ``normalize``: ``x * desired_rms / max(eps, rms(x))``."""
    return x * rms_scale(x, desired_rms, eps)


class FrameStore:
    """Frames of a clip at 10 fps: PNG folders (FAIR-Play after ``prepare``) or decoded from the mp4 (synthetic
    set), with a small per-process LRU of decoded clips."""

    def __init__(self, fps: float = 10.0, keep: int = 4):
        self.fps, self.keep = fps, keep
        self._clips: OrderedDict = OrderedDict()

    def frame(self, video: Path | None, frames_dir: Path | None, t: float) -> np.ndarray:
        """RGB uint8 [H, W, 3] nearest to time ``t`` (s)."""
        if frames_dir is not None and frames_dir.is_dir():
            from PIL import Image

            k = int(round((t + 0.05) * self.fps))
            files = sorted(frames_dir.glob("*.png"))
            if not files:
                raise InputError(f"no frames in {frames_dir}")
            path = frames_dir / f"{k:06d}.png"
            return np.asarray(Image.open(path if path.exists() else files[min(max(k - 1, 0), len(files) - 1)]).convert("RGB"))
        if video is None:
            raise InputError("no frames and no video for this clip")
        key = str(video)
        if key not in self._clips:
            from ..io.media import iter_frames

            self._clips[key] = [img for _, img in iter_frames(video, self.fps, max_width=None)]
            if len(self._clips) > self.keep:
                self._clips.popitem(last=False)
        frames = self._clips[key]
        return frames[int(np.clip(round(t * self.fps), 0, len(frames) - 1))]


class FeatureCache:
    """Frozen visual features per clip and 10-fps frame in one memory-mapped float16 array ``features.npy``
    ``[N, D]`` with ``index.json`` mapping clip id -> (first row, frame count). Built once, read by every epoch."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index = json.loads((self.folder / "index.json").read_text())
        self.array = np.load(self.folder / "features.npy", mmap_mode="r")

    @classmethod
    def build(cls, folder: str | Path, clips: dict, encoder: Callable[[np.ndarray], np.ndarray], fps: float = 10.0,
              batch: int = 32, progress: Callable | None = None) -> "FeatureCache":
        """``clips``: id -> (video path or None, frames dir or None). ``encoder``: uint8 [B, H, W, 3] -> [B, D]."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        store = FrameStore(fps, keep=1)
        rows, index, offset = [], {}, 0
        for cid, (video, frames_dir) in clips.items():
            if frames_dir is not None and Path(frames_dir).is_dir():
                from PIL import Image

                imgs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(Path(frames_dir).glob("*.png"))]
            else:
                store.frame(video, None, 0.0)
                imgs = store._clips[str(video)]
            feats = [np.asarray(encoder(np.stack(imgs[i:i + batch])), dtype=np.float16) for i in range(0, len(imgs), batch)]
            f = np.concatenate(feats)
            rows.append(f)
            index[cid] = [offset, len(f)]
            offset += len(f)
            if progress:
                progress()
        np.save(folder / "features.npy", np.concatenate(rows))
        (folder / "index.json").write_text(json.dumps(index))
        return cls(folder)

    def feature(self, cid: str, t: float, fps: float = 10.0) -> np.ndarray:
        start, count = self.index[cid]
        return np.asarray(self.array[start + int(np.clip(round(t * fps), 0, count - 1))], dtype=np.float32)


def _clip_paths(root: Path, cid: str, layout: str) -> dict:
    if layout == "synth":
        return {"binaural": root / "binaural_audios" / f"{cid}.wav", "real": root / "mono_audios" / f"{cid}.wav",
                "video": root / "videos" / f"{cid}.mp4", "frames": None}
    if layout == "fairplay":
        a16 = root / "binaural_audios_16k" / f"{cid}.wav"
        return {"binaural": a16 if a16.exists() else root / "binaural_audios" / f"{cid}.wav", "real": None,
                "video": root / "videos" / f"{cid}.mp4", "frames": root / "frames" / f"{cid}.mp4"}
    raise InputError("layout must be 'synth' or 'fairplay'")


def _torch_dataset_base():
    try:
        from torch.utils.data import Dataset
    except ImportError as exc:  # pragma: no cover - torch is an optional dependency
        raise InputError("PyTorch is needed for training datasets: pip install torch") from exc
    return Dataset


class BinauralWindows(_torch_dataset_base()):
    """Random windows of binaural clips with their centre frame (2.5D protocol by default).

    Args:
        root: dataset folder; ``layout``: 'synth' or 'fairplay'; ``ids``: clip ids (e.g. from a split file).
        window_s: window length (0.63 s in the 2.5D protocol). sample_rate: working rate (16 kHz in the papers).
        input: 'mix' ((L+R)/2 of the ground truth) or 'real' (the synthetic set's real-mono microphone track).
        mirror_p: probability of the mirror augmentation (flip picture + swap channels); 0 for evaluation.
        features: a :class:`FeatureCache` to return ``feature`` instead of ``frame``.
        random_crop: False = the window centred in the clip (deterministic evaluation).
        seed: base seed; item i of epoch e uses ``(seed, e, i)`` via :meth:`set_epoch`.
    """

    def __init__(self, root: str | Path, ids: list[str], layout: str = "synth", window_s: float = 0.63,
                 sample_rate: int = 16000, input: str = "mix", mirror_p: float = 0.0,
                 features: FeatureCache | None = None, random_crop: bool = True, seed: int = 0):
        super().__init__()
        if input not in ("mix", "real"):
            raise InputError("input must be 'mix' or 'real'")
        self.root, self.ids, self.layout = Path(root), list(ids), layout
        self.window_s, self.sr, self.input = window_s, sample_rate, input
        self.mirror_p, self.features, self.random_crop, self.seed = mirror_p, features, random_crop, seed
        self.epoch = 0
        self.frames = FrameStore()
        if input == "real" and layout != "synth":
            raise InputError("input='real' needs the synthetic layout (mono_audios/)")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def _load(self, path: Path) -> np.ndarray:
        import soundfile as sf
        import soxr

        x, sr = sf.read(path, always_2d=True, dtype="float32")
        if sr != self.sr:
            x = soxr.resample(x, sr, self.sr, quality="HQ")
        return x.T

    def __getitem__(self, i: int) -> dict:
        import torch

        cid = self.ids[i]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        p = _clip_paths(self.root, cid, self.layout)
        binaural = rms_normalize(self._load(p["binaural"]))
        n = int(round(self.window_s * self.sr))
        total = binaural.shape[1]
        if total < n:
            binaural = np.pad(binaural, ((0, 0), (0, n - total)))
            total = n
        start = int(rng.integers(0, total - n + 1)) if self.random_crop else (total - n) // 2
        win = binaural[:, start:start + n]
        if self.input == "real":
            real = rms_normalize(self._load(p["real"]).mean(axis=0))
            real = np.pad(real, (0, max(0, start + n - len(real))))
            mono = real[start:start + n][None]
        else:
            mono = win.mean(axis=0, keepdims=True)
        t_centre = (start + n / 2) / self.sr
        mirrored = bool(rng.random() < self.mirror_p)
        item = {"id": cid, "t_centre": t_centre, "mirrored": mirrored}
        if mirrored:
            win = win[::-1].copy()
        item["mono"] = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
        item["binaural"] = torch.from_numpy(np.ascontiguousarray(win, dtype=np.float32))
        if self.features is not None:
            f = self.features.feature(cid, t_centre)
            item["feature"] = torch.from_numpy(f)  # mirrored features need a mirrored cache (2x build)
        else:
            img = self.frames.frame(p["video"], p["frames"], t_centre)
            if mirrored:
                img = img[:, ::-1]
            item["frame"] = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32) / 255.0)
        return item
