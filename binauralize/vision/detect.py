"""Candidate sound sources in frames: faces (OpenCV's bundled Viola-Jones cascade), mouth motion inside each face,
localized motion (frame differencing) for sources that are not faces, and shot boundaries (colour histograms).

Why these detectors (see docs/localization.md): their weights install inside a registry wheel
(opencv-python-headless, Apache-2.0, ~50 MB, no downloads at run time), they run at ~20 ms per 320-px frame on one
CPU core, and they hold on real footage. MediaPipe's bundled face models need a 0.10.x wheel that pulls jax
(~600 MB) and pins numpy < 2; later wheels no longer bundle the models.

Boxes are ``(x0, y0, x1, y1)`` in pixels of the analysis frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Box:
    """A detection: pixel box in the analysis frame and a confidence (cascade level weight)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def cx(self) -> float:
        return 0.5 * (self.x0 + self.x1)

    @property
    def cy(self) -> float:
        return 0.5 * (self.y0 + self.y1)

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    def iou(self, other: "Box") -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.w * (self.y1 - self.y0) + other.w * (other.y1 - other.y0) - inter
        return inter / union if union > 0 else 0.0


class FaceDetector:
    """Frontal faces with OpenCV's Haar cascade (Viola & Jones 2001), run on a ``width``-pixel downscale.

    Args:
        width: detection width in pixels (faces narrower than ``min_face`` of it are not looked for).
        min_face: smallest face width as a fraction of the frame width.
    """

    def __init__(self, width: int = 320, min_face: float = 0.08, scale: float = 1.2, neighbours: int = 4):
        import cv2

        self.cv2 = cv2
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV face cascade not found at {path}")
        self.width, self.min_face, self.scale, self.neighbours = width, min_face, scale, neighbours

    def __call__(self, gray: np.ndarray) -> list[Box]:
        """Faces in a grayscale frame ``[H, W]`` uint8 -> boxes in that frame's pixels."""
        cv2 = self.cv2
        h, w = gray.shape
        k = self.width / w if w > self.width else 1.0
        small = cv2.resize(gray, (int(round(w * k)), int(round(h * k))), interpolation=cv2.INTER_AREA) if k < 1 else gray
        m = max(12, int(self.min_face * small.shape[1]))
        rects, _, weights = self.cascade.detectMultiScale3(small, self.scale, self.neighbours, minSize=(m, m),
                                                           outputRejectLevels=True)
        out = []
        for (x, y, bw, bh), s in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            out.append(Box(x / k, y / k, (x + bw) / k, (y + bh) / k, float(s)))
        return out


def mouth_crop(gray: np.ndarray, box: Box, size=(24, 12), rows=(0.62, 0.95)) -> np.ndarray | None:
    """The mouth region of a face box (lower middle: 25-75% across, ``rows`` of the height; the eye region with
    ``rows=(0.2, 0.5)``), resized to ``size`` and normalised to zero mean and unit variance -> float32 ``[h, w]``;
    None when the box leaves the frame."""
    import cv2

    h, w = gray.shape
    x0, x1 = box.x0 + 0.25 * box.w, box.x0 + 0.75 * box.w
    bh = box.y1 - box.y0
    y0, y1 = box.y0 + rows[0] * bh, box.y0 + rows[1] * bh
    x0, y0, x1, y1 = int(max(0, x0)), int(max(0, y0)), int(min(w, x1)), int(min(h, y1))
    if x1 - x0 < 4 or y1 - y0 < 3:
        return None
    crop = cv2.resize(gray[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return (crop - crop.mean()) / (crop.std() + 8.0)


def motion_candidate(prev: np.ndarray, cur: np.ndarray, thresh: float = 25.0) -> tuple[float, float, float, float] | None:
    """Localized motion between two small grayscale frames: (cx, cy) as fractions of the frame, energy (mean abs
    difference), and the moving fraction of pixels. None when nothing moves or everything moves (camera motion)."""
    diff = np.abs(cur.astype(np.int16) - prev.astype(np.int16))
    moving = diff > thresh
    frac = float(moving.mean())
    if frac < 0.0005 or frac > 0.15:
        return None
    ys, xs = np.nonzero(moving)
    h, w = cur.shape
    return float(xs.mean() / w), float(ys.mean() / h), float(diff[moving].mean()), frac


def colour_histogram(rgb_small: np.ndarray) -> np.ndarray:
    """Normalised 8x8x8 RGB histogram of a small frame (for shot-boundary detection)."""
    q = (rgb_small // 32).reshape(-1, 3).astype(np.int32)
    idx = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
    hist = np.bincount(idx, minlength=512).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def is_shot_boundary(h_prev: np.ndarray, h_cur: np.ndarray, threshold: float = 0.5) -> bool:
    """A cut when the histogram intersection of consecutive analysis frames falls below ``threshold``."""
    return float(np.minimum(h_prev, h_cur).sum()) < threshold
