"""Sound-source objects in frames, by class: a small detection head on the frozen trunk's feature map.

The map: EfficientNet-Lite0's stride-16 features (block 10, 112 channels) beside its last, stride-32 map (320
channels) upsampled to them, i.e. 11 x 20 cells over a 320 x 180 frame (a small feature pyramid, Lin et al. 2017;
the stride-32 map alone, 5 x 10 cells, missed a third of the objects). Each cell says whether an object's centre lies
in it, of which class, where in the cell, and how far away the object is ("objects as points": Zhou, Wang &
Krahenbuhl 2019, arXiv:1904.07850, with one centre per cell instead of a heat map). Peaks of the object probability
become detections; detections of the same class are linked over frames into tracks named by their class
(``guitar``, ``guitar1``), which is what the class-conditioned separator (:mod:`binauralize.models.class_nmf`)
needs to pick each source's dictionary.

The shipped head (``binauralize/models/weights/objects.safetensors``) is trained on the synthetic generator's frames
(``binauralize train configs/objects.toml``): it knows that set's object classes as that set draws them (colour
emoji over photographs), not objects of real footage. It is opt-in (``--objects``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "weights" / "objects.safetensors"


@dataclass
class Detection:
    """One object in one frame: class, centre ``(x, y)`` in pixels of the frame, distance (m), probability."""

    cls: str
    x: float
    y: float
    distance: float
    score: float
    box: tuple | None = None  # (x0, y0, x1, y1) in pixels of the frame, when the detector gives one


def _nn():
    try:
        import torch
        from torch import nn
    except ImportError as exc:  # pragma: no cover
        raise InputError("object detection needs PyTorch: bash scripts/setup.sh installs it") from exc
    return torch, nn


MAP_CHANNELS = 112 + 320
TAP_BLOCK = 10


def detector_maps(trunk, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """RGB uint8 frames ``[B, H, W, 3]`` -> float32 maps ``[B, 432, 11, 20]`` (at the trunk's 320 x 180 input):
    the EfficientNet-Lite0 trunk's block-10 output and its last map bilinearly upsampled to that size."""
    torch, _ = _nn()
    if getattr(trunk, "name", "") != "efficientnet-lite0":
        raise InputError("the object detector reads the efficientnet-lite0 trunk")
    net = trunk.net
    out = []
    with torch.inference_mode():
        for i in range(0, len(frames), batch):
            x = trunk.preprocess(frames[i:i + batch])
            x = net._swish(net._bn0(net._conv_stem(x)))
            tap = None
            for j, block in enumerate(net._blocks):
                x = block(x, drop_connect_rate=0.0)
                if j == TAP_BLOCK:
                    tap = x
            up = torch.nn.functional.interpolate(x, size=tap.shape[2:], mode="bilinear", align_corners=False)
            out.append(torch.cat([tap, up], dim=1).float().contiguous().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, MAP_CHANNELS, 11, 20), np.float32)


def letterbox(frames: np.ndarray, size: tuple[int, int], fill=0) -> tuple[np.ndarray, float, tuple[int, int]]:
    """uint8 frames ``[B, H, W, 3]`` -> ``([B, h, w, 3] with (w, h) = size, scale, (pad x, pad y))``: each frame
    scaled by ``scale`` to fit inside ``size`` and centred on a ``fill`` background; a pixel ``(x, y)`` of the
    input lands at ``(x * scale + pad x, y * scale + pad y)``."""
    import cv2

    tw, th = size
    h, w = frames.shape[1:3]
    scale = min(tw / w, th / h)
    nw, nh = max(1, min(tw, int(round(w * scale)))), max(1, min(th, int(round(h * scale))))
    px, py = (tw - nw) // 2, (th - nh) // 2
    out = np.empty((len(frames), th, tw, 3), np.uint8)
    out[:] = np.clip(np.round(np.asarray(fill, np.float32)), 0, 255).astype(np.uint8)
    for i, f in enumerate(frames):
        out[i, py:py + nh, px:px + nw] = cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, scale, (px, py)


