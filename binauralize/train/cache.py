"""Per-clip training cache: 16-kHz audio, frozen visual feature maps, RIR targets (one ``.npz`` per clip).

CPU training must not pay for the image trunk or for decoding and resampling every epoch, so this runs once per
dataset (``binauralize train-cache DATA``, resumable: clips already cached are skipped, so it can run while the
generator is still writing). Each ``cache/<trunk>/<id>.npz`` holds:

- ``binaural`` float32 ``[2, T]`` and ``real`` float32 ``[T]``: the ground truth and the real-mono track at 16 kHz
  (soxr HQ); ``real`` is absent for FAIR-Play;
- ``features`` float16 ``[K, C, h, w]``: trunk feature maps of the frames at ``feature_times`` (s), by default one
  per second at 0.5, 1.5, ... s (windows are cut around these times, so every window has its own frame);
- ``<id>_flipped.npy`` beside it: the same for the horizontally mirrored frames (the Flipped-Visual baseline), for
  the clips of the test splits only (:func:`add_flipped`);
- ``rir_logmag`` float32 ``[2, 128, 64]`` and ``rt60`` (s): the first sounding source's binaural RIR at 16 kHz,
  first 0.512 s, STFT (n_fft 256, hop 128) log-magnitude, for the geometry-aware model.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

SR = 16000
RIR_SAMPLES, RIR_NFFT, RIR_HOP = 8192, 256, 128


def rir_logmag(brir: np.ndarray, sr: int) -> np.ndarray:
    """Binaural RIR ``[2, N]`` at ``sr`` -> log-magnitude spectrogram ``[2, 128, 64]`` at 16 kHz (the RIR target)."""
    import soxr
    from scipy.signal import stft as sp_stft

    x = soxr.resample(np.asarray(brir, np.float64).T, sr, SR, quality="HQ").T if sr != SR else np.asarray(brir, float)
    x = np.pad(x, ((0, 0), (0, max(0, RIR_SAMPLES + RIR_HOP - x.shape[1]))))[:, :RIR_SAMPLES + RIR_HOP]
    x = x / max(np.abs(x).max(), 1e-9)
    _, _, z = sp_stft(x, nperseg=RIR_NFFT, noverlap=RIR_NFFT - RIR_HOP, window="hann", boundary=None, padded=False)
    return np.log(np.abs(z[:, :128, :64]) + 1e-4).astype(np.float32)


def _load_16k(path: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    x, sr = sf.read(path, always_2d=True, dtype="float32")
    if sr != SR:
        x = soxr.resample(x, sr, SR, quality="HQ")
    return np.ascontiguousarray(x.T, dtype=np.float32)


def _frames_at(video: Path, times: np.ndarray) -> np.ndarray:
    from ..io.media import iter_frames

    got, want = [], list(times)
    for t, img in iter_frames(video, 10.0, max_width=None):
        while want and t >= want[0] - 0.051:
            got.append(img)
            want.pop(0)
        if not want:
            break
    if not got:
        raise InputError(f"{video.name}: no frames")
    while len(got) < len(times):
        got.append(got[-1])
    return np.stack(got)


def flipped_features(root: Path, cid: str, trunk, times: np.ndarray) -> np.ndarray:
    """Trunk maps of the horizontally mirrored frames at ``times`` (the Flipped-Visual baseline)."""
    frames = _frames_at(root / "videos" / f"{cid}.mp4", times)
    return trunk(np.ascontiguousarray(frames[:, :, ::-1])).astype(np.float16)


def add_flipped(root: str | Path, out: str | Path, splits: tuple = ("scene_test", "hrtf_test", "position_test"),
                progress: bool = True) -> None:
    """Write ``<id>_flipped.npy`` beside cached clips of ``splits`` that have none yet."""
    from tqdm import tqdm

    root, out = Path(root), Path(out)
    ids: set = set()
    for s in splits:
        f = root / "splits" / f"{s}.txt"
        if f.exists():
            ids |= set(f.read_text().split())
    todo = sorted(c for c in ids if (out / f"{c}.npz").exists() and not (out / f"{c}_flipped.npy").exists())
    if not todo:
        return
    from ..models.backbone import make_trunk

    trunk = make_trunk(json.loads((out / "trunk.json").read_text())["trunk"])
    for cid in tqdm(todo, desc="flipped features", unit="clip", disable=not progress):
        times = np.load(out / f"{cid}.npz")["feature_times"]
        tmp = out / f".{cid}_flipped.{os.getpid()}.partial.npy"
        np.save(tmp, flipped_features(root, cid, trunk, times))
        os.replace(tmp, out / f"{cid}_flipped.npy")


def cache_clip(root: Path, cid: str, trunk, out: Path, feature_fps: float = 0.5) -> None:
    """Write ``out/<cid>.npz`` (see the module docstring) atomically."""
    meta = json.loads((root / "meta" / f"{cid}.json").read_text())
    binaural = _load_16k(root / "binaural_audios" / f"{cid}.wav")
    dur = binaural.shape[1] / SR
    times = np.arange(0.5 / feature_fps, dur, 1.0 / feature_fps)
    if not len(times):  # a clip shorter than one feature period: its middle frame
        times = np.array([dur / 2])
    frames = _frames_at(root / "videos" / f"{cid}.mp4", times)
    item = {"binaural": binaural, "features": trunk(frames).astype(np.float16), "feature_times": times}
    real = root / "mono_audios" / f"{cid}.wav"
    if real.exists():
        item["real"] = _load_16k(real).mean(axis=0)
    rir = root / "rirs" / f"{cid}.npz"
    if rir.exists():
        z = np.load(rir)
        keys = sorted(k for k in z.files if k.startswith("brir_"))
        if keys:
            item["rir_logmag"] = rir_logmag(z[keys[0]].astype(np.float32), int(meta.get("sample_rate", 24000)))
            item["rt60"] = np.float32(z["rt60"])
    tmp = out / f".{cid}.{os.getpid()}.partial.npz"
    np.savez(tmp, **item)
    os.replace(tmp, out / f"{cid}.npz")


def build_cache(root: str | Path, out: str | Path | None = None, trunk_name: str = "efficientnet-lite0",
                flip_splits: tuple = (), ids: list | None = None,
                progress: bool = True, backbone_weights: str | None = None) -> Path:
    """Cache every clip of a synthetic dataset folder that has its ``meta/<id>.json`` (skipping cached ones)."""
    from tqdm import tqdm

    from ..models.backbone import make_trunk

    root = Path(root)
    if not (root / "meta").is_dir():
        raise InputError(f"{root} is not a generated dataset (no meta/)")
    out = Path(out) if out else root / "cache" / trunk_name
    want = ids or sorted(p.stem for p in (root / "meta").glob("*.json"))
    todo = [c for c in want if not (out / f"{c}.npz").exists()]
    if not todo:
        add_flipped(root, out, flip_splits, progress)
        return out
    missing = [c for c in todo if not (root / "videos" / f"{c}.mp4").exists()
               or not (root / "binaural_audios" / f"{c}.wav").exists()]
    if missing:
        raise InputError(f"{len(missing)} clip(s) of {root} have lost files (first {missing[0]}): rerun the "
                         "`binauralize dataset synth` command that made the set to restore them")
    trunk = make_trunk(trunk_name, backbone_weights)  # before the folder is made: a trunk it cannot build leaves none
    out.mkdir(parents=True, exist_ok=True)
    (out / "trunk.json").write_text(json.dumps({"trunk": trunk_name, "channels": trunk.channels,
                                                 "map_size": list(trunk.map_size), "sample_rate": SR}))
    for cid in tqdm(todo, desc="caching clips", unit="clip", disable=not progress):
        cache_clip(root, cid, trunk, out)
    add_flipped(root, out, flip_splits, progress)
    return out
