"""The public Python API: :func:`binauralize_file` and the reusable :class:`Binauralizer` (the CLI wraps these).

    >>> from binauralize import Binauralizer, SourceTrack
    >>> b = Binauralizer()
    >>> report = b.process_file("clip.mp4", "clip_3d.mp4", sources=[SourceTrack.static(30)])
    >>> stereo = b.render(mono, 48000, [SourceTrack.static(-45)])   # arrays in, [2, T] out
"""
from __future__ import annotations

import math
import os
import sys
import time
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .dsp.hrtf import HRTF, DEFAULT_HRTF_CITATION
from .dsp.limiter import LookaheadLimiter
from .dsp.render import MonoMono, Renderer, RenderOptions
from .dsp.reverb import band_envelopes, estimate_t60
from .errors import InputError, LossNotice, OutputError
from .io import media
from .tracks import SourceTrack, load_tracks, tracks_to_json

LIMIT_THRESHOLD = 0.9  # the written output's ceiling (linear; -0.9 dBFS), kept by a look-ahead limiter


class EnvelopeMeter:
    """Audio level in dB per 10-ms frame over a stream of mono chunks (for audio-visual synchrony)."""

    def __init__(self, sample_rate: int, frame_s: float = 0.01):
        self.hop = max(1, int(round(sample_rate * frame_s)))
        self.frame_s = self.hop / sample_rate
        self.rest = np.zeros(0)
        self.values: list[np.ndarray] = []

    def __call__(self, mono: np.ndarray) -> None:
        x = np.concatenate([self.rest, mono])
        n = len(x) // self.hop
        if n:
            fr = x[: n * self.hop].reshape(n, self.hop)
            self.values.append(10 * np.log10(np.mean(fr.astype(np.float64) ** 2, axis=1) + 1e-12))
        self.rest = x[n * self.hop:]

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(times [N] frame centres in s, level [N] dB)."""
        db = np.concatenate(self.values) if self.values else np.zeros(0)
        return (np.arange(len(db)) + 0.5) * self.frame_s, db


class _Chunker:
    """Regroups small decoded chunks into ~``seconds``-long mono chunks (fewer Python round trips)."""

    def __init__(self, source: Iterable[np.ndarray], n: int):
        self.source, self.n = source, n

    def __iter__(self) -> Iterator[np.ndarray]:
        buf, size = [], 0
        for c in self.source:
            buf.append(c)
            size += c.shape[-1]
            if size >= self.n:
                yield np.concatenate(buf, axis=-1)
                buf, size = [], 0
        if buf:
            yield np.concatenate(buf, axis=-1)


MIN_RATE, MAX_RATE = 8000, 384000


def check_sample_rate(sample_rate, source: str | None = None) -> None:
    """InputError unless ``sample_rate`` is a finite number of Hz within [MIN_RATE, MAX_RATE]; ``source``: the file
    it was read from (for the message)."""
    ok = isinstance(sample_rate, (int, float, np.integer, np.floating)) and not isinstance(sample_rate, bool)
    if ok and np.isfinite(sample_rate) and MIN_RATE <= sample_rate <= MAX_RATE:
        return
    if source:
        raise InputError(f"{source}: audio at {sample_rate} Hz; binauralize takes {MIN_RATE}-{MAX_RATE} Hz "
                         "(resample it first)")
    raise InputError(f"sample_rate must be {MIN_RATE}-{MAX_RATE} Hz, got {sample_rate!r}")


class Binauralizer:
    """Reusable binauralizer: holds the HRTF (per sample rate) and the renderer settings.

    Args:
        hrtf: path of a SOFA file, or None for the bundled MIT KEMAR set.
        options: renderer settings (:class:`RenderOptions`).
        method: 'dsp' (the renderer), 'mono' (Mono-Mono passthrough baseline), or a learned model: a shipped name
            ('mono2binaural', 'geometry', ...) or a ``.safetensors`` checkpoint (needs PyTorch).
        hop_s: sliding-window hop of learned models (s).
        steps: sampling steps of flow-matching models.
        notice: called with one-line notices (default: print to stderr).
        progress: show progress bars.
        localize: how sources are found in the frames when none are given
            (:class:`~binauralize.vision.localize.LocalizeOptions`: camera field of view, ``objects``...).

    Raises:
        InputError (a :class:`~binauralize.errors.BinauralizeError`): an unknown method or model, or a missing or
            unreadable SOFA file.
    """

    def __init__(self, hrtf: str | Path | None = None, options: RenderOptions = RenderOptions(), method: str = "dsp",
                 notice: Callable[[str], None] | None = None, progress: bool = False,
                 localize: "LocalizeOptions | None" = None, hop_s: float = 0.1, steps: int = 4):
        self.learned = None
        self.hrtf_path = str(hrtf) if hrtf else None
        if not isinstance(options, RenderOptions):
            raise InputError(f"options must be a RenderOptions (e.g. RenderOptions(timbre='mid')), got "
                             f"{type(options).__name__}")
        self.options = options
        self.method = method
        from .vision.localize import LocalizeOptions

        if method not in ("dsp", "mono"):
            from .models.spatializer import DeferredSpatializer, open_spatializer, spatializer_traits

            def opener():
                return open_spatializer(  # InputError for unknown names
                    method, hop_s=hop_s, fov_deg=(localize or LocalizeOptions()).fov, steps=steps,
                    renderer_factory=lambda sr: Renderer(HRTF.load(self.hrtf_path, float(sr)), self.options))

            traits = spatializer_traits(method, (localize or LocalizeOptions()).fov)  # InputError: unknown, unreadable
            # a track-driven model is built when first used (process_file: while the frames are analysed)
            self.learned = opener() if traits is None else DeferredSpatializer(opener, traits)
        # track-driven models (position-conditioned) take tracks like the DSP renderer; frame-driven ones do not
        self.uses_tracks = self.learned is None or self.learned.uses_tracks
        self.notice = notice or (lambda m: print(f"binauralize: {m}", file=sys.stderr))
        self.progress = progress
        self.localize_options = localize or LocalizeOptions()
        if self.hrtf_path:
            HRTF.load(self.hrtf_path)  # fail early on a bad file

    def renderer(self, sample_rate: float, video: str | Path | None = None):
        """The renderer for ``sample_rate`` Hz (HRTF resampled to it); learned models read their frames from
        ``video``."""
        if self.method == "mono":
            return MonoMono()
        if self.learned is not None and self.uses_tracks:
            r = _TrackModelRenderer(self.learned, sample_rate, video)
            r.notice = self.notice
            return r
        if self.learned is not None:
            return _LearnedRenderer(self.learned, sample_rate, video)
        return Renderer(HRTF.load(self.hrtf_path, float(sample_rate)), self.options)

    def render(self, mono: np.ndarray, sample_rate: float, tracks: list[SourceTrack] | None = None,
               t60: float | None = None) -> np.ndarray:
        """Mono ``[T]`` float at ``sample_rate`` Hz + tracks -> binaural ``[2, T]``, same rate, aligned.

        ``tracks``: the sources (None or ``[]``: one source straight ahead). ``t60``: the recording's reverberation
        time in seconds (None: estimated from the signal when the options ask for it). The output is not limited:
        a loud source to one side can exceed 1.0 in the nearer ear (``process_file`` limits, both ears alike:
        :class:`binauralize.dsp.limiter.LookaheadLimiter`).

        The whole signal is held in memory (the result is float64, twice the input's channels); for long material use
        :meth:`process_file`, which streams. One Binauralizer may render in several threads at once: a call keeps
        no state between calls (the HRTF it loads is shared, read-only).

        Raises:
            InputError: ``mono`` not a float array of one channel, empty or not finite; ``sample_rate`` outside
                8000-384000 Hz; ``t60`` not within [0, 10] s. TracksError: ``tracks`` not a list of
                :class:`SourceTrack`.
        """
        raw = np.asarray(mono) if mono is not None else None
        if raw is None or raw.dtype.kind not in "f":
            kind = "None" if raw is None else str(raw.dtype)
            hint = " (16-bit PCM: x / 32768)" if raw is not None and raw.dtype.kind in "iu" else ""
            raise InputError(f"render takes float audio in [-1, 1], got {kind}{hint}")
        mono = raw.astype(np.float64, copy=False)
        if mono.ndim > 1 and sum(n > 1 for n in mono.shape) > 1:
            raise InputError(f"render takes one channel [T], got an array of shape {mono.shape}: downmix first "
                             "(e.g. x.mean(axis=0))")
        mono = mono.reshape(-1)
        if mono.size == 0:
            raise InputError("render got an empty signal")
        if not np.isfinite(mono).all():
            raise InputError(f"render got {int((~np.isfinite(mono)).sum())} samples that are NaN or infinite")
        check_sample_rate(sample_rate)
        if tracks is not None and (not isinstance(tracks, (list, tuple))
                                   or not all(isinstance(t, SourceTrack) for t in tracks)):
            from .errors import TracksError

            raise TracksError("tracks must be a list of SourceTrack (e.g. [SourceTrack.static(30)])")
        if t60 is not None and not (isinstance(t60, (int, float, np.floating)) and 0.0 <= float(t60) <= 10.0):
            raise InputError(f"t60 must be a number of seconds within [0, 10] (or None: estimated), got {t60!r}")
        if t60 is None:
            t60 = self.options.t60
        if t60 is None and self.options.reverb == "split" and self.uses_tracks and self.method != "mono":
            t60 = estimate_t60(band_envelopes(mono, sample_rate))
        return self.renderer(sample_rate).render(mono, tracks or [], t60=t60)

    # ------------------------------------------------------------------ files
    def process_file(self, input: str | Path, output: str | Path, sources: list[SourceTrack] | str | Path | None = None,
                     audio: str | Path | None = None, overwrite: bool = False, report: str | Path | None = None,
                     lossless: bool = False, keep_original_audio: bool = False, preview: str | Path | None = None,
                     save_tracks: str | Path | None = None, limit: bool = True) -> dict:
        """Binauralize a media file. See :func:`binauralize_file`."""
        t_start = time.perf_counter()
        if input is None or output is None:
            raise InputError("process_file needs an input and an output path")
        inp, out = Path(input), Path(output)
        if not limit and out.suffix.lower() != ".wav":
            raise OutputError(f"{out.name}: --no-limit keeps samples above full scale, which only a .wav output "
                              "(32-bit float) can hold; other formats would clip them")
        notices: list[str] = []
        sources_file = Path(sources) if isinstance(sources, (str, Path)) else None
        sources = _checked_sources(sources)  # read once here: None or a list of SourceTrack

        def say(msg: str) -> None:
            notices.append(msg)
            self.notice(msg)

        info = media.probe(inp)
        if hasattr(self.learned, "fov_deg") and self.localize_options.fov is None:
            # the picture's shape as shown sets the default camera (the localizer's resolved value replaces it)
            self.learned.fov_deg = _shown_fov(inp, info)
        audio_src = Path(audio) if audio else inp
        ainfo = media.probe(audio_src) if audio else info
        if not ainfo.has_audio:
            raise InputError(f"{audio_src.name} has no audio track (give one with --audio FILE)")
        if ainfo.sample_rate:
            check_sample_rate(ainfo.sample_rate, audio_src.name)
        _check_output(inp, out, overwrite, info.has_video, extra_inputs=[audio_src])
        _check_side_outputs([inp, audio_src, sources_file], [out], overwrite,
                            preview=preview, report=report, save_tracks=save_tracks)
        if info.has_video and out.suffix.lower() in media.VIDEO_EXTS:
            media.output_codec(out, lossless, int(ainfo.sample_rate))  # e.g. no lossless audio in .webm
            media.check_video_output(inp, out, keep_original_audio)
        extra_audio = sum(1 for k in ainfo.other_streams if k == "audio")
        if extra_audio and not keep_original_audio:
            say(LossNotice(f"{audio_src.name} has {extra_audio + 1} audio tracks: the first (stream #{ainfo.audio_index}) "
                           "is made binaural, the others are left out"
                           + ("" if audio else " (--keep-original-audio keeps them all)")))
        if preview and not info.has_video:
            raise OutputError("--preview needs a video input")
        lo = self.localize_options
        if getattr(self.learned, "separates_speech", False) and not lo.objects and sources is None and info.has_video:
            # the localizer gives the sound to one kind of source at a time; the rest needs objects seen beside faces
            lo = replace(lo, objects=True)
            say("--model speech also looks for objects (as --objects: animals, vehicles...) to put the rest of the "
                "sound on")
        if self.learned is not None and self.uses_tracks and self.learned.uses_visual:
            lo = replace(lo, keep_every_s=1.0)  # the model's crops come from the localizer's frames
        if lo.objects:
            lo = replace(lo, keep_every_s=0.5)  # the object detector looks at the localizer's frames, 2 per second
        if self.learned is not None and self.learned.uses_visual and not info.has_video:
            raise InputError(f"model {self.method} needs a video: its frames are its input")
        loc = (_Background(inp, lo) if sources is None and info.has_video and self.uses_tracks
               else None)
        tracks = (_resolve_tracks(sources, say) if self.uses_tracks and (sources is not None or not info.has_video)
                  else [])
        if not self.uses_tracks and sources is not None:
            say(f"model {self.method} places sources from the frames: --sources is ignored")
        if not self.uses_tracks and lo.objects:
            say(f"model {self.method} places sources from the frames: --objects is ignored")

        # pass 1: statistics (T60, channel differences, length) with bounded memory
        sr = int(ainfo.sample_rate)
        t0 = time.perf_counter()
        mon = media.DownmixMonitor()
        level = EnvelopeMeter(sr)
        envs, seen = [], 0
        renders_dsp = self.method != "mono" and self.uses_tracks  # the DSP renderer places the sound
        need_t60 = renders_dsp and self.options.reverb == "split" and self.options.t60 is None
        try:
            for chunk in _Chunker(media.iter_audio(audio_src, ainfo.audio_index), sr * 10):
                mono = mon(chunk)
                seen += mono.size
                level(mono)
                if need_t60:
                    envs.append(band_envelopes(mono, sr))
            if seen == 0:
                raise InputError(f"{audio_src.name}: the audio track holds no samples (zero-length media)")
            renderer = self.renderer(sr, video=inp)  # loads the HRTF while the frames are still being analysed
            if isinstance(renderer, _LearnedRenderer):
                renderer.duration_s = seen / sr
                renderer.progress = self.progress
            if isinstance(renderer, _TrackModelRenderer):
                renderer.notice = say  # into the report's notices too
            if isinstance(renderer, _LearnedRenderer):
                renderer.warm()  # builds the model while the frames are analysed in the background (a bad
                # checkpoint fails here, and the analysis is stopped with it)
        except BaseException:
            if loc is not None:
                loc.cancel()
            raise
        _tracks_outside_notice(tracks, seen / sr, say)
        if sources is not None:  # given tracks (the localizer's always give the sound to someone)
            _no_weight_notice(tracks, seen / sr, say)
        if audio and info.has_video and info.duration and seen / sr > info.duration + 0.5:
            say(f"the audio ({seen / sr:.1f} s) runs {seen / sr - info.duration:.1f} s past the end of the picture "
                f"({info.duration:.1f} s): the output holds all of it")
        if mon.non_finite:
            say(LossNotice(f"{mon.non_finite} input samples were NaN or infinite and were set to 0"))
        if mon.side_to_mid_db == math.inf:
            say(f"the input's {ainfo.channels or mon.channels} channels cancel when mixed down (one is the other "
                "inverted?): the mono, and so the output, is silent; fix the channels (e.g. invert one) and rerun")
        elif mon.side_to_mid_db is not None and mon.side_to_mid_db > -30:
            lfe = " (the LFE channel left out)" if ainfo.channels and ainfo.channels > mon.channels else ""
            say(f"input audio has {ainfo.channels or mon.channels} channels{lfe} that differ (side/mid "
                f"{mon.side_to_mid_db:.1f} dB): it may already be spatial; downmixed to mono before rendering")
        t60 = self.options.t60
        if need_t60:
            t60 = estimate_t60(np.concatenate(envs, axis=1)) if envs else None
        loc_report, fa = None, None
        if loc is not None:
            from .vision.localize import decide

            fa = loc.result(_progress(seen / sr, self.progress, f"finding the sources in {inp.name}", "video"))
            if fa.keyframes and isinstance(renderer, _TrackModelRenderer):
                renderer.keyframes = fa.keyframes
            env_t, env_db = level.result()
            tracks, loc_report = decide(fa, env_t, env_db, lo)
            lo = replace(lo, fov=loc_report["fov_deg"])  # resolved for this picture's shape (horizontal_fov)
            if hasattr(self.learned, "fov_deg") and self.localize_options.fov is None:
                self.learned.fov_deg = lo.fov  # the crops of track-driven models see the same camera
            loc_report["detect_seconds"] = fa.detect_seconds
            if lo.objects:  # its notices first: when objects take the sound, the off-screen notice is redone
                tracks = _object_tracks(inp, lo, tracks, loc_report, say, frames=fa.keyframes, fa=fa,
                                        envelope=(env_t, env_db),
                                        beside_faces=bool(getattr(self.learned, "separates_speech", False)))
            if not lo.objects and loc_report.get("off_screen"):
                loc_report["notices"].append("--objects also looks for people, vehicles and animals in the frames "
                                             "(slower; see docs/localization.md)")
            for m in loc_report["notices"]:
                say(m)
            # the kept frames served the detectors; only a model that crops the picture needs them from here on
            # (a 10-minute clip's are 20-120 MB as JPEG), and the objects' motion grid is spent
            if not (isinstance(renderer, _TrackModelRenderer) and renderer.sp.uses_visual):
                fa.keyframes = []
                if isinstance(renderer, _TrackModelRenderer):
                    renderer.keyframes = None
            fa.motion_grid = []
        t_analysis = time.perf_counter() - t0

        # pass 2: decode -> render -> limit -> encode/mux, streaming
        if isinstance(renderer, _LearnedRenderer):
            renderer.preload(tracks)  # the model's frames are read before the rendering bar starts
        limited = {"done": 0, "peak": 0.0}
        limiter = LookaheadLimiter(sr, ceiling=LIMIT_THRESHOLD) if limit else None
        bar = _progress(seen / sr, self.progress, f"rendering {inp.name}")
        if isinstance(renderer, _LearnedRenderer):  # a learned model works a block at a time: say which
            renderer.on_block = None if bar is None else (
                lambda a, b: bar.set_description_str(f"rendering {inp.name} (the model on {a:.0f}-{b:.0f} s)"))

        def rendered() -> Iterator[np.ndarray]:
            chunks = (mon(c) for c in _Chunker(media.iter_audio(audio_src, ainfo.audio_index), sr))
            ys = renderer.process(chunks, tracks, t60=t60)
            for y in (limiter.process(ys) if limiter is not None else ys):
                limited["done"] += y.shape[-1]
                if limiter is None and y.size:
                    limited["peak"] = max(limited["peak"], float(np.max(np.abs(y))))
                if bar is not None:  # the bar's total is rounded to 0.01 s: never step past it
                    bar.update(max(0.0, min(limited["done"] / sr, bar.total) - bar.n))
                yield y

        tmp = out.with_name(f".{out.stem}.partial-{uuid.uuid4().hex[:8]}{out.suffix}")
        t1 = time.perf_counter()
        out_rate = sr
        try:
            if out.suffix.lower() in media.AUDIO_EXTS:
                media.write_audio_file(tmp, rendered(), sr)
                codec = "pcm_f32le" if out.suffix.lower() == ".wav" else "flac"
                stats = {}
            else:
                codec, out_rate = media.output_codec(out, lossless, sr)
                stream = _prefetch(rendered())
                if out_rate != sr:
                    say(f"{codec} cannot carry {sr} Hz: the binaural track is resampled to {out_rate} Hz "
                        "(use --lossless or a .wav/.flac output to keep the rate)")
                    stream = _resample_stream(stream, sr, out_rate)
                stats = media.mux_video_with_audio(inp, tmp, stream, out_rate, codec, audio_start=ainfo.audio_start if not audio else 0.0,
                                                   on_notice=say, keep_original_audio=keep_original_audio,
                                                   name=out.name)
            if bar is not None:
                bar.close()
            t_render = time.perf_counter() - t1
            # the side outputs are drawn from the finished but not yet committed output: an interrupted or failed
            # preview leaves neither the output nor a part of the run behind (all or nothing)
            written, output_cues = self._write_side_outputs(inp, tmp, tracks, fa, lo, seen / sr, save_tracks, preview,
                                                            limiter)
            os.replace(tmp, out)
        except BaseException:
            if tmp.exists():
                tmp.unlink()
            raise
        finally:
            if bar is not None:
                bar.close()
        if limiter is None and limited["peak"] > 1.0:
            say(f"--no-limit: the output peaks at {20 * np.log10(limited['peak']):+.1f} dB over full scale (kept in "
                "the float WAV; lower the gain before converting it to a fixed-point format)")
        if limiter is not None and limiter.samples_reduced:
            say(f"the output would have passed {LIMIT_THRESHOLD} of full scale: a look-ahead limiter lowered both ears "
                f"alike (interaural differences kept) by up to {limiter.max_reduction_db:.1f} dB, "
                f"{limiter.samples_reduced / sr:.2f} s of the {seen / sr:.1f} s in all")

        rep = {
            "input": str(inp), "output": str(out), "audio_source": str(audio_src),
            "duration_s": seen / sr, "sample_rate": sr, "output_sample_rate": out_rate, "input_channels": mon.channels,
            "output_codec": codec, "method": self.method,
            "renderer": asdict(self.options) if renders_dsp else None,
            "learned_model": ({"checkpoint": str(self.learned.path), "model": self.learned.meta["model"],
                               "args": self.learned.meta["args"], "hop_s": self.learned.hop_s,
                               "full_band": self.learned.full_band,
                               "crop_bank": _crop_bank_report(getattr(self.learned, "crop_bank", None))}
                              if self.learned is not None else None),
            "hrtf": self.hrtf_path or f"bundled: {DEFAULT_HRTF_CITATION}",
            "decisions": {
                "t60_estimate_s": t60,
                "reverb_split": bool(renders_dsp and self.options.reverb == "split" and t60 is not None
                                     and t60 >= self.options.dry_below_t60),
                "why": (_reverb_reason(self.options, t60) if self.method == "dsp" else
                        f"learned model {self.method}: {self.learned.how}; {_reverb_reason(self.options, t60)}"
                        if renders_dsp else
                        "Mono-Mono: both ears get the input" if self.method == "mono" else
                        f"learned model {self.method}: {self.learned.how}"),
                "channel_side_to_mid_db": _finite(mon.side_to_mid_db),
            },
            "tracks": tracks_to_json(tracks),
            "output_cues": output_cues,
            "tracks_source": "given (--sources)" if sources is not None else ("localized from the frames" if loc else "none: front"),
            "localization": loc_report,
            "also_written": written,
            "notices": notices,
            "limiter": ({"ceiling": LIMIT_THRESHOLD, "seconds_reduced": limiter.samples_reduced / sr,
                         "max_reduction_db": limiter.max_reduction_db} if limiter is not None else
                        {"off": True, "output_peak": limited["peak"]}),
            "mux": stats,
            "timings_s": {"analysis": t_analysis, "render_and_write": t_render, "total": time.perf_counter() - t_start},
            "realtime_factor": (seen / sr) / max(time.perf_counter() - t_start, 1e-9),
        }
        if report:
            _write_json_atomic(Path(report), rep)
        return rep

    def _write_side_outputs(self, inp: Path, rendered: Path, tracks, fa, lo, duration_s: float, save_tracks,
                            preview, limiter: LookaheadLimiter | None = None) -> tuple[list[str], dict | None]:
        """--save-tracks and --preview (video and PNG), from the rendered output file -> (paths written, the
        output's interaural cues summary or None); the PNG also shows where ``limiter`` lowered the output.
        Interrupted or failed, it removes what it wrote."""
        written, output_cues = [], None
        try:
            if preview:
                from .vision.preview import write_preview

                cues = output_cues_over_time(rendered, tracks)
                output_cues = cues["summary"]
                if limiter is not None and limiter.samples_reduced:
                    cues["limiter_db"] = limiter.trace_db
                    cues["limiter_hop_s"] = limiter.trace_hop / limiter.sample_rate
                parts = None
                if getattr(self.learned, "separates_speech", False) and tracks:
                    speech_tracks, rest_tracks = self.learned.groups(tracks)
                    if speech_tracks is not rest_tracks:
                        parts = {"speech": speech_tracks, "the rest": rest_tracks}
                written += [str(p) for p in write_preview(inp, preview, tracks, fa, fps=lo.fps, width=lo.width,
                                                          fov=lo.fov, duration=duration_s, cues=cues, parts=parts)]
            if save_tracks:
                _write_json_atomic(Path(save_tracks), tracks_to_json(tracks))
                written.append(str(save_tracks))
        except BaseException:
            for p in written:
                Path(p).unlink(missing_ok=True)
            raise
        return written, output_cues


_FRAMES_SEEN = None  # in the frame-analysis worker: a shared double, the time (s) of the last frame analysed


def _share_frames_seen(value, parent: int | None = None) -> None:
    """Analysis-process initializer: the shared progress value, and (Linux) the kernel ends this process when the
    tool's process ends, however it ends (it must not be left waiting on a pipe no one writes)."""
    global _FRAMES_SEEN
    _FRAMES_SEEN = value
    from .io.frames_parallel import _die_with_parent

    _die_with_parent(parent)


def _analyse_frames_job(path: str, lo) -> object:
    from .io.frames_parallel import iter_frames_parallel
    from .vision.localize import analyse_video

    def seen(t: float) -> None:
        if _FRAMES_SEEN is not None:
            _FRAMES_SEEN.value = float(t)

    return analyse_video(iter_frames_parallel(path, lo.fps, lo.width, fast=True), lo, progress=seen)


class _Background:
    """Run the frame analysis in a separate process, so decoding and detection run on their own core while the
    main process analyses the audio and loads the HRTF (a thread would contend for the GIL)."""

    def __init__(self, path, lo):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork where available: the child starts at once with the modules already imported (no threads run yet)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._seen = ctx.Value("d", 0.0, lock=False)  # the worker's progress: time of the last frame analysed (s)
        self._ex = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_share_frames_seen,
                                       initargs=(self._seen, os.getpid()))
        self._fut = self._ex.submit(_analyse_frames_job, str(path), lo)

    def cancel(self) -> None:
        """Stop the analysis now (an error elsewhere made it useless): terminate the worker, do not wait for it."""
        if self._fut is None:  # already done
            return
        self._fut.cancel()
        for proc in list(getattr(self._ex, "_processes", {}).values()):
            proc.terminate()
        self._ex.shutdown(wait=False, cancel_futures=True)

    def result(self, bar=None):
        """The :class:`FrameAnalysis`; ``bar`` (a tqdm bar in seconds of video, or None) follows the worker.

        Interrupted while it waits (Ctrl-C, SIGTERM) or failing, it stops the analysis instead of waiting for it to
        finish (which took as long as the rest of the clip's frames)."""
        from concurrent.futures import wait

        try:
            if bar is not None:
                while not wait([self._fut], timeout=0.25).done:
                    bar.update(max(0.0, min(self._seen.value, bar.total) - bar.n))
            fa = self._fut.result()
            if bar is not None:
                bar.update(max(0.0, bar.total - bar.n))  # the frames end where the audio does, give or take a frame
            self._ex.shutdown(wait=True)
            return fa
        except BaseException:
            self.cancel()
            raise
        finally:
            if bar is not None:
                bar.close()
            self._fut = None  # the caller owns the result now (the future would keep it alive)


class _LearnedRenderer:
    """A learned spatializer behind the renderer's ``process`` interface; frames come from ``video`` at 1 fps.

    ``process`` runs the model over ``block_s``-second blocks, each with ``pad_s`` seconds of real signal either
    side (the networks' context, the renderer's filters and reverberation settle there), joined by ``fade_s``-second
    raised-cosine cross-fades in the middle of the overlap: memory is bounded by the block, not the clip (a clip
    no longer than one block and its pad is one whole pass, as before). Every block sees the same frame features
    and the same classes; its tracks and features are shifted to its start."""

    block_s, pad_s, fade_s = 60.0, 2.0, 1.0
    duration_s: float | None = None  # the clip's length when known (process_file): classes are decided over it
    progress = False  # show a bar while the frames are decoded for the model (process_file sets it)
    _preloaded: tuple | None = None  # (tracks, features) computed by ``preload`` for the next ``process``
    on_block = None  # (start_s, end_s) -> None, called before each block is computed (the bar tells the user)

    def warm(self) -> None:
        """Build the model if it is not yet (:class:`~binauralize.models.spatializer.DeferredSpatializer`: PyTorch's
        import and the weights) and import what its signal processing needs (``scipy.signal``: its STFTs; about 1 s
        on this machine, the DSP default does without it), ahead of the rendering."""
        import scipy.signal  # noqa: F401

        from .models.spatializer import DeferredSpatializer

        if isinstance(self.sp, DeferredSpatializer):
            self.sp.load()
        if self.sp.uses_visual and hasattr(self.sp, "trunk"):
            self.sp.trunk  # noqa: B018 - builds the frozen visual trunk (its weights) now

    def preload(self, tracks=None) -> None:
        """Compute the frame features now (before the rendering bar starts), for the next ``process`` call with
        the same ``tracks``."""
        self._preloaded = (tracks, self.features(tracks))

    def __init__(self, spatializer, sample_rate: float, video: str | Path | None = None):
        self.sp, self.sr, self.video = spatializer, sample_rate, video

    def features(self, tracks=None):
        """The frame features of ``video`` (t -> feature map), or None for a model that does not look."""
        if not self.sp.uses_visual:
            return None
        if self.video is None:
            raise InputError("this learned model needs the video's frames: use process_file / binauralize_file")
        return self._decoded_features()

    def _decoded_features(self):
        """Decode ``video`` at 1 fps through the model's trunk, with a bar when ``progress`` (and the length known)."""
        from .models.spatializer import video_features

        bar = _progress(self.duration_s, self.progress and bool(self.duration_s),
                        f"reading the frames for {Path(self.video).name}", "video")
        try:
            return video_features(self.sp, self.video, fps=1.0, progress=None if bar is None else
                                  (lambda t: bar.update(max(0.0, min(t, bar.total) - bar.n))))
        finally:
            if bar is not None:
                bar.close()

    def render_with(self, x: np.ndarray, tracks, t60, feats) -> np.ndarray:
        """Mono ``[T]`` -> binaural ``[2, T]`` with the features given (time 0 = the first sample of ``x``)."""
        return self.sp.render(np.asarray(x, np.float64).reshape(-1), self.sr, feats)

    def render_pieces(self, x: np.ndarray, tracks, t60, feats) -> Iterator[np.ndarray]:
        """:meth:`render_with` as consecutive ``[2, n]`` pieces (here one; models that stream yield several)."""
        yield self.render_with(x, tracks, t60, feats)

    def render(self, x: np.ndarray, tracks=None, t60=None) -> np.ndarray:
        """Mono ``[T]`` -> binaural ``[2, T]``, one pass over the whole signal (the frames come from ``video``)."""
        return self.render_with(x, tracks, t60, self.features(tracks))

    def process(self, chunks, tracks=None, t60=None):
        """Mono chunks -> binaural ``[2, n]`` chunks in blocks (class docstring); yields about one second at a time."""
        from .tracks import shift_tracks

        pre, self._preloaded = self._preloaded, None
        feats = pre[1] if pre is not None and pre[0] is tracks else self.features(tracks)
        self.prepare(tracks, feats)
        sr = float(self.sr)
        block, pad = int(round(self.block_s * sr)), int(round(self.pad_s * sr))
        fade = min(int(round(self.fade_s * sr)), pad)
        half = fade // 2
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)  # rises 0 -> 1; (1 - ramp) falls
        buf, buf0 = np.zeros(0), 0   # the mono held, and the absolute index of its first sample
        tail = None                  # the previous block's output over its falling fade (absolute start: edge - half)
        emitted = 0
        it = iter(chunks)
        done = False
        i = 0
        while True:
            need = (i + 1) * block + pad  # the last sample block i wants (exclusive)
            while not done and buf0 + len(buf) < need:
                try:
                    c = next(it)
                except StopIteration:
                    done = True
                    break
                buf = np.concatenate([buf, np.asarray(c, np.float64).reshape(-1)])
            total = buf0 + len(buf)
            if total == 0:
                return
            last = done and total <= need
            a = max(0, i * block - pad)
            b = total if last else need
            if self.on_block is not None:
                self.on_block(a / sr, b / sr)
            pieces = self.render_pieces(buf[a - buf0:b - buf0], shift_tracks(tracks, a / sr), t60,
                                        _shifted_features(feats, a / sr))
            start = emitted  # the first sample not yet emitted (= i * block - half for i > 0)
            stop = b if last else (i + 1) * block - half
            pos, new_tail = a, []  # the absolute index of the next piece's first sample; the next block's fade
            for y in pieces:  # the block's output, in consecutive pieces: each emitted as soon as it is there
                pa, pos = pos, pos + y.shape[1]
                lo, hi = max(pa, start), min(pos, stop)
                if hi > lo:
                    seg = y[:, lo - pa:hi - pa].copy()
                    if tail is not None and lo - start < tail.shape[1]:  # cross-fade with the previous block
                        n0, n1 = lo - start, min(hi - start, tail.shape[1])
                        seg[:, :n1 - n0] = tail[:, n0:n1] + ramp[n0:n1] * seg[:, :n1 - n0]
                    for k in range(0, seg.shape[1], int(sr)):
                        yield seg[:, k:k + int(sr)]
                if not last and min(pos, stop + fade) > max(pa, stop):
                    new_tail.append(y[:, max(pa, stop) - pa:min(pos, stop + fade) - pa])
            emitted = stop
            if last:
                return
            tail = (1.0 - ramp) * np.concatenate(new_tail, axis=1)
            i += 1
            keep = i * block - pad  # block i starts here
            buf, buf0 = buf[keep - buf0:], keep

    def prepare(self, tracks, feats) -> None:
        """Decisions made once per clip before the blocks (class-conditioned models: each source's class)."""


