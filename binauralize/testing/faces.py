"""Synthetic talking-face clips for tests and benchmarks: real face photographs (scikit-image's public-domain
astronaut portrait) placed in a frame, with a mouth that opens with an audio envelope."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .clips import make_clip


def face_image(size: int = 110) -> tuple[np.ndarray, tuple[float, float]]:
    """RGB face crop ``[size, size, 3]`` and the mouth centre (x, y) as fractions of it."""
    import cv2
    from skimage import data

    img = data.astronaut()[30:230, 125:325]  # head of the portrait; face box ~(52-147, 36-131) here
    face = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return face, (99 / 200, 113 / 200)


def speech_envelope(seconds: float, fps: float, seed: int) -> np.ndarray:
    """A syllable-like on/off envelope in [0, 1] sampled at ``fps`` (3-6 syllables per second, pauses)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    env = np.zeros(n)
    i = 0
    while i < n:
        on = int(rng.integers(1, 4))
        off = int(rng.integers(1, 5))
        env[i:i + on] = rng.uniform(0.5, 1.0)
        i += on + off
    return env


def envelope_audio(env: np.ndarray, fps: float, seconds: float, sr: int, seed: int) -> np.ndarray:
    """Noise shaped by ``env`` (interpolated to audio rate), band-limited like speech -> float32 ``[1, T]``."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed + 100)
    t = np.arange(int(seconds * sr)) / sr
    e = np.interp(t, (np.arange(len(env)) + 0.5) / fps, env)
    x = sosfilt(butter(4, [150, 4000], btype="band", fs=sr, output="sos"), rng.standard_normal(t.size))
    x = x * e
    return (0.4 * x / (np.max(np.abs(x)) + 1e-9))[None].astype(np.float32)


def talking_faces_clip(path: str | Path, faces_x: list[float], talking: int | None, seconds: float = 4.0,
                       fps: int = 10, width: int = 480, height: int = 270, sr: int = 16000, seed: int = 0,
                       mirror: bool = False, face_size: int = 140) -> Path:
    """A clip with faces centred at ``faces_x`` (fractions of the width); face ``talking`` opens its mouth with the
    audio's envelope, the others with an independent envelope (they fidget but do not speak). ``talking=None``:
    nobody moves. ``mirror`` flips the picture left-right."""
    import cv2

    face, (mx, my) = face_image(face_size)
    env = speech_envelope(seconds, fps, seed)
    other = [speech_envelope(seconds, fps, seed + 7 + k) for k in range(len(faces_x))]
    audio = envelope_audio(env, fps, seconds, sr, seed)
    bg = np.full((height, width, 3), 70, np.uint8)
    bg[:, :, 2] = 90

    def draw(i, w, h):
        img = bg.copy()
        for k, fx in enumerate(faces_x):
            f = face.copy()
            e = env[i] if talking == k else (other[k][i] * 0.0 if talking is None else other[k][i] * 0.6)
            if talking is not None:
                opening = max(1, int(round(1 + 0.05 * face_size * e)))
                cv2.ellipse(f, (int(mx * face_size), int(my * face_size)), (int(0.07 * face_size), opening), 0, 0, 360,
                            (70, 25, 25), -1)
            x0 = int(fx * width - face_size / 2)
            y0 = int(height / 2 - face_size / 2)
            img[y0:y0 + face_size, x0:x0 + face_size] = f
        return img[:, ::-1].copy() if mirror else img

    return make_clip(path, seconds=seconds, sr=sr, audio=audio, width=width, height=height, fps=fps, draw=draw)
