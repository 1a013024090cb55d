"""Sample a video's frames with several decoder processes, one run of keyframe-delimited segments each.

Decoding is most of the tool's time on a 1080p clip (about 9 s of one core for a minute of 8 Mbit/s H.264 on the
reference machine) and H.264 decoders gain little from threads on two cores unless the stream was cut into slices.
Segments that start at keyframes decode independently, so N processes decode N segments at once. The frames yielded
are the ones :func:`binauralize.io.media.iter_frames` yields (same ticks, same frames, same order; tested); at most
``workers + 1`` segments are held at a time, so memory does not grow with the clip's length.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .media import _open, display_orientation, sample_frames, video_stream


def keyframe_times(path: str | Path) -> list[float]:
    """Presentation times (s) of the video's keyframes, in file order, from the demuxer alone (no decoding)."""
    with _open(path) as c:
        s = video_stream(c)
        if s is None:
            return []
        return [float(p.pts * p.time_base) for p in c.demux(s) if p.is_keyframe and p.pts is not None]


def plan_segments(keyframes: list[float], segment_s: float) -> list[float]:
    """Start times of segments at least ``segment_s`` long, each starting at a keyframe (the first one first)."""
    starts: list[float] = []
    for k in sorted(set(keyframes)):
        if not starts or k - starts[-1] >= segment_s:
            starts.append(k)
    return starts


def _decode_segment(path: str, fps: float, max_width, fast: bool, orientation, t0: float, start: float,
                    stop: float | None) -> list:
    return list(sample_frames(path, fps, max_width, fast, t0=t0, start=start, stop=stop, threads=1,
                              orientation=orientation))


def _die_with_parent(parent: int | None = None) -> None:
    """Pool initializer: leave Ctrl-C to the tool's main process, and on Linux have the kernel end this process
    (SIGTERM, default action) when the process that started it, ``parent`` (a pid), ends (the tool terminates its
    analysis process when the analysis is no longer needed, on Ctrl-C too; its decoders must not linger).

    Ctrl-C reaches every process of the terminal's group. A decoder interrupted while it sends its frames back left
    half a message in the pipe, and the pool that waited for the rest never ended (the tool hung after
    "interrupted"); so the workers ignore SIGINT and the main process stops them. A worker whose parent ended before
    it got here ends at once: the kernel would not tell it, and an orphan decoder kept the analysis process's pipes
    open, so the tool never saw that process end and waited for it at exit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # nothing to clean up: end at once, even inside a blocking call
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:  # the parent ended before the death signal was asked for
        os._exit(143)


def default_workers() -> int:
    """Decoder processes: ``BINAURALIZE_DECODE_WORKERS`` if set (1: one sequential pass), else the cores this
    process may use, at most 4."""
    env = os.environ.get("BINAURALIZE_DECODE_WORKERS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def iter_frames_parallel(path: str | Path, fps: float, max_width: int | None = 640, fast: bool = False,
                         workers: int | None = None, segment_s: float = 6.0) -> Iterator[tuple[float, np.ndarray]]:
    """:func:`binauralize.io.media.iter_frames` decoded by ``workers`` processes (default: :func:`default_workers`).

    Falls back to one sequential pass for one worker or a clip with fewer than two segments of ``segment_s``
    seconds between keyframes. Yields ``(t_seconds, rgb uint8 [H, W, 3])`` in time order.
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    keys = keyframe_times(path) if workers > 1 else []
    starts = plan_segments(keys, segment_s) if keys else []
    orientation = display_orientation(path)  # here, before the decoders are forked
    if len(starts) < 2:
        yield from sample_frames(path, fps, max_width, fast, orientation=orientation)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    t0 = min(keys)  # the first decoded frame is the first keyframe (frames skipped with NONREF are never first)
    bounds = list(zip(starts, starts[1:] + [None]))
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    last_t = -math.inf
    ex = ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=ctx, initializer=_die_with_parent,
                             initargs=(os.getpid(),))
    pending = []
    nxt = 0
    try:
        while nxt < len(bounds) or pending:
            while nxt < len(bounds) and len(pending) < workers + 1:
                a, b = bounds[nxt]
                pending.append(ex.submit(_decode_segment, str(path), fps, max_width, fast, orientation, t0, a, b))
                nxt += 1
            for t, img in pending.pop(0).result():
                if t > last_t:  # a frame can serve the last tick of one segment and the first of the next
                    last_t = t
                    yield t, img
    except BaseException:  # Ctrl-C, an error, or the caller stopped early: drop the segments not started
        # The decoders finish the segment in hand (a second or so) and end; they are not terminated: one ended while
        # it sent its frames back leaves half a message in the pipe, and the pool's reader thread, which the
        # interpreter joins at exit, then waits for the rest forever.
        for f in pending:
            f.cancel()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