def _shifted_features(feats, offset_s: float):
    """t -> feature map, for a block starting ``offset_s`` seconds into the clip."""
    if feats is None or offset_s == 0:
        return feats
    return lambda t: feats(t + offset_s)


def _shown_fov(path: Path, info: media.MediaInfo) -> float:
    """The default horizontal field of view (degrees) of ``path``'s picture as it is shown (display matrix applied):
    :func:`binauralize.dsp.geometry.horizontal_fov` of its shown width and height; the default for no picture."""
    from .dsp.geometry import horizontal_fov

    w, h = info.width or 0, info.height or 0
    if info.has_video and w and h and media.display_orientation(path)[0] == 0:
        w, h = h, w  # stored sideways, shown upright
    return horizontal_fov(None, w, h)


class _TrackModelRenderer(_LearnedRenderer):
    """A track-driven learned model (position-conditioned masks) behind the renderer's ``process`` interface; frames
    for the sources' crop embeddings come from ``video`` at 1 fps (without a video the model sees every source as
    off screen)."""

    keyframes: list | None = None  # (t, rgb) from the localizer's pass, when it ran
    notice = None  # str -> None: tells the user which class a class-conditioned model gave each source

    def features(self, tracks=None):
        from .models.spatializer import _fit_img

        if self.sp.uses_visual and tracks and self.keyframes:
            w, h = self.sp.trunk.input_size
            kf, last = [], -1e9
            for t, f in self.keyframes:  # one per second is what the models' crops are made from
                if t >= last + 1.0 - 1e-6:
                    kf.append((t, f))
                    last = t
            return self.sp.features_from_frames(np.array([t for t, _ in kf]),
                                                np.stack([_fit_img(f, w, h) for _, f in kf]))
        if self.sp.uses_visual and tracks and self.video is not None:
            return self._decoded_features()
        return None

    def prepare(self, tracks, feats) -> None:
        """A class-conditioned model decides each source's class once, over the whole clip."""
        sp = self.sp
        sp.fixed_classes = None
        if hasattr(sp, "tell") and self.notice is not None and (msg := sp.tell(tracks or [], feats, self.duration_s)):
            self.notice(msg)
        if tracks and hasattr(sp, "track_classes"):
            end = self.duration_s or 0.0
            if not end:
                end = max(float(np.max(tr.times)) for tr in tracks) + 1.0
            sp.fixed_classes = sp.track_classes(tracks, np.arange(0.0, end, 0.1), feats)
            self._tell_classes(tracks, sp.fixed_classes)

    def render_with(self, x, tracks, t60, feats) -> np.ndarray:
        y = self.sp.render(np.asarray(x, np.float64).reshape(-1), self.sr, tracks or [], t60=t60, feature_at=feats)
        said = getattr(self.sp, "talker_split", None)  # --model speech: what it did where talkers spoke at once
        if said and self.notice is not None and not getattr(self, "_told_talkers", False):
            self._told_talkers = True  # once per file (a long clip is rendered in blocks)
            self.notice(f"speech: {said}")
        return y

    def render_pieces(self, x, tracks, t60, feats) -> Iterator[np.ndarray]:
        if not hasattr(self.sp, "render_iter"):
            yield from super().render_pieces(x, tracks, t60, feats)
            return
        yield from self.sp.render_iter(np.asarray(x, np.float64).reshape(-1), self.sr, tracks or [], t60=t60,
                                       feature_at=feats)

    def render(self, x: np.ndarray, tracks=None, t60=None) -> np.ndarray:
        feats = self.features(tracks)
        if hasattr(self.sp, "fixed_classes"):
            self.sp.fixed_classes = None
        y = self.render_with(x, tracks, t60, feats)
        self._tell_classes(tracks, getattr(self.sp, "last_classes", None))
        return y

    def process(self, chunks, tracks=None, t60=None):
        try:
            yield from super().process(chunks, tracks, t60)
        finally:
            if hasattr(self.sp, "fixed_classes"):
                self.sp.fixed_classes = None

    def _tell_classes(self, tracks, classes) -> None:
        if classes and self.notice is not None and len(classes) == len(tracks or []):
            names = ", ".join(f"{t.name}: {c or 'unknown (shares the sound)'}" for t, c in zip(tracks, classes))
            self.notice(f"{getattr(self.sp, 'label', 'class-nmf')} separated by class ({names}); it knows only "
                        f"{', '.join(self.sp.model.classes)} (the synthetic set's), so on other material its classes "
                        "are guesses")