def make_head(channels: int, n_classes: int, hidden: int = 64):
    """The head: 1x1 conv (``channels`` -> ``hidden``), ReLU, 3x3 conv, ReLU, 1x1 conv -> ``n_classes + 1`` logits
    (0 = background), then x and y offsets within the cell (logits of a fraction) and log distance (log m)."""
    torch, nn = _nn()
    return nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                         nn.Dropout2d(0.1), nn.Conv2d(hidden, n_classes + 4, 1))


def cell_targets(objects: list[tuple[int, float, float, float]], map_size: tuple[int, int], width: int,
                 height: int) -> tuple[np.ndarray, np.ndarray]:
    """Objects ``(class index, x px, y px, distance m)`` of one ``width x height`` frame -> targets on the map
    ``(h, w)``: class per cell ``[h, w]`` int64 (0 = background, else class index + 1) and ``[3, h, w]`` float32
    (x, y offset in the cell in [0, 1], log distance). Two centres in one cell: the nearer object wins."""
    mh, mw = map_size
    cls = np.zeros((mh, mw), np.int64)
    reg = np.zeros((3, mh, mw), np.float32)
    best = np.full((mh, mw), np.inf)
    for k, x, y, d in objects:
        if not (0 <= x < width and 0 <= y < height):
            continue
        fx, fy = x / width * mw, y / height * mh
        c, r = int(fx), int(fy)
        if d < best[r, c]:
            best[r, c] = d
            cls[r, c] = k + 1
            reg[:, r, c] = (fx - c, fy - r, np.log(max(d, 0.1)))
    return cls, reg


def decode(out: np.ndarray, classes: list[str], width: int, height: int, threshold: float = 0.5) -> list[Detection]:
    """One frame's head output ``[K + 4, h, w]`` -> detections: cells whose object probability (1 - background)
    exceeds ``threshold`` and is the largest in their 3 x 3 neighbourhood."""
    k = len(classes)
    logits = out[:k + 1]
    p = np.exp(logits - logits.max(axis=0))
    p /= p.sum(axis=0)
    obj = 1.0 - p[0]
    mh, mw = obj.shape
    pad = np.pad(obj, 1, constant_values=-1.0)
    neigh = np.max(np.stack([pad[i:i + mh, j:j + mw] for i in range(3) for j in range(3)]), axis=0)
    dets = []
    for r, c in zip(*np.nonzero((obj > threshold) & (obj >= neigh))):
        ox, oy = 1.0 / (1.0 + np.exp(-out[k + 1:k + 3, r, c]))
        dets.append(Detection(classes[int(np.argmax(p[1:, r, c]))], (c + ox) / mw * width, (r + oy) / mh * height,
                              float(np.exp(out[k + 3, r, c])), float(obj[r, c])))
    return dets


