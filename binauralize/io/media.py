"""Media input/output with PyAV (FFmpeg): probe, stream the audio as float, sample frames with timestamps, and
write the result by copying the original video stream packet for packet and adding the binaural track.

Nothing here holds a whole file in memory: audio comes in chunks, video packets go straight from demuxer to muxer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import InputError, LossNotice, OutputError

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}
AUDIO_EXTS = {".wav", ".flac"}

CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
"""Output extension -> FFmpeg muxer name."""
# Output audio codec per container: (lossy default, lossless option)
CONTAINER_CODECS = {
    ".mp4": ("aac", "alac"), ".m4v": ("aac", "alac"), ".mov": ("aac", "alac"),
    ".mkv": ("aac", "flac"), ".avi": ("aac", "pcm_s16le"), ".webm": ("libopus", None),
}
AAC_PRIMING = 1024  # samples FFmpeg's AAC encoder puts before the sound (its initial padding)
CODEC_MAX_RATE = {"aac": 96000, "libopus": 48000}
CODEC_FIXED_RATES = {"libopus": (48000, 24000, 16000, 12000, 8000)}


@dataclass
class MediaInfo:
    """What a media file holds. Times in seconds."""

    path: str
    format_name: str
    duration: float | None
    audio_index: int | None
    sample_rate: int | None
    channels: int | None
    audio_codec: str | None
    audio_start: float
    video_index: int | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    other_streams: list = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.video_index is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None


# Probe without decoding pictures: FFmpeg's stream-info probe otherwise decodes the first frames of every video
# stream to learn the pixel format, ~0.25 s of CPU per open of a 1080p H.264 file (the tool opens the input about a
# dozen times: probe, keyframe scan, one per decoded segment, two audio passes, the muxer). Every value the tool
# reads (size, rate, duration, audio format) comes from the headers; decoding later finds the pixel format itself.
_FAST_PROBE = [{"skip_frame": "all"}] * 64


def _open(path: str | Path, decode_probe: bool = False):
    """Open ``path`` for reading (InputError when it cannot be). ``decode_probe``: let FFmpeg decode the first
    frames while probing, as it does by default; the stream copy needs it for Matroska, whose packets carry no
    decode times: FFmpeg infers them from the frame reordering it learns by decoding (without, the inferred times
    of a stream with B-frames go backwards and no muxer takes them)."""
    import av

    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a media file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input is empty (0 bytes): {path}")
    try:
        c = None if decode_probe else av.open(str(path), mode="r", metadata_errors="ignore",
                                              stream_options=_FAST_PROBE)
    except Exception:  # e.g. MPEG-TS/PS (streams appear only while probing); the full probe below reports errors
        c = None
    if c is not None:
        if all(s.type != "video" or (s.codec_context.width and s.codec_context.height) for s in c.streams):
            return c
        c.close()  # the frame size is not in the container's headers: decode while probing after all
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot read {path.name}: not a media file FFmpeg can decode, or it is truncated/corrupt ({reason})")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open {path.name}: {exc}")


def probe(path: str | Path) -> MediaInfo:
    """Describe ``path`` (streams, rates, duration). Raises InputError on anything unreadable."""
    with _open(path) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        if a is not None and a.codec_context is None:
            raise InputError(f"{Path(path).name}: its audio codec is not supported by this FFmpeg build "
                             "(convert it to PCM/AAC/FLAC first)")
        v = video_stream(c)
        dur = float(c.duration / 1_000_000) if c.duration else None
        info = MediaInfo(
            path=str(path), format_name=c.format.name, duration=dur,
            audio_index=a.index if a is not None else None,
            sample_rate=int(a.codec_context.sample_rate) if a is not None and a.codec_context.sample_rate else None,
            channels=int(a.codec_context.channels) if a is not None else None,
            audio_codec=a.codec_context.name if a is not None else None,
            audio_start=float(a.start_time * a.time_base) if a is not None and a.start_time is not None else 0.0,
            video_index=v.index if v is not None else None,
        )
        if v is not None:
            info.width, info.height = v.codec_context.width, v.codec_context.height
            rate = v.average_rate or v.base_rate or v.guessed_rate
            info.fps = float(rate) if rate else None
            info.video_codec = v.codec_context.name
        info.other_streams = [s.type for s in c.streams if s.index not in (info.audio_index, info.video_index)]
    if a is None:
        pass
    elif not info.sample_rate:
        raise InputError(f"{Path(path).name}: the audio stream has no sample rate (unsupported or corrupt codec)")
    return info


def _is_cover_art(stream) -> bool:
    try:
        return bool(stream.disposition & 0x0400)  # AV_DISPOSITION_ATTACHED_PIC
    except Exception:
        return False


def video_stream(container):
    """The container's picture stream (the first video stream that is not cover art), or None."""
    return next((s for s in container.streams.video if not _is_cover_art(s)), None)


