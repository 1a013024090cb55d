"""Frames kept JPEG-compressed behave like the list of (t, rgb) pairs they replace, at a fraction of the memory."""
import numpy as np

from binauralize.io.framestore import JpegFrames, frame_times


def test_jpeg_frames_round_trip_and_save_memory():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:270, 0:480]
    frames = JpegFrames()
    raw = []
    for k in range(6):  # smooth pictures with some texture, as video frames are
        img = np.stack([(x + 20 * k) % 256, (y * 2) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
        img = np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
        frames.append((0.5 * k, img))
        raw.append((0.5 * k, img))
    assert len(frames) == 6 and bool(frames)
    assert np.allclose(frame_times(frames), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert np.allclose(frame_times(raw), frame_times(frames))
    t, img = frames[3]
    assert t == 1.5 and img.shape == (270, 480, 3) and img.dtype == np.uint8
    mse = np.mean((img.astype(float) - raw[3][1].astype(float)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 30  # quality 95: PSNR above 30 dB even with noisy texture
    # RGB order kept (OpenCV stores BGR): a pure red frame stays red
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    frames.append((3.0, red))
    back = frames[-1][1]
    assert back[..., 0].mean() > 240 and back[..., 2].mean() < 15
    assert [t for t, _ in frames[1:3]] == [0.5, 1.0] and [t for t, _ in frames][-1] == 3.0
    assert frames.nbytes < 0.25 * sum(f.nbytes for _, f in raw)
