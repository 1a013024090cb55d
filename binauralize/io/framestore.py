"""Frames kept for later, compressed: the localizer keeps two analysis frames a second for the object detectors and
the learned models, and held raw they grow with the video (480 x 270 RGB is 389 kB a frame: 1.4 GB an hour).

:class:`JpegFrames` is a sequence of ``(t, rgb)`` pairs like the list it replaces, each frame stored as a JPEG
(quality 95, OpenCV; about 30-60 kB) and decoded when it is read; ``times`` gives the times without decoding.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class JpegFrames(Sequence):
    """``(t, rgb uint8 [H, W, 3])`` pairs, stored JPEG-compressed; indexing or iterating decodes (a slice gives a list)."""

    def __init__(self, quality: int = 95):
        self.quality = int(quality)
        self._times: list[float] = []
        self._data: list[np.ndarray] = []

    def append(self, item: tuple[float, np.ndarray]) -> None:
        import cv2

        t, rgb = item
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("a frame could not be JPEG-encoded")
        self._times.append(float(t))
        self._data.append(buf)

    @property
    def times(self) -> np.ndarray:
        """The frames' times (s) ``[N]``, without decoding."""
        return np.array(self._times, float)

    @property
    def nbytes(self) -> int:
        return int(sum(b.nbytes for b in self._data))

    def __len__(self) -> int:
        return len(self._times)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        import cv2

        rgb = cv2.imdecode(self._data[i], cv2.IMREAD_COLOR)[..., ::-1]
        return self._times[i], np.ascontiguousarray(rgb)


def frame_times(frames) -> np.ndarray:
    """The times (s) of ``(t, rgb)`` frames: a :class:`JpegFrames`' without decoding, else read off the pairs."""
    return frames.times if isinstance(frames, JpegFrames) else np.array([t for t, _ in frames], float)