_RGB_ONE_THREAD = {"threads": 1}


def _rgb(frame, **kw) -> np.ndarray:
    """VideoFrame -> RGB uint8 ``[H, W, 3]`` (``kw``: width, height, interpolation), scaled on the calling thread.
    PyAV 18.1.1 scales with a pool of threads by default and keeps its scaler between calls: a process forked
    after one scale inherited the scaler without its threads and hung in the next (the tool's frame decoders
    are forked). Older PyAV has no ``threads`` and scales on one thread anyway."""
    global _RGB_ONE_THREAD
    try:
        return frame.to_ndarray(format="rgb24", **kw, **_RGB_ONE_THREAD)
    except TypeError:
        if not _RGB_ONE_THREAD:
            raise
        _RGB_ONE_THREAD = {}
        return frame.to_ndarray(format="rgb24", **kw)


def _frame_to_float(frame) -> np.ndarray:
    """AudioFrame -> float32 ``[C, n]`` in [-1, 1]."""
    arr = frame.to_ndarray()
    ch = len(frame.layout.channels)
    if not frame.format.is_planar:
        arr = arr.reshape(-1, ch).T
    kind = arr.dtype
    if kind == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    elif kind == np.int32:
        arr = arr.astype(np.float32) / 2147483648.0
    elif kind == np.uint8:
        arr = (arr.astype(np.float32) - 128.0) / 128.0
    elif kind == np.int64:
        arr = (arr.astype(np.float64) / 9.223372036854776e18).astype(np.float32)
    else:
        arr = arr.astype(np.float32)
    return arr