def _crop_bank_report(bank) -> dict | None:
    """What the report says of a visual model's crop bank (models/crop_bank.py): None when it has none."""
    if bank is None:
        return None
    return {"prototypes": int(bank.prototypes.shape[0]), "threshold": bank.threshold,
            "rule": "a source's crop less similar than the threshold to every prototype of the training pictures "
                    "is treated as not seen"}


def output_cues_over_time(path: Path, tracks: list[SourceTrack], frame_s: float = 0.1) -> dict:
    """Listening by numbers: the interaural cues of a written output per ``frame_s`` frame (streamed from the file;
    :func:`binauralize.metrics.spatial.cues_from_chunks`, ITD refined 4x: 5 us at 48 kHz) and a ``summary``: active
    frames, median ITD and ILD, and (with tracks) the agreement of the azimuth its ITD says with the tracks'
    (:func:`binauralize.metrics.spatial.cues_against_tracks`: left/centre/right agreement, median |error|)."""
    from .metrics.spatial import cues_against_tracks, cues_from_chunks

    cues = cues_from_chunks(media.iter_audio(path), media.probe(path).sample_rate, frame_s, interp=4)
    act = cues["active"]
    summary = {"frames_active": int(act.sum()),
               "median_itd_us": float(np.median(cues["itd"][act]) * 1e6) if act.any() else None,
               "median_ild_db": float(np.median(cues["ild"][act])) if act.any() else None,
               "lcr_agreement": None, "median_azimuth_error_deg": None, "ild_side_agreement": None}
    if tracks and act.any():
        agree = cues_against_tracks(cues, tracks)
        summary["lcr_agreement"] = agree["lcr_agreement"]
        summary["median_azimuth_error_deg"] = agree["median_abs_err_deg"]
        summary["ild_side_agreement"] = None if np.isnan(agree["ild_side_agreement"]) else agree["ild_side_agreement"]
    cues["summary"] = summary
    return cues


