"""Parallel frame sampling: several decoder processes over keyframe-delimited segments yield exactly the frames
of one sequential pass (same ticks, same pixels), with B-frames, skipped non-reference frames and irregular
timestamps."""
import numpy as np
import pytest

from binauralize.io.frames_parallel import iter_frames_parallel, keyframe_times, plan_segments
from binauralize.io.media import iter_frames
from binauralize.testing.clips import make_clip


def _noise_frames(i, w, h):
    """Moving noise: every frame differs, so a wrong frame cannot pass for the right one."""
    rng = np.random.default_rng(i)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[:, (i * 3) % w] = 255
    return img


def test_plan_segments_starts_at_keyframes_and_respects_the_length():
    keys = [0.0, 0.5, 1.0, 2.2, 2.4, 3.0, 5.0]
    assert plan_segments(keys, 1.0) == [0.0, 1.0, 2.2, 5.0]  # 3.0 is only 0.8 s after 2.2
    assert plan_segments(keys, 10.0) == [0.0]
    assert plan_segments([], 1.0) == []


@pytest.mark.parametrize("vfr", [False, True])
def test_parallel_sampling_equals_the_sequential_pass(tmp_path, vfr):
    clip = make_clip(tmp_path / "c.mp4", seconds=6.0, fps=30, width=96, height=64, with_audio=False,
                     draw=_noise_frames, vfr=vfr,
                     x264={"preset": "fast", "g": "15", "bf": "3", "crf": "30"})  # B-frames, keyframe every 0.5 s
    keys = keyframe_times(clip)
    assert len(plan_segments(keys, 1.0)) >= 4  # really split
    for fast in (True, False):
        for fps in (10.0, 7.0):
            seq = list(iter_frames(clip, fps, 64, fast=fast))
            par = list(iter_frames_parallel(clip, fps, 64, fast=fast, workers=2, segment_s=1.0))
            assert [t for t, _ in par] == [t for t, _ in seq]
            assert len(seq) >= int(5 * fps)
            for (_, a), (_, b) in zip(seq, par):
                np.testing.assert_array_equal(a, b)


def test_one_worker_or_one_segment_is_the_sequential_pass(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, width=64, height=48, with_audio=False,
                     draw=_noise_frames)
    seq = [t for t, _ in iter_frames(clip, 5.0, None)]
    assert [t for t, _ in iter_frames_parallel(clip, 5.0, None, workers=1)] == seq
    assert [t for t, _ in iter_frames_parallel(clip, 5.0, None, workers=2, segment_s=60.0)] == seq


def test_decode_workers_can_be_set_from_the_environment(monkeypatch):
    from binauralize.io.frames_parallel import default_workers

    monkeypatch.setenv("BINAURALIZE_DECODE_WORKERS", "1")
    assert default_workers() == 1
    monkeypatch.setenv("BINAURALIZE_DECODE_WORKERS", "junk")
    assert 1 <= default_workers() <= 4


@pytest.mark.parametrize("rotation,mirror", [(90, False), (-90, False), (180, False), (0, True), (90, True),
                                             (-90, True), (180, True)])
def test_frames_stored_sideways_are_turned_upright(tmp_path, rotation, mirror):
    """A phone's upright video is stored sideways with a display matrix (front cameras and edited files may also
    mirror it): the frames we look at must be the picture as shown. The expected pictures are ffmpeg's own
    autorotated output (ffmpeg 5.1, all seven matrices checked pixel for pixel): turned counter-clockwise by the
    angle, then mirrored left-right when the matrix mirrors."""
    def draw(i, w, h):
        f = np.zeros((h, w, 3), np.uint8)
        f[: h // 4, w // 4: w // 2] = 255  # a white block at the top, left of centre, of the stored frame
        return f

    clip = make_clip(tmp_path / "r.mp4", seconds=1.0, fps=10, width=96, height=64, with_audio=False, draw=draw,
                     display_rotation=rotation, display_mirror=mirror)
    stored = make_clip(tmp_path / "s.mp4", seconds=1.0, fps=10, width=96, height=64, with_audio=False, draw=draw)
    (_, img), (_, ref) = next(iter(iter_frames(clip, 5.0, None))), next(iter(iter_frames(stored, 5.0, None)))
    shown = np.rot90(ref, rotation // 90)
    np.testing.assert_array_equal(img, shown[:, ::-1] if mirror else shown)
    ys, xs = np.nonzero(img[:, :, 0] > 128)
    if (rotation, mirror) == (0, True):  # a plain mirror: left of centre becomes right of centre, still on top
        assert xs.mean() > img.shape[1] / 2 and ys.mean() < img.shape[0] / 4
    if (rotation, mirror) == (90, False):  # the top edge turned to the left side
        assert xs.mean() < img.shape[1] / 4
    assert img.shape[:2] == ((96, 64) if rotation % 180 else (64, 96))
    small = next(iter(iter_frames(clip, 5.0, 32)))[1]  # max_width applies to the picture as shown
    assert small.shape[1] == 32 and small.shape[0] == (48 if rotation % 180 else 22)
    par = next(iter(iter_frames_parallel(clip, 5.0, None, workers=2, segment_s=0.5)))[1]
    np.testing.assert_array_equal(par, img)



def test_a_reader_that_stops_early_ends_the_decoders(tmp_path):
    """Closing the frame iterator (the caller stopped, or Ctrl-C reached it) drops the segments not started: the
    decoders end after the one in hand, and nothing is left for the interpreter to wait on at exit."""
    import multiprocessing as mp
    import time

    clip = make_clip(tmp_path / "c.mp4", seconds=8.0, fps=30, width=96, height=64, with_audio=False,
                     draw=_noise_frames, x264={"preset": "fast", "g": "15", "crf": "30"})
    before = set(mp.active_children())
    frames = iter_frames_parallel(clip, 30.0, None, workers=2, segment_s=1.0)
    next(frames)
    decoders = [q for q in mp.active_children() if q not in before]
    assert decoders, "no decoder process ran"
    frames.close()
    t0 = time.time()
    while any(q.is_alive() for q in decoders) and time.time() - t0 < 2.0:
        time.sleep(0.01)
    assert not any(q.is_alive() for q in decoders)
