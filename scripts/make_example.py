"""Build the bundled example: examples/example.mp4 and examples/example_tracks.json.

Picture: the NASA portrait of astronaut Eileen Collins (public domain; shipped in scikit-image as
``skimage.data.astronaut()``) sliding from the left to the right of a 640x360 frame over 8 s, on a dark background.
Sound: LibriSpeech 198-209-0000 (read by Heather Barnett, "Sense and Sensibility"; CC BY 4.0), mono, 16 kHz,
upsampled to 48 kHz. Tracks: the photo centre's azimuth through the default pinhole camera (70 deg field of view).

    .venv/bin/pip install scikit-image   # only needed to regenerate
    .venv/bin/python scripts/make_example.py --speech ../shared/data/dry_sources/198-209-0000.hq.ogg
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from binauralize.dsp.geometry import DEFAULT_FOV_DEG, pixel_to_direction
from binauralize.dsp.hrtf import resample_axis
from binauralize.testing.clips import make_clip

W, H, FPS, SECONDS, SR = 640, 360, 25, 8.0, 48000
SIZE = 200


def photo() -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    img = data.astronaut()[10:250, 105:345]  # the head, large enough for the face detector
    return (resize(img, (SIZE, SIZE), anti_aliasing=True) * 255).astype(np.uint8)


def centre_x(i: int) -> float:
    t = i / FPS
    return W * (0.2 + 0.6 * t / SECONDS)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speech", required=True, help="LibriSpeech 198-209-0000 (.ogg/.flac)")
    ap.add_argument("--out", default="examples")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    x, sr = sf.read(args.speech, always_2d=True)
    x = resample_axis(x.mean(axis=1), sr, SR)[: int(SECONDS * SR)]
    x = (0.5 * x / np.max(np.abs(x))).astype(np.float32)
    face = photo()
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = (np.linspace(30, 60, W)[None, :, None]).astype(np.uint8)

    def draw(i, w, h):
        img = bg.copy()
        cx = int(round(centre_x(i)))
        x0, y0 = cx - SIZE // 2, H // 2 - SIZE // 2
        img[y0: y0 + SIZE, x0: x0 + SIZE] = face
        return img

    make_clip(out / "example.mp4", seconds=SECONDS, sr=SR, audio=x[None], width=W, height=H, fps=FPS, draw=draw)
    times = np.arange(0, SECONDS + 1e-9, 1.0)
    az, el = pixel_to_direction(np.array([centre_x(int(t * FPS)) for t in times]), H / 2, W, H, DEFAULT_FOV_DEG)
    tracks = {"version": 1, "sources": [{"name": "speaker", "track": [[round(float(t), 3), round(float(a), 2), 0.0, 2.0]
                                                                       for t, a in zip(times, az)]}]}
    (out / "example_tracks.json").write_text(json.dumps(tracks, indent=1))
    print("wrote", out / "example.mp4", out / "example_tracks.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
