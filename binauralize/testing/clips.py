"""Generate small test clips with PyAV: H.264 (or other) video plus an audio track from a numpy signal."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..io.media import make_audio_frame


def noise_bursts(seconds: float, sr: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Band-limited noise bursts (4 per second) ``[channels, T]`` float32, peak ~0.5: a transient, broadband signal."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 4 * t) > 0).astype(float) * np.exp(-((t * 4) % 1) * 6)
    x = rng.standard_normal(t.size) * env * 0.25
    return np.repeat(x[None], channels, axis=0).astype(np.float32)


def make_clip(path: str | Path, seconds: float = 1.0, sr: int = 48000, audio: np.ndarray | None = None,
              width: int = 64, height: int = 48, fps: int = 10, video: bool = True, with_audio: bool = True,
              vcodec: str = "libx264", acodec: str = "aac", pix_fmt: str = "yuv420p", vfr: bool = False,
              draw: Callable[[int, int, int], np.ndarray] | None = None, channels: int = 1,
              metadata: dict | None = None, x264: dict | None = None, display_rotation: int = 0,
              display_mirror: bool = False) -> Path:
    """Write a clip to ``path``. ``audio``: ``[C, T]`` float; default noise bursts. ``draw(i, w, h)`` -> RGB frame.
    ``vfr``: irregular frame timestamps (variable frame rate). ``x264``: encoder options replacing the defaults
    (ultrafast, a keyframe every second, no B-frames). ``display_rotation``: degrees counter-clockwise written in
    the container's display matrix (how phones store upright video: frames sideways, a matrix to turn them);
    ``display_mirror``: the matrix also mirrors left-right."""
    import av

    path = Path(path)
    if audio is None and with_audio:
        audio = noise_bursts(seconds, sr, channels=channels)
    with av.open(str(path), "w") as c:
        for k, v in (metadata or {}).items():
            c.metadata[k] = v
        vs = None
        if video:
            vs = c.add_stream(vcodec, rate=fps)
            vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
            vs.time_base = Fraction(1, 1000 if vfr else fps)
            if vcodec == "libx264":
                vs.options = x264 or {"preset": "ultrafast", "g": str(fps), "crf": "18"}
            if display_rotation or display_mirror:
                vs.set_display_rotation(display_rotation, hflip=display_mirror)
        a_s = None
        if with_audio:
            layout = {1: "mono", 2: "stereo", 6: "5.1"}[audio.shape[0]]
            a_s = c.add_stream(acodec, rate=sr, layout=layout)
        if video:
            n = int(round(seconds * fps))
            t_ms = 0
            rng = np.random.default_rng(1)
            for i in range(n):
                img = draw(i, width, height) if draw else _default_frame(i, width, height)
                fr = av.VideoFrame.from_ndarray(img, format="rgb24")
                if vfr:
                    fr.pts = t_ms
                    t_ms += int(rng.choice([50, 100, 150]) * 10 / fps)
                else:
                    fr.pts = i
                for p in vs.encode(fr):
                    c.mux(p)
            for p in vs.encode(None):
                c.mux(p)
        if with_audio:
            fmt = a_s.codec_context.format.name
            step = 4096
            for i in range(0, audio.shape[1], step):
                blk = np.ascontiguousarray(audio[:, i:i + step], dtype=np.float32)
                fr = make_audio_frame(blk, fmt, sr, layout=a_s.layout.name)
                fr.pts = i
                for p in a_s.encode(fr):
                    c.mux(p)
            for p in a_s.encode(None):
                c.mux(p)
    return path


def _default_frame(i: int, w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = (i * 23) % 256
    img[: h // 2, : w // 2, 1] = 200
    img[h // 3:, w // 3:, 2] = (np.arange(w - w // 3)[None, :] * 3) % 256
    return img