class ObjectDetector:
    """Trunk + trained head. ``detect(frames)`` -> one list of :class:`Detection` per frame."""

    def __init__(self, classes: list[str], state: dict, trunk: str = "efficientnet-lite0", hidden: int = 64,
                 threshold: float = 0.5, device: str = "cpu"):
        from ..models.backbone import make_trunk

        torch, _ = _nn()
        self.classes, self.threshold, self.device = list(classes), float(threshold), device
        self._trunk = None
        self.head = make_head(int(state["0.weight"].shape[1]), len(classes), hidden).to(device)
        self.head.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
        self.head.eval()
        self._make_trunk = lambda: make_trunk(trunk, device=device)

    @property
    def trunk(self):
        if self._trunk is None:
            self._trunk = self._make_trunk()
        return self._trunk

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "cpu", threshold: float | None = None) -> "ObjectDetector":
        """Read a detector written by :func:`save_detector` (default: the shipped one)."""
        path = Path(path) if path else WEIGHTS
        if not path.is_file():
            raise InputError(f"no object detector weights at {path}")
        from safetensors.numpy import load_file
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = json.loads(f.metadata()["binauralize"])
        state = load_file(str(path))
        thr = meta.get("threshold", 0.5) if threshold is None else threshold
        return cls(meta["classes"], state, meta.get("trunk", "efficientnet-lite0"), meta.get("hidden", 64), thr, device)

    def heads(self, fmaps: np.ndarray) -> np.ndarray:
        """Trunk maps ``[B, C, h, w]`` -> head outputs ``[B, K + 4, h, w]``."""
        torch, _ = _nn()
        with torch.inference_mode():
            return self.head(torch.as_tensor(np.asarray(fmaps, np.float32), device=self.device)).float().cpu().numpy()

    def detect_maps(self, fmaps: np.ndarray, width: int, height: int) -> list[list[Detection]]:
        """Trunk maps of ``width x height`` frames -> detections per frame."""
        return [decode(o, self.classes, width, height, self.threshold) for o in self.heads(fmaps)]

    def detect(self, frames: np.ndarray) -> list[list[Detection]]:
        """RGB uint8 frames ``[B, H, W, 3]`` -> detections per frame (pixels of those frames). Frames of another
        shape than the trunk's 16:9 input are letterboxed (scaled to fit, padded with the trunk's mean grey), not
        squeezed, so objects keep the proportions the head was trained on."""
        frames = np.asarray(frames)
        if len(frames) == 0:
            return []
        h, w = frames.shape[1:3]
        tw, th = self.trunk.input_size
        if w * th == h * tw:
            return self.detect_maps(detector_maps(self.trunk, frames), w, h)
        boxed, scale, (px, py) = letterbox(frames, (tw, th), fill=self.trunk.mean)
        found = self.detect_maps(detector_maps(self.trunk, boxed), tw, th)
        return [[Detection(d.cls, (d.x - px) / scale, (d.y - py) / scale, d.distance, d.score) for d in ds
                 if 0 <= d.x - px < w * scale and 0 <= d.y - py < h * scale] for ds in found]


def save_detector(path: Path, head, classes: list[str], trunk: str, hidden: int, threshold: float,
                  extra: dict | None = None) -> Path:
    """Write the head's weights and its classes (safetensors, metadata key ``binauralize``) atomically."""
    from safetensors.numpy import save_file

    meta = {"kind": "objects", "classes": list(classes), "trunk": trunk, "hidden": hidden, "threshold": threshold,
            **(extra or {})}
    state = {k: v.detach().cpu().numpy().copy() for k, v in head.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={"binauralize": json.dumps(meta, default=float)})
    tmp.replace(path)
    return path