def _object_tracks(video: Path, lo, tracks: list, loc_report: dict, say, frames: list | None = None,
                   fa=None, envelope: tuple | None = None, beside_faces: bool = False) -> list:
    """``--objects``: the object detectors' tracks replace the faces/motion ones when they find any. First the
    synthetic set's detector (its classes, for class-nmf); when it finds nothing, the detector of real footage
    (NanoDet, COCO classes; :mod:`binauralize.vision.coco`), whose sounding objects take the sound where no face
    is seen (:func:`_merge_objects`), one at a time: the one whose motion moves with the sound
    (:func:`binauralize.vision.localize.object_weights`; needs ``fa``, the frame analysis, and ``envelope``, the
    audio's (times, dB)). ``frames``: the localizer's kept frames (``(t, rgb)``,
    mirrored already with ``lo.mirror``), else the video is decoded. ``beside_faces`` (a renderer that separates
    the speech, ``--model speech``): objects other than people keep their weight where they are seen, faces or
    not, and share it (no synchrony choice): the speech goes to the faces, the rest of the sound to the objects."""
    from .vision.objects import object_tracks

    t0 = time.perf_counter()
    if not frames:
        from .io.framestore import JpegFrames
        from .io.media import iter_frames

        # the localizer keeps frames for the detectors (keep_every_s); a caller without them decodes here, once
        frames = JpegFrames()
        for t, rgb in iter_frames(video, 2.0, lo.width, fast=True):
            frames.append((t, rgb[:, ::-1] if lo.mirror else rgb))
    # the synthetic set's detector knows no talker (its eight instrument classes), so it cannot help --model speech
    skip_synthetic = beside_faces and not lo.objects_weights
    found = [] if skip_synthetic else object_tracks(video, fov_deg=lo.fov, mirror=lo.mirror, weights=lo.objects_weights,
                                                    frames=frames or None)
    loc_report["objects"] = {"tracks": [t.to_dict() for t in found], "seconds": time.perf_counter() - t0,
                             "detector": "none" if skip_synthetic else "synthetic set"}
    if found:
        say(f"object detector: {len(found)} object(s): " + ", ".join(
            f"{t.name} at {float(np.median(t.azimuth)):+.0f} deg" for t in found))
        return found
    if lo.objects_weights:  # a detector file was asked for: it alone decides
        say("object detector: no objects found; the faces/motion tracks are used")
        return tracks
    from .vision import coco

    if coco.installed_model() is None:
        say(("object detector: the detector for real footage is not installed" if skip_synthetic else
             "object detector: none of the synthetic set's objects found, and the detector for real footage is not "
             "installed") + " (`binauralize fetch-models`): the faces/motion tracks are used")
        return tracks
    t1 = time.perf_counter()
    boxes: dict = {}
    run: dict = {}
    try:
        real = coco.coco_tracks(frames, fov_deg=lo.fov, boxes=boxes, report=run)
    except InputError as exc:  # a damaged install: say so, go on as without it
        say(f"object detector for real footage unusable ({exc}); run `binauralize fetch-models` again: the "
            "faces/motion tracks are used")
        return tracks
    loc_report["objects"].update({"detector": "coco (NanoDet)", "tracks": [t.to_dict() for t in real], **run,
                                  "seconds": time.perf_counter() - t0, "coco_seconds": time.perf_counter() - t1})
    seen = ", ".join(f"{t.name} at {float(np.median(t.azimuth)):+.0f} deg" for t in real)
    if not real:
        say("object detector: no sounding objects found; the faces/motion tracks are used")
        return tracks
    if beside_faces:
        merged = _merge_objects(tracks, real, lo.fps, beside_faces=True)
        _redo_off_screen_notice(loc_report, merged)
        say(f"object detector: {len(real)} sounding object(s) seen: {seen}; beside the faces, objects other than "
            "people keep their share (for the rest of the sound)")
        return merged
    if fa is not None and envelope is not None and fa.motion_grid:
        from .vision.localize import object_weights

        times, weights, rep = object_weights(fa, envelope[0], envelope[1], real, boxes, lo)
        for tr, w in zip(real, weights):
            tr.weight_times, tr.weight = times, w
        loc_report["objects"]["sounding"] = rep
    merged = _merge_objects(tracks, real, lo.fps)
    _redo_off_screen_notice(loc_report, merged)
    faces = [t.name for t in merged if t.info.get("kind") == "face"]
    said = f"object detector: {len(real)} sounding object(s) seen: {seen}"
    say(said + (f"; where a face ({', '.join(faces)}) is seen, the face decides" if faces else ""))
    if faces and any(t.info.get("class") != "person" for t in real):
        say("with faces and other sounding objects in view, --model speech can take the voice apart from the rest "
            "of the sound and put the rest on those objects (docs/position.md, \"Speech taken apart\")")
    return merged