def iter_audio(path: str | Path, stream_index: int | None = None) -> Iterator[np.ndarray]:
    """Decode the audio track as float32 chunks ``[C, n]`` at its native rate (one chunk per decoded frame).
    An LFE channel, if any, is left out."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            raise InputError(f"{Path(path).name} has no audio track")
        s = c.streams.audio[0] if stream_index is None else c.streams[stream_index]
        s.thread_type = "AUTO"
        try:
            for frame in c.decode(s):
                x = _frame_to_float(frame)
                names = [ch.name for ch in frame.layout.channels]
                if "LFE" in names and len(names) > 1:  # the low-frequency effects channel is not part of the scene
                    x = x[[i for i, n in enumerate(names) if n != "LFE"]]
                yield x
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name}: audio could not be decoded ({getattr(exc, 'strerror', exc)}); the file may be corrupt")


class DownmixMonitor:
    """Downmixes ``[C, n]`` chunks to mono and measures how different the channels are (mid vs side energy)."""

    def __init__(self):
        self.mid = 0.0
        self.side = 0.0
        self.samples = 0
        self.peak = 0.0
        self.channels = None
        self.non_finite = 0  # NaN or infinite input samples, set to 0 (a float file can hold them)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        self.channels = chunk.shape[0]
        bad = ~np.isfinite(chunk)
        if bad.any():
            self.non_finite += int(bad.sum())
            chunk = np.where(bad, 0.0, chunk).astype(chunk.dtype)
        mono = chunk.mean(axis=0)
        if chunk.shape[0] > 1:
            self.mid += float(np.sum(mono.astype(np.float64) ** 2))
            self.side += float(np.sum((chunk - mono).astype(np.float64) ** 2) / chunk.shape[0])
        self.samples += mono.size
        if mono.size:
            self.peak = max(self.peak, float(np.max(np.abs(mono))))
        return mono

    @property
    def side_to_mid_db(self) -> float | None:
        """Energy of the channel differences relative to the mono, dB (None for mono or silent input; +inf when
        the channels cancel, e.g. one in antiphase to the other: the downmix is silent)."""
        if self.channels in (None, 1) or (self.mid <= 0 and self.side <= 0):
            return None
        if self.mid <= 1e-12 * self.side:
            return math.inf
        return 10 * math.log10(max(self.side, 1e-30) / self.mid)


Orientation = tuple[int, int, int, int]
"""The linear part ``(a, b, c, d)`` of a display matrix, signs only: a stored pixel ``(x, y)`` is shown at
``(a x + c y, b x + d y)`` (FFmpeg's convention, libavutil/display.h); ``(1, 0, 0, 1)``: shown as stored."""

UPRIGHT: Orientation = (1, 0, 0, 1)


def frame_side_data(frame) -> list:
    """A decoded frame's side-data entries (``av.sidedata.SideData``: ``.type``, ``bytes()``). PyAV up to 18.1.0
    iterates over the entries themselves, 18.1.1 over their types, as a mapping (type -> entry)."""
    container = frame.side_data
    return [x if hasattr(x, "type") else container[x] for x in container]


def display_orientation(path: str | Path) -> Orientation:
    """How the video of ``path`` is shown: the display matrix of its first frame (phone videos shot upright are
    stored sideways with a matrix saying so; front cameras and edited files may also mirror), reduced to the signs
    of its linear part. :data:`UPRIGHT` without a matrix, or for a matrix that is not a quarter turn or mirror.

    Read once per file in the calling process, before any decoder process is forked: PyAV's side-data objects form
    reference cycles, and forked decoders that inherited them hung in garbage collection."""
    import gc

    import av

    m = None
    try:
        with _open(path) as c:
            s = video_stream(c)
            if s is not None:
                for frame in c.decode(s):
                    for sd in frame_side_data(frame):
                        if sd.type.name == "DISPLAYMATRIX":
                            m = np.frombuffer(bytes(sd), "<i4")[:5].tolist()
                    break
    except (av.error.FFmpegError, InputError):
        m = None
    except Exception:  # noqa: BLE001 - e.g. a side-data API PyAV changed (18.1.1 did): the picture is shown as
        # stored rather than the run stopped (the rotation tests catch such a change)
        m = None
    finally:
        gc.collect()  # free the side data's reference cycles here, not in a forked child
    if not m:
        return UPRIGHT
    a, b, c, d = (int(np.sign(v)) if abs(v) > 0x8000 else 0 for v in (m[0], m[1], m[3], m[4]))
    if sorted((abs(a), abs(d))) == [1, 1] and b == c == 0 or sorted((abs(b), abs(c))) == [1, 1] and a == d == 0:
        return (a, b, c, d)
    return UPRIGHT  # an arbitrary angle: shown as stored (ffmpeg would rotate and pad)


def orient_image(img: np.ndarray, orientation: Orientation) -> np.ndarray:
    """``img`` (``[H, W, ...]``, as stored) as shown under ``orientation`` (:func:`display_orientation`); the same
    pixels as ffmpeg's autorotation (transpose / hflip / vflip), checked for all eight quarter turns and mirrors."""
    a, b, c, d = orientation
    if a == 0:  # a quarter turn: shown x follows stored y
        img = img.swapaxes(0, 1)
        if c < 0:
            img = img[:, ::-1]
        if b < 0:
            img = img[::-1]
    else:
        if a < 0:
            img = img[:, ::-1]
        if d < 0:
            img = img[::-1]
    return np.ascontiguousarray(img)


def iter_frames(path: str | Path, fps: float, max_width: int | None = 640,
                fast: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """Sample video frames at ``fps`` using their real presentation timestamps (variable frame rate safe).

    Yields ``(t_seconds, rgb uint8 [H, W, 3])``: for every analysis tick t0 + k / fps (t0: the first frame's time),
    the first decoded frame at or after it, each frame at most once, turned upright as its display matrix says
    (:func:`display_orientation`), scaled to ``max_width`` pixels wide as shown (aspect kept) when wider. ``fast``: for
    analysis only, skip the decoder's deblocking filter and frames no other frame refers to (~30% less decoding
    work; slightly blockier pictures, and the frames seen are the reference frames nearest to each tick).
    :func:`binauralize.io.frames_parallel.iter_frames_parallel` yields the same frames from several processes.
    """
    yield from sample_frames(path, fps, max_width, fast, orientation=display_orientation(path))


def sample_frames(path: str | Path, fps: float, max_width: int | None = 640, fast: bool = False,
                  t0: float | None = None, start: float | None = None, stop: float | None = None,
                  threads: int = 0, orientation: Orientation = UPRIGHT) -> Iterator[tuple[float, np.ndarray]]:
    """:func:`iter_frames` restricted to the ticks in ``[start, stop)`` (seconds), for one segment of a parallel
    decode: seeks to the keyframe at or before ``start`` (give the time of a keyframe) and decodes on past ``stop``
    only as far as the segment's last tick needs. ``t0``: the first tick (default: the first decoded frame's time).
    ``threads``: the decoder's own threads (0: FFmpeg's choice). ``orientation``: how the frames are shown
    (:func:`display_orientation`, read by the caller once per file)."""
    import av

    with _open(path) as c:
        s = video_stream(c)
        if s is None:
            raise InputError(f"{Path(path).name} has no video stream")
        s.thread_type = "AUTO"
        s.thread_count = threads
        if fast:
            s.codec_context.options = {"skip_loop_filter": "all"}
            s.codec_context.skip_frame = "NONREF"
        next_t = t0
        if start is not None and start > 0:
            c.seek(int(round(start / s.time_base)), stream=s, backward=True, any_frame=False)
        try:
            for frame in c.decode(s):
                if frame.pts is None:
                    continue
                t = float(frame.pts * frame.time_base)
                if next_t is None:
                    next_t = t
                if start is not None:
                    while next_t < start:  # the ticks before this segment (same float sums as a whole pass)
                        next_t += 1.0 / fps
                if stop is not None and next_t >= stop:
                    return
                if t + 1e-6 < next_t:
                    continue
                w, h = frame.width, frame.height
                turned = orientation[0] == 0  # a quarter turn: shown width = stored height
                shown_w = h if turned else w
                if max_width and shown_w > max_width:
                    k = max_width / shown_w  # scaled to max_width across as shown, the other side even
                    nw, nh = ((max(2, int(round(w * k / 2)) * 2), max_width) if turned
                              else (max_width, max(2, int(round(h * k / 2)) * 2)))
                    img = _rgb(frame, width=nw, height=nh, interpolation="FAST_BILINEAR")
                else:
                    img = _rgb(frame)
                yield t, (img if orientation == UPRIGHT else orient_image(img, orientation))
                while next_t <= t + 1e-6:
                    next_t += 1.0 / fps
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name}: video could not be decoded ({getattr(exc, 'strerror', exc)})")


def output_codec(out_path: Path, lossless: bool, sample_rate: int) -> tuple[str, int]:
    """(codec name, output sample rate) for a video container, keeping the input rate when the codec allows."""
    ext = out_path.suffix.lower()
    lossy, lossless_codec = CONTAINER_CODECS[ext]
    codec = lossless_codec if lossless else lossy
    if codec is None:
        raise OutputError(f"{ext} cannot hold lossless audio; use .mkv, .mp4 or .mov with --lossless")
    rate = sample_rate
    if codec in CODEC_FIXED_RATES:
        rates = CODEC_FIXED_RATES[codec]
        rate = min((r for r in rates if r >= sample_rate), default=max(rates))
    elif codec in CODEC_MAX_RATE:
        rate = min(sample_rate, CODEC_MAX_RATE[codec])
    return codec, rate


def mux_video_with_audio(in_path: str | Path, out_path: str | Path, audio: Iterator[np.ndarray], sample_rate: int,
                         codec: str, audio_start: float = 0.0, bit_rate: int = 256_000,
                         on_notice: Callable[[str], None] | None = None, keep_original_audio: bool = False,
                         container_format: str | None = None, name: str | None = None) -> dict:
    """Copy every non-audio stream of ``in_path`` packet for packet into ``out_path`` and add a stereo track
    encoded with ``codec`` from ``audio`` (float ``[2, n]`` chunks at ``sample_rate``).

    Packets are interleaved as they are read (the audio generator is pulled just ahead of the video's decode
    timestamps), so memory stays flat. Returns counts of copied packets per stream for the report. ``name``: the
    output's name in error messages (default: ``out_path``'s; the tool writes to a temporary name first).
    """
    import av

    notice = on_notice or (lambda m: None)
    stats = {"video_packets": 0, "other_packets": 0, "audio_samples": 0}
    try:
        with _open(in_path, decode_probe=Path(in_path).suffix.lower() in (".mkv", ".webm", ".mka", ".mk3d")) as inp, \
                av.open(str(out_path), mode="w", format=container_format) as out:
            _mux(inp, out, Path(in_path), name or Path(out_path).name, audio, sample_rate, codec, audio_start,
                 bit_rate, notice, keep_original_audio, stats)
    except av.error.FFmpegError as exc:  # opening, writing the header or closing the output
        raise OutputError(f"cannot write {name or Path(out_path).name}: {getattr(exc, 'strerror', None) or exc}")
    return stats


def _kept_streams(inp, out, out_path: Path, keep_original_audio: bool, notice) -> dict:
    """Input stream index -> its copy in ``out`` (every stream but the audio, unless kept). A video stream the
    container cannot hold is an OutputError (no silent loss of the picture); other streams get a notice."""
    import av

    mapping = {}
    picture = next((s.index for s in inp.streams if s.type == "video"
                    and not s.disposition & av.stream.Disposition.attached_pic), None)  # not a cover image
    ext = out_path.suffix.lower()
    for s in inp.streams:
        if s.type == "audio" and not keep_original_audio:
            continue
        what = f"{s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else s.metadata.get('handler_name', '?')})"
        if s.type == "data" and s.codec_context is None:  # e.g. a QuickTime timecode track: no packets to copy
            notice(LossNotice(f"the {'timecode track' if 'timecode' in s.metadata else 'data stream'} #{s.index} is "
                              "left out" + (" (the picture's timecode stays in its metadata)"
                                            if "timecode" in s.metadata else "")))
            continue
        try:
            mapping[s.index] = out.add_stream_from_template(s)
        except Exception:  # container cannot hold this stream type
            if s.index == picture:
                others = " or ".join(e for e in (".mkv (holds any)", ".mp4", ".mov") if not e.startswith(ext))
                raise OutputError(f"{ext} cannot hold the input's {what}: choose {others}")
            notice(LossNotice(f"the {what} cannot be kept in {ext} and is left out"
                              + ("" if ext == ".mkv" else " (.mkv keeps it)")))
    return mapping


def with_decode_times(packets):
    """Demuxed packets -> the same packets, each with a decode time (dts), in order; the demuxer's empty flush
    packets are dropped. Matroska stores presentation times only, so the first packets of a stream with B-frames
    come without a dts (until the demuxer can infer one): they are given the dts that precede the first inferred
    one, one frame duration apart, as FFmpeg's stream copy does, so that no packet (the first keyframe among them)
    is lost and the muxer gets increasing decode times."""
    waiting: dict[int, list] = {}  # stream index -> packets still without a dts
    last: dict[int, int] = {}
    for pkt in packets:
        if pkt.size == 0:  # flush
            continue
        i = pkt.stream.index
        if pkt.dts is None and i not in last:
            waiting.setdefault(i, []).append(pkt)
            continue
        if pkt.dts is None or pkt.dts <= last.get(i, pkt.dts - 1):  # later in the stream: next after the last
            pkt.dts = last[i] + 1 if pkt.dts is not None else last[i] + max(1, int(pkt.duration or 1))
            if pkt.pts is not None and pkt.pts < pkt.dts:
                pkt.dts = max(pkt.pts, last[i] + 1)
        if i in waiting:
            yield from _backfilled(waiting.pop(i), pkt.dts)
        last[i] = pkt.dts
        yield pkt
    for held in waiting.values():  # a stream that never got a dts: presentation order is decode order
        base = min((p.pts for p in held if p.pts is not None), default=0)
        yield from _backfilled(held, base + sum(max(1, int(p.duration or 1)) for p in held))


def _backfilled(held: list, first_known: int) -> list:
    """``held`` packets given decode times before ``first_known``, one duration apart."""
    step = max(1, int(next((p.duration for p in held if p.duration), 1)))
    for k, p in enumerate(held):
        p.dts = first_known - (len(held) - k) * step
        if p.pts is not None and p.pts < p.dts:
            p.dts = p.pts
    return held


def check_video_output(in_path: str | Path, out_path: str | Path, keep_original_audio: bool = False) -> None:
    """Before any work: OutputError when ``out_path``'s container cannot hold ``in_path``'s video stream."""
    import io

    import av

    fmt = CONTAINER_FORMATS.get(Path(out_path).suffix.lower())
    if fmt is None:
        return
    with _open(in_path) as inp, av.open(io.BytesIO(), mode="w", format=fmt) as out:
        _kept_streams(inp, out, Path(out_path), keep_original_audio, lambda m: None)


def _mux(inp, out, in_path: Path, out_name: str, audio, sample_rate: int, codec: str, audio_start: float,
         bit_rate: int, notice, keep_original_audio: bool, stats: dict) -> None:
    import av

    def put(packet) -> None:
        try:
            out.mux(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"cannot write {out_name}: {getattr(exc, 'strerror', None) or exc}")

    mapping = _kept_streams(inp, out, Path(out_name), keep_original_audio, notice)
    a = out.add_stream(codec, rate=sample_rate, layout="stereo")
    if keep_original_audio:  # players pick the default track: the binaural one, named
        a.metadata["title"] = "binaural"
        for i, s in mapping.items():
            if inp.streams[i].type == "audio":
                s.disposition = av.stream.Disposition(0)
        a.disposition = av.stream.Disposition.default
    if codec in ("aac", "libopus"):
        a.bit_rate = bit_rate
    formats = [f.name for f in (a.codec_context.codec.audio_formats or [])]
    for pref in ("fltp", "flt", "s32p", "s32", "s16p", "s16"):  # the highest resolution the encoder takes
        if pref in formats:
            a.codec_context.format = pref
            break
    a.time_base = Fraction(1, sample_rate)
    try:
        for k, v in inp.metadata.items():
            out.metadata[k] = v
    except Exception:
        pass
    fmt_name = a.codec_context.format.name if a.codec_context.format else "fltp"
    offset = int(round(audio_start * sample_rate))
    # AVI cannot say that an AAC stream starts with the encoder's 1024 priming samples (MP4 and Matroska can), so
    # players start the sound 21 ms late (measured: 1024 samples): there the first 1024 samples are left out instead,
    # which puts every later sample at its time
    state = {"written": 0, "done": False, "skip": AAC_PRIMING if out.format.name == "avi" and codec == "aac" else 0,
             "dropped": 0}

    def pump(until_s: float) -> None:
        while not state["done"] and (offset + state["written"]) / sample_rate < until_s:
            try:
                chunk = next(audio)
            except StopIteration:
                state["done"] = True
                break
            if state["skip"]:
                drop = min(state["skip"], chunk.shape[-1])
                chunk, state["skip"], state["dropped"] = chunk[:, drop:], state["skip"] - drop, state["dropped"] + drop
            if chunk.shape[-1] == 0:
                continue
            frame = make_audio_frame(chunk, fmt_name, sample_rate)
            frame.pts = offset + state["written"]
            state["written"] += chunk.shape[-1]
            for p in a.encode(frame):
                put(p)

    # AVI holds H.264/HEVC in Annex B form (as `ffmpeg -c copy` converts it): the same NAL units, other framing
    annexb = {}
    if out.format.name == "avi":
        from av.bitstream import BitStreamFilterContext

        for i, o in mapping.items():
            cc = inp.streams[i].codec_context
            avcc = cc is not None and cc.extradata is not None and cc.extradata[:1] == b"\x01"  # MP4-style framing
            if cc is not None and cc.name == "h264" and avcc:  # (from MPEG-TS it is Annex B already)
                annexb[i] = BitStreamFilterContext("h264_mp4toannexb", inp.streams[i], o)
    streams = [inp.streams[i] for i in mapping]

    def demuxed():
        try:
            yield from (inp.demux(streams) if streams else [])
        except av.error.FFmpegError as exc:
            raise InputError(f"{in_path.name}: demuxing failed ({getattr(exc, 'strerror', exc)}); the file may be "
                             "corrupt")

    for pkt in with_decode_times(demuxed()):
        t = float(pkt.dts * pkt.time_base) if pkt.time_base else 0.0
        pump(t + 0.5)
        kind, i = pkt.stream.type, pkt.stream.index
        for q in annexb[i].filter(pkt) if i in annexb else [pkt]:
            q.stream = mapping[i]
            put(q)
        stats["video_packets" if kind == "video" else "other_packets"] += 1
    for i, f in annexb.items():
        for q in f.filter(None):
            q.stream = mapping[i]
            put(q)
    pump(float("inf"))
    for p in a.encode(None):
        put(p)
    stats["audio_samples"] = state["written"] + state["dropped"]


def make_audio_frame(chunk: np.ndarray, fmt_name: str, sample_rate: int, layout: str = "stereo"):
    """Float ``[C, n]`` -> an AudioFrame in the encoder's sample format ``fmt_name``."""
    import av

    x = np.clip(chunk, -1.0, 1.0)
    if fmt_name in ("fltp",):
        arr = np.ascontiguousarray(x, dtype=np.float32)
    elif fmt_name == "flt":
        arr = np.ascontiguousarray(x.T.reshape(1, -1), dtype=np.float32)
    elif fmt_name == "s16":
        arr = np.ascontiguousarray((x.T * 32767).round().astype(np.int16).reshape(1, -1))
    elif fmt_name == "s16p":
        arr = np.ascontiguousarray((x * 32767).round().astype(np.int16))
    elif fmt_name == "s32":
        arr = np.ascontiguousarray((x.T * 2147483392).round().astype(np.int32).reshape(1, -1))
    elif fmt_name == "s32p":
        arr = np.ascontiguousarray((x * 2147483392).round().astype(np.int32))
    else:
        arr = np.ascontiguousarray(x, dtype=np.float32)
        fmt_name = "fltp"
    frame = av.AudioFrame.from_ndarray(arr, format=fmt_name, layout=layout)
    frame.sample_rate = sample_rate
    return frame


def write_audio_file(out_path: str | Path, audio: Iterator[np.ndarray], sample_rate: int, fmt: str | None = None) -> int:
    """Stream float ``[2, n]`` chunks to a .wav (32-bit float) or .flac (24-bit) file. Returns samples written."""
    import soundfile as sf

    out_path = Path(out_path)
    ext = (fmt or out_path.suffix.lower().lstrip("."))
    if ext == "wav":
        kw = dict(format="WAV", subtype="FLOAT")
    elif ext == "flac":
        kw = dict(format="FLAC", subtype="PCM_24")
    else:
        raise OutputError(f"unsupported audio output format: {ext}")
    n = 0
    with sf.SoundFile(str(out_path), mode="w", samplerate=int(sample_rate), channels=2, **kw) as f:
        for chunk in audio:
            x = chunk.T
            if kw["format"] == "FLAC":
                x = np.clip(x, -1.0, 1.0)
            f.write(x)
            n += chunk.shape[-1]
    return n