def link_tracks(times: np.ndarray, detections: list[list[Detection]], width: int, height: int, fov_deg: float,
                max_jump_deg: float = 12.0, min_frames: int = 2, min_fraction: float = 0.25) -> list:
    """Detections per frame at ``times`` (s) -> one :class:`~binauralize.tracks.SourceTrack` per object.

    A detection joins the open track of its class whose last direction is nearest (within ``max_jump_deg``),
    greedily from the most confident; others start new tracks. A track is kept when it was seen in at least
    ``min_frames`` frames and ``min_fraction`` of the frames; it holds its first/last position before/after it
    was seen and its weight is 1 throughout (the separator decides how much of the sound is its). Names: the
    class, numbered from the second object of a class on (``drum``, ``drum1``).
    """
    from ..dsp.geometry import pixel_to_direction
    from ..tracks import SourceTrack

    times = np.asarray(times, float)
    open_tracks: list[dict] = []
    for i, dets in enumerate(detections):
        used = set()
        for d in sorted(dets, key=lambda d: -d.score):
            az, el = (float(v) for v in pixel_to_direction(d.x, d.y, width, height, fov_deg))
            best, best_gap = None, max_jump_deg
            for j, tr in enumerate(open_tracks):
                if j in used or tr["cls"] != d.cls or tr["frames"][-1] == i:
                    continue
                gap = abs(tr["az"][-1] - az) + 0.5 * abs(tr["el"][-1] - el)
                if gap < best_gap:
                    best, best_gap = j, gap
            if best is None:
                open_tracks.append({"cls": d.cls, "frames": [], "az": [], "el": [], "dist": [], "score": []})
                best = len(open_tracks) - 1
            tr = open_tracks[best]
            used.add(best)
            tr["frames"].append(i)
            tr["az"].append(az)
            tr["el"].append(el)
            tr["dist"].append(d.distance)
            tr["score"].append(d.score)
    n = max(len(detections), 1)
    kept = [tr for tr in open_tracks if len(tr["frames"]) >= min_frames and len(tr["frames"]) >= min_fraction * n]
    kept.sort(key=lambda tr: -len(tr["frames"]) * float(np.mean(tr["score"])))
    counts: dict[str, int] = {}
    out = []
    for tr in kept:
        k = counts.get(tr["cls"], 0)
        counts[tr["cls"]] = k + 1
        t = times[tr["frames"]]
        out.append(SourceTrack(f"{tr['cls']}{k if k else ''}", t, np.array(tr["az"]), np.array(tr["el"]),
                               np.clip(np.array(tr["dist"]), 0.3, 20.0),
                               info={"class": tr["cls"], "detector": "objects", "frames_seen": len(t),
                                     "mean_score": round(float(np.mean(tr["score"])), 3)}))
    return out


_DETECTORS: dict = {}


def object_tracks(video: str | Path | None, detector: ObjectDetector | None = None, fps: float = 2.0,
                  fov_deg: float | None = None, mirror: bool = False, weights: str | Path | None = None,
                  frames: list | None = None, probe_every: int = 4) -> list:
    """The object tracks of a video: frames decoded at ``fps`` and at the trunk's input size (mirrored left-right
    with ``mirror``), detected, linked; ``weights``: a detector file other than the shipped one. ``frames``:
    ``(t, rgb)`` pairs already decoded (e.g. the localizer's keyframes, already mirrored if need be) instead.
    ``probe_every``: look at every n-th frame first and stop there when it shows nothing (real footage)."""
    from ..dsp.geometry import horizontal_fov
    from ..io.framestore import frame_times
    from ..io.media import iter_frames

    if detector is None:
        key = str(weights or WEIGHTS)
        if key not in _DETECTORS:
            _DETECTORS[key] = ObjectDetector.load(weights)
        detector = _DETECTORS[key]
    w = detector.trunk.input_size[0]
    if frames is None:
        frames = [(t, rgb[:, ::-1] if mirror else rgb) for t, rgb in iter_frames(video, fps, w, fast=True)]
    if not frames:
        return []
    import cv2

    times = frame_times(frames)
    fh, fw = frames[0][1].shape[:2]

    def detect(idx: list[int]) -> list:
        out = []
        for i in range(0, len(idx), 32):  # at the trunk's input size, a batch at a time (bounded memory)
            batch = np.stack([f if f.shape[1] == w else cv2.resize(f, (w, int(round(w * fh / fw))),
                                                                   interpolation=cv2.INTER_AREA)
                              for f in (frames[j][1] for j in idx[i:i + 32])])
            out += detector.detect(batch)
        return out

    # every probe_every-th frame first: nothing there, nothing anywhere (a track must be seen in a quarter of the
    # frames; on the 191 synthetic test clips the probe found something in every clip that has a track)
    probe = list(range(0, len(frames), max(1, probe_every)))
    dets: list = [None] * len(frames)
    for j, d in zip(probe, detect(probe)):
        dets[j] = d
    if not any(dets[j] for j in probe):
        return []
    rest = [j for j in range(len(frames)) if dets[j] is None]
    for j, d in zip(rest, detect(rest)):
        dets[j] = d
    return link_tracks(times, dets, w, int(round(w * fh / fw)), horizontal_fov(fov_deg, fw, fh))