def _merge_objects(tracks: list, objects: list, fps: float, beside_faces: bool = False) -> list:
    """The localizer's tracks and the real-footage detector's: faces keep the sound where they are seen (their
    mouths say who talks), objects take it where no face is seen (``beside_faces``: objects other than people
    wherever they are seen), the moving-region candidate where neither is, and the front where nothing is (weights
    on the localizer's analysis grid)."""
    end = max(float(np.max(t.weight_times)) for t in tracks + objects) + 1.0 / fps
    grid = np.arange(0.0, end, 1.0 / fps)

    def w(t):
        return np.interp(grid, t.weight_times, t.weight)

    faces = [t for t in tracks if t.info.get("kind") == "face"]
    motion = [t for t in tracks if t.info.get("kind") == "motion"]
    free = np.sum([w(t) for t in faces], axis=0) < 1e-6 if faces else np.ones(len(grid), bool)
    # beside_faces: an object that is not a person keeps its weight where a face is seen (a person's speech is the
    # face's; the rest of the sound is the other objects')
    objs = [replace(t, weight_times=grid, weight=w(t) * (True if beside_faces and t.info.get("class") != "person"
                                                         else free)) for t in objects]
    objs = [t for t in objs if t.weight.any()]
    free &= np.sum([t.weight for t in objs], axis=0) < 1e-6 if objs else True
    mots = [replace(t, weight_times=grid, weight=w(t) * free) for t in motion]
    rest = objs + [t for t in mots if t.weight.any()]
    rest += _front_where_unseen(faces + rest, grid)
    from .vision.localize import _compress

    def compressed(t):  # the weight curve without the grid points inside constant runs
        times, weights = _compress(t.weight_times, t.weight)
        return replace(t, weight_times=times, weight=weights)

    return faces + [compressed(t) for t in rest]


def _redo_off_screen_notice(loc_report: dict, tracks: list) -> None:
    """The localizer's "no visible sound source for ..." notice, said again for ``tracks`` (its off-screen ranges
    and ``loc_report["off_screen"]``), or dropped when a visible source has the sound throughout."""
    from .vision.localize import OFF_SCREEN_NOTICES, _ranges, off_screen_notice

    notices = [m for m in loc_report.get("notices", []) if not m.startswith(OFF_SCREEN_NOTICES)]
    front = [t for t in tracks if t.info.get("kind") == "off-screen"]
    ranges = _ranges(front[0].weight_times, front[0].weight > 0.5) if front else []
    loc_report["off_screen"] = ranges
    if ranges:
        notices.append(off_screen_notice(sum(b - a for a, b in ranges), ranges))
    loc_report["notices"] = notices


def _front_where_unseen(tracks: list, times: np.ndarray) -> list:
    """A frontal track weighted 1 at ``times`` where no track has weight (else the renderer would share the sound
    among tracks nobody sees), or nothing when every time is covered."""
    tot = np.zeros(len(times))
    for t in tracks:
        tot += np.interp(times, t.weight_times, t.weight)
    front = (tot < 1e-6).astype(float)
    if not front.any():
        return []
    return [SourceTrack("front (off-screen)", np.zeros(1), np.zeros(1), np.zeros(1), np.full(1, 2.0), times, front,
                        info={"kind": "off-screen"})]


def _reverb_reason(opt: RenderOptions, t60: float | None) -> str:
    if opt.reverb == "off":
        return "reverb split off: the whole input is rendered as direct sound"
    if t60 is None:
        return "no free decays found to estimate the room: input treated as dry"
    if t60 < opt.dry_below_t60:
        return f"estimated T60 {t60:.2f} s < {opt.dry_below_t60} s: input treated as dry, all of it placed at the source"
    return (f"estimated T60 {t60:.2f} s: the input's own reverberation (after {opt.early_ms:.0f} ms) is rendered "
            f"diffusely (width {opt.diffuse}{', with the source ITD' if opt.reverb_itd else ''}), the direct part at the "
            f"source direction")


def _prefetch(gen: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run a generator in a thread, ``depth`` items ahead (decoding+rendering overlap encoding+muxing)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    end = object()
    stop = threading.Event()

    def work():
        try:
            for item in gen:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(end)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _resample_stream(chunks: Iterator[np.ndarray], sr_in: int, sr_out: int) -> Iterator[np.ndarray]:
    import soxr

    rs = soxr.ResampleStream(sr_in, sr_out, 2, dtype="float32", quality="HQ")
    for c in chunks:
        y = rs.resample_chunk(np.ascontiguousarray(c.T, dtype=np.float32), last=False)
        if len(y):
            yield y.T
    y = rs.resample_chunk(np.zeros((0, 2), dtype=np.float32), last=True)
    if len(y):
        yield y.T


def _progress(total_s: float, enabled: bool, desc: str, what: str = "audio"):
    """A tqdm bar on stderr counting seconds of ``what`` (audio, video), or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=round(total_s, 2), unit="s", desc=desc, leave=False, file=sys.stderr,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s " + what +
                " [{elapsed}<{remaining}]",
                mininterval=0.1 if sys.stderr.isatty() else 15.0)  # into a log file: a line every 15 s at most


def _checked_sources(sources):
    """``sources`` as given to process_file (None, a tracks file, a parsed tracks JSON: a dict with "sources" or a
    list of source dicts, or a list of SourceTrack) -> None or a list of SourceTrack. TracksError for anything
    else."""
    from .errors import TracksError
    from .tracks import parse_tracks

    if sources is None:
        return None
    if isinstance(sources, (str, Path)):
        return load_tracks(sources)
    if isinstance(sources, dict) or (isinstance(sources, (list, tuple)) and sources
                                     and all(isinstance(x, dict) for x in sources)):
        return parse_tracks(sources if isinstance(sources, dict) else list(sources))
    if isinstance(sources, (list, tuple)) and all(isinstance(x, SourceTrack) for x in sources):
        return list(sources)
    raise TracksError("sources must be a tracks file, a parsed tracks JSON or a list of SourceTrack (e.g. "
                      f"[SourceTrack.static(30)]), got {type(sources).__name__}")


def _resolve_tracks(sources, say) -> list[SourceTrack]:
    if sources is None:
        say("no --sources given and no video to look at: the sound is placed in front (0 deg)")
        return [SourceTrack.static(0.0, name="front")]
    tracks = list(sources)
    if not tracks:
        say("the given sources list is empty: the sound is placed in front (0 deg)")
    return tracks


def _no_weight_notice(tracks: list[SourceTrack], duration_s: float, say, step: float = 0.1) -> None:
    """Say where no given source has any weight (the sound is then shared equally between all of them, which
    may be a place none of them is: e.g. after a source was deleted from a saved tracks file)."""
    if len(tracks) < 2 or duration_s <= 0:
        return
    t = np.arange(0.0, duration_s, step)
    silent = np.all(np.stack([tr.at(t)[3] for tr in tracks]) <= 0, axis=0)
    if not silent.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(int), [0]])))
    spans = [(t[a], min(duration_s, t[b - 1] + step)) for a, b in zip(edges[::2], edges[1::2])]
    text = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in spans[:3]) + (" ..." if len(spans) > 3 else "")
    say(f"no source has any weight at {text}: the sound is shared equally between all {len(tracks)} sources there "
        "(give one a weight to place it)")


def _tracks_outside_notice(tracks: list[SourceTrack], duration_s: float, say) -> None:
    """Say when a given track starts after the clip ends (it is then held at its first point throughout)."""
    for t in tracks:
        if len(t.times) > 1 and t.times[0] >= duration_s:
            say(f"source '{t.name}': its track starts at {t.times[0]:.1f} s, after the clip ends ({duration_s:.1f} "
                "s); its first point is used throughout")


def _check_output(inp: Path, out: Path, overwrite: bool, input_has_video: bool, extra_inputs=()) -> None:
    ext = out.suffix.lower()
    if ext not in media.VIDEO_EXTS | media.AUDIO_EXTS:
        raise OutputError(f"unsupported output type '{ext or out.name}': use one of "
                          + ", ".join(sorted(media.VIDEO_EXTS | media.AUDIO_EXTS)))
    for i in [inp, *extra_inputs]:
        if out.exists() and i.exists() and _same_file_key(out) == _same_file_key(i):
            raise OutputError("output would overwrite the input; choose another output name")
    _check_writable(out, overwrite, "output")
    if ext in media.VIDEO_EXTS and not input_has_video:
        raise OutputError(f"{inp.name} has no video stream: write a .wav or .flac output instead")


PREVIEW_EXTS = (".mp4", ".m4v", ".mov", ".png")


def side_output_paths(preview=None, report=None, save_tracks=None) -> dict[str, Path]:
    """The files a run writes beside its output: option name -> path (``--preview x.mp4`` also writes x.png)."""
    paths = {}
    if preview:
        paths["--preview"] = Path(preview)
        if Path(preview).suffix.lower() != ".png":
            paths["--preview (its PNG)"] = Path(preview).with_suffix(".png")
    if report:
        paths["--report"] = Path(report)
    if save_tracks:
        paths["--save-tracks"] = Path(save_tracks)
    return paths


def _same_file_key(p: Path):
    """What names one file: its inode when it exists (symlinks, hard links, case-insensitive file systems), else
    its resolved path."""
    try:
        st = p.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", str(p.resolve()))


def _check_side_outputs(inputs: list, outputs: list, overwrite: bool, preview=None, report=None,
                        save_tracks=None) -> None:
    """Refuse, before any work, outputs that would replace an input (media, --audio, --sources) and side outputs
    (--preview and its PNG, --report, --save-tracks) that would replace an input, an output or each other
    (whatever --overwrite says), exist without --overwrite, or cannot be written."""
    if preview and Path(preview).suffix.lower() not in PREVIEW_EXTS:
        raise OutputError(f"--preview {preview}: use a .mp4 (a video and a PNG beside it) or a .png (the PNG only)")
    taken = {}
    for i in inputs:
        if i is not None and Path(i).exists():
            taken[_same_file_key(Path(i))] = f"the input {Path(i).name}"
    for o in outputs:  # e.g. a batch's a_binaural.mp4 output beside its a.mp4 and a_binaural.mp4 inputs
        key = _same_file_key(Path(o))
        if key in taken:
            raise OutputError(f"the output {o} would replace {taken[key]}: choose another output folder or name")
        taken[key] = f"the output {Path(o).name}"
    for opt, p in side_output_paths(preview, report, save_tracks).items():
        key = _same_file_key(p)
        if key in taken:
            raise OutputError(f"{opt} {p} would replace {taken[key]}; choose another name")
        taken[key] = f"{opt} {p.name}"
        _check_writable(p, overwrite, opt)


def _check_writable(p: Path, overwrite: bool, what: str) -> None:
    """OutputError unless ``p`` (the output or a side output, named ``what``) can be written: not a folder, not an
    existing file without ``overwrite``, in a folder that exists and is writable."""
    if p.is_dir():
        raise OutputError(f"{what} {p} is a directory")
    if p.exists() and not overwrite:
        raise OutputError(f"{what} {p} exists; pass --overwrite (overwrite=True in Python) to replace it")
    if not p.parent.exists():
        raise OutputError(f"{what} folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise OutputError(f"{what} folder {p.parent} is not writable")


def _write_json_atomic(path: Path, obj) -> None:
    import json

    tmp = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(_finite(obj), indent=2, default=_json_default))
    os.replace(tmp, path)


def _finite(o):
    """The same structure with non-finite floats as None (JSON has no NaN or Infinity)."""
    if isinstance(o, np.ndarray):
        o = o.tolist()
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, (float, np.floating)) and not np.isfinite(o):
        return None
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def binauralize_file(input: str | Path, output: str | Path, sources=None, *, hrtf: str | Path | None = None,
                     options: RenderOptions = RenderOptions(), method: str = "dsp", audio=None, overwrite: bool = False,
                     report=None, lossless: bool = False, keep_original_audio: bool = False, progress: bool = False,
                     notice: Callable[[str], None] | None = None, localize=None, preview=None,
                     save_tracks=None, hop_s: float = 0.1, steps: int = 4, limit: bool = True) -> dict:
    """Binauralize ``input`` (video or audio file) into ``output`` (video with the original picture, or .wav/.flac).

    Args:
        sources: list of :class:`SourceTrack`, a tracks JSON path, or None: localize the sources in the frames
            (video input) or place the sound in front (audio input), with a notice.
        hrtf: SOFA file (default: bundled MIT KEMAR).
        options: renderer settings.
        method: 'dsp', 'mono' (Mono-Mono baseline) or a learned model name / checkpoint (see :class:`Binauralizer`).
        hop_s: sliding-window hop of learned models (s).
        audio: take the sound from this file instead of the input's own track.
        overwrite: replace an existing output (otherwise OutputError).
        report: write the report JSON here too.
        lossless: ALAC/FLAC/PCM instead of AAC in the video container.
        keep_original_audio: also copy the input's original audio stream(s) into the output.
        localize: :class:`binauralize.vision.localize.LocalizeOptions` (field of view, analysis rate...).
        preview: write a preview video (and a PNG next to it) of what was decided.
        save_tracks: write the tracks used, in the ``--sources`` schema.
        progress: show progress bars on stderr.
        notice: called with each one-line notice (default: printed to stderr).
        steps: sampling steps of flow-matching models.
        limit: keep the output under 0.9 of full scale with a look-ahead limiter (both ears alike); False writes the
            renderer's output as it is, only to a .wav output (32-bit float holds samples above full scale).
    Returns:
        The report dict (tracks used, decisions and why, timings, notices).
    Raises:
        InputError: the input (or ``audio``) is missing, unreadable or has no audio; TracksError: bad tracks;
        OutputError: an unsupported or unwritable output, one that exists (without ``overwrite``) or would replace
        the input. All derive from :class:`binauralize.errors.BinauralizeError`, whose message is one line.
    """
    b = Binauralizer(hrtf=hrtf, options=options, method=method, notice=notice, progress=progress, localize=localize,
                     hop_s=hop_s, steps=steps)
    return b.process_file(input, output, sources=sources, audio=audio, overwrite=overwrite, report=report,
                          lossless=lossless, keep_original_audio=keep_original_audio, preview=preview,
                          save_tracks=save_tracks, limit=limit)
