"""The DSP renderer: mono + source tracks -> binaural, full band, at any sample rate.

Steps (each a named function below):

1. ``split``: direct / reverberant parts of the input (:mod:`binauralize.dsp.reverb`), when it is reverberant.
2. ``direct``: the direct part through direction-dependent filters (:mod:`binauralize.dsp.filters`), updated per
   block and cross-faded (overlap-save, raised-cosine crossfade between the previous and the current block's
   filter), so a moving source has no clicks or zipper noise; a static source equals direct convolution.
3. ``diffuse``: the reverberant part as mid plus a decorrelated side with a diffuse field's interaural coherence.
4. ``mix``: ``L = mid + side``, ``R = mid - side`` (mono-referenced timbre) or the filtered pair.

The renderer is a pure function of the input segment and its absolute start sample; :meth:`Renderer.process`
streams a long signal through it in overlapping segments with bounded memory.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Iterator

import numpy as np

from ..tracks import SourceTrack, block_directions
from .filters import TIMBRE_MODES, bulk_delay, diffuse_side_filter, direct_filter_spectrum, filter_length
from .hrtf import HRTF
from .reverb import split_direct_reverberant, stft_size


@dataclass(frozen=True)
class RenderOptions:
    """Renderer settings.

    Attributes:
        timbre: 'mid' (keep the input's tone, add interaural differences), 'diffuse-field' or 'none' (plain HRTF).
        reverb: 'split' (render the input's own reverberation diffusely) or 'off' (treat all of it as direct).
        t60: reverberation time of the input in seconds; None = estimate blindly (see :func:`estimate_t60`).
        diffuse: width of the reverberant part, 0 = as mono, 1 = a diffuse field's interaural coherence.
        dry_below_t60: an estimated T60 below this (seconds) means the input is treated as dry (no split); blind
            T60 estimates of anechoic recordings come out at 0.12-0.25 s, of a 0.58-s room at 0.27-0.56 s.
        early_ms: the part of the room response counted as direct (ms); later sound is rendered diffusely.
        reverb_itd: give the reverberant part the sources' interaural time difference (the phase of the direct
            side filter, no level difference) under its decorrelated side, instead of none. Early reflections
            from the floor and ceiling share the source's azimuth, so a real room's reverberant sound keeps much
            of its time cue while its level cue is washed out (mid timbre only).
        regularization: epsilon of the side-from-mid ratio (bounds the side where the mid has nulls).
        block_ms: filter update interval in milliseconds (crossfade length).
        room: add a synthetic room (:class:`binauralize.dsp.room.RoomOptions`) for dry inputs; None = off.
            Its reflections are computed once, for the first source's position at the start (a moving source
            keeps a moving direct sound; its reflections do not follow it).
    """

    timbre: str = "mid"
    reverb: str = "split"
    t60: float | None = None
    diffuse: float = 0.5
    dry_below_t60: float = 0.28
    regularization: float = 0.05
    block_ms: float = 10.0
    early_ms: float = 10.0
    reverb_itd: bool = False
    room: "RoomOptions | None" = None

    def __post_init__(self):
        """OptionsError (a ValueError and a BinauralizeError) for a setting out of its range or of the wrong type."""
        from ..errors import OptionsError

        if self.timbre not in TIMBRE_MODES:
            raise OptionsError(f"timbre must be one of {TIMBRE_MODES}, got {self.timbre!r}")
        if self.reverb not in ("split", "off"):
            raise OptionsError(f"reverb must be 'split' or 'off', got {self.reverb!r}")

        def number(name: str, lo: float, hi: float, lo_open: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
                    (lo < v if lo_open else lo <= v) and v <= hi):  # also refuses nan
                raise OptionsError(f"{name} must be a number within {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                                   f"got {v!r}")

        number("diffuse", 0.0, 2.0)
        if self.t60 is not None:
            number("t60", 0.0, 10.0)
        number("dry_below_t60", 0.0, 10.0)
        number("regularization", 0.0, 1.0, lo_open=True)  # <= 0 flips or divides by the mid's nulls
        number("block_ms", 0.5, 100.0)
        number("early_ms", 0.0, 200.0, lo_open=True)


PLAIN = RenderOptions(timbre="none", reverb="off")
"""A plain HRTF convolution (the textbook renderer), for comparisons."""


def crossfaded_convolve(x: np.ndarray, spectra: np.ndarray, block: int, length: int) -> np.ndarray:
    """Convolve ``x`` [T] with a filter that changes every ``block`` samples, cross-fading between filters.

    Args:
        x: input [T]; ``T`` is a multiple of ``block``.
        spectra: ``[nb, C, F]`` one-sided spectra on an ``nfft = 2 * (F - 1)`` grid of FIRs of ``length`` taps, one
            per block; ``nfft >= block + length - 1``.
    Returns:
        ``[C, T]``: block k's output is ``(1 - w) * (x * h_{k-1}) + w * (x * h_k)`` over the block with a raised
        cosine ``w`` rising 0 -> 1 (overlap-save; exact linear convolution when the filter is constant).
    """
    nb, c, f = spectra.shape
    nfft = 2 * (f - 1)
    if nfft < block + length - 1:
        raise ValueError("FFT size too small for block + filter length")
    xp = np.concatenate([np.zeros(length - 1), x, np.zeros(nfft)])
    frames = np.lib.stride_tricks.sliding_window_view(xp, block + length - 1)[::block][:nb]
    xf = np.fft.rfft(frames, n=nfft, axis=-1)[:, None, :]  # [nb, 1, F]
    y_new = np.fft.irfft(xf * spectra, n=nfft, axis=-1)[..., length - 1: length - 1 + block]
    prev = np.concatenate([spectra[:1], spectra[:-1]], axis=0)
    changed = np.any(prev != spectra, axis=(1, 2))
    out = y_new
    if np.any(changed):
        y_old = np.fft.irfft(xf[changed] * prev[changed], n=nfft, axis=-1)[..., length - 1: length - 1 + block]
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(block) + 0.5) / block)
        out = out.copy()
        out[changed] = y_old * (1.0 - w) + y_new[changed] * w
    return out.transpose(1, 0, 2).reshape(c, nb * block)


def _fftconvolve_same_start(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Linear convolution truncated to len(x) (causal)."""
    from scipy import signal

    return signal.oaconvolve(x, h)[: len(x)]


_PARTS_POOL = None


def map_parts(fn, *args) -> list:
    """``[fn(*a) for a in zip(*args)]``, the parts two at a time in threads when there are several and the process
    has two cores or more (the FFTs and products release the GIL: the parts of a separated mono render on both
    cores); in order, so sums over the result are the same as one at a time."""
    items = list(zip(*args))
    from ..io.frames_parallel import default_workers  # this process's share of the cores (--jobs gives each its own)

    if len(items) < 2 or default_workers() < 2:
        return [fn(*a) for a in items]
    global _PARTS_POOL
    if _PARTS_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _PARTS_POOL = ThreadPoolExecutor(2, thread_name_prefix="binauralize-parts")
    return list(_PARTS_POOL.map(lambda a: fn(*a), items))


class Renderer:
    """Binaural renderer for one HRTF at one sample rate.

    Args:
        hrtf: an :class:`HRTF` whose ``sample_rate`` is the working (input) rate.
        options: :class:`RenderOptions`.
    """

    def __init__(self, hrtf: HRTF, options: RenderOptions = RenderOptions()):
        self.hrtf = hrtf
        self.options = options
        self.sample_rate = hrtf.sample_rate
        self.length = filter_length(self.sample_rate)
        self.block = int(max(32, round(options.block_ms / 1000.0 * self.sample_rate)))
        self.nfft = int(2 ** np.ceil(np.log2(self.block + self.length - 1)))
        self.delay = bulk_delay(options.timbre, self.length)
        self._spec_cache: dict = {}
        self._diffuse = None
        self._room: dict = {}

    # ------------------------------------------------------------------ sizes
    @property
    def context(self) -> int:
        """Samples of input needed before and after a segment for exact segment-wise processing."""
        room = 1.5 * self.options.room.rt60 * self.sample_rate if self.options.room is not None else 0.0
        return int(np.ceil((self.length + 2 * stft_size(self.sample_rate, self.options.early_ms) + 0.5 * self.sample_rate
                            + self.delay + room) / self.block) * self.block)

    def with_options(self, **changes) -> "Renderer":
        """A renderer with some options changed (shares the HRTF)."""
        return Renderer(self.hrtf, replace(self.options, **changes))

    # ------------------------------------------------------------------ filters
    def _filter_spectrum(self, az: float, el: float, kind: str = "direct") -> np.ndarray:
        key = (round(float(az) * 4) / 4, round(float(el) * 4) / 4, kind)
        hit = self._spec_cache.get(key)
        if hit is None:
            spec = direct_filter_spectrum(self.hrtf, key[0], key[1], self.options.timbre, self.length,
                                          self.options.regularization, phase_only=kind == "itd")
            h = np.fft.irfft(spec, n=2 * self.length, axis=-1)[..., : self.length]
            fade = max(4, self.length // 16)
            h[..., -fade:] *= np.hanning(2 * fade)[fade:]
            hit = np.fft.rfft(h, n=self.nfft, axis=-1)
            if len(self._spec_cache) > 20000:
                self._spec_cache.clear()
            self._spec_cache[key] = hit
        return hit

    def block_spectra(self, tracks: list[SourceTrack], first_block: int, nb: int, kind: str = "direct") -> np.ndarray:
        """Filter spectra ``[nb, C, F]`` for blocks ``first_block ..`` from the tracks (weighted sum of sources);
        ``kind`` "itd": the interaural-phase-only side filters of the reverberant part."""
        times = (first_block + np.arange(nb) + 0.5) * self.block / self.sample_rate
        az, el, _, w = block_directions(tracks, times)
        c = 1 if self.options.timbre == "mid" else 2
        out = np.zeros((nb, c, self.nfft // 2 + 1), dtype=complex)
        for s in range(az.shape[0]):
            qa = np.round(az[s] * 4) / 4
            qe = np.round(el[s] * 4) / 4
            keys = np.stack([qa, qe], axis=1)
            uniq, inv = np.unique(keys, axis=0, return_inverse=True)
            specs = np.stack([self._filter_spectrum(a, e, kind) for a, e in uniq])
            out += w[s][:, None, None] * specs[inv.reshape(-1)]
        return out

    @property
    def diffuse_filter(self) -> np.ndarray:
        """The decorrelating side FIR for the reverberant part (see :func:`diffuse_side_filter`)."""
        if self._diffuse is None:
            self._diffuse = diffuse_side_filter(self.hrtf, 4 * self.length)
        return self._diffuse

    # ------------------------------------------------------------------ the steps
    def split(self, x: np.ndarray, start: int, t60: float | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Direct and reverberant parts (reverberant None when the input is treated as dry)."""
        if self.options.reverb == "off" or not t60 or t60 < self.options.dry_below_t60:
            return x, None
        return split_direct_reverberant(x, self.sample_rate, t60, start=start, early_ms=self.options.early_ms)

    def direct(self, x: np.ndarray, start: int, tracks: list[SourceTrack], kind: str = "direct") -> np.ndarray:
        """Direct part through the per-block direction filters -> ``[C, T]`` (C = 1 side, or 2 ears)."""
        nb = len(x) // self.block
        spectra = self.block_spectra(tracks, start // self.block, nb, kind)
        return crossfaded_convolve(x, spectra, self.block, self.length)

    def diffuse(self, reverberant: np.ndarray) -> np.ndarray:
        """Decorrelated side of the reverberant part -> ``[T]``."""
        return self.options.diffuse * _fftconvolve_same_start(reverberant, self.diffuse_filter)

    def room_brir(self, tracks: list[SourceTrack]) -> np.ndarray | None:
        """Reflections-only BRIR ``[2, L]`` of the synthetic room for the first source's position at t = 0."""
        if self.options.room is None:
            return None
        az, el, dist, _ = (tracks[0] if tracks else SourceTrack.static(0.0)).at([0.0])
        key = (round(float(az[0]), 1), round(float(el[0]), 1), round(float(dist[0]), 2))
        if key not in self._room:
            from .room import reflections_brir

            self._room[key] = reflections_brir(self.hrtf, *key, self.options.room)
        return self._room[key]

    def render_segment(self, x: np.ndarray, start: int, tracks: list[SourceTrack], t60: float | None = None) -> np.ndarray:
        """Render ``x`` [T] whose first sample is absolute sample ``start`` (a multiple of ``block``) -> ``[2, T]``.

        The output is delayed by ``self.delay`` samples; its first ``context`` samples are not exact (missing
        history). Use :meth:`render` or :meth:`process` for aligned, exact output.
        """
        if start % self.block:
            raise ValueError("segment start must be a multiple of the block size")
        if t60 is None:
            t60 = self.options.t60
        t = len(x)
        pad = (-t) % self.block
        xx = np.pad(np.asarray(x, dtype=np.float64), (0, pad))
        direct, reverberant = self.split(xx, start, t60)
        d = self.direct(direct, start, tracks)
        if reverberant is not None and self.options.reverb_itd and self.options.timbre == "mid":
            d = d + self.direct(reverberant, start, tracks, kind="itd")
        return self._assemble(xx, d, reverberant, tracks)[:, :t]

    def render_parts_segment(self, parts: np.ndarray, start: int, track_sets: list[list[SourceTrack]],
                             t60: float | None = None) -> np.ndarray:
        """Like :meth:`render_segment` for a mono given as parts ``[P, T]`` (they sum to it), part p placed along
        ``track_sets[p]``: the direct/reverberant split is estimated once on the sum and applied to every part,
        the reverberant part is rendered once, and only the direct filtering runs per part. With one track set
        for all parts this equals :meth:`render_segment` of their sum (the renderer is linear)."""
        if start % self.block:
            raise ValueError("segment start must be a multiple of the block size")
        if t60 is None:
            t60 = self.options.t60
        parts = np.atleast_2d(np.asarray(parts, dtype=np.float64))
        t = parts.shape[1]
        pad = (-t) % self.block
        pp = np.pad(parts, ((0, 0), (0, pad)))
        xx = pp.sum(axis=0)
        if self.options.reverb == "off" or not t60 or t60 < self.options.dry_below_t60:
            directs, reverberant = pp, None
        else:
            _, reverberant, directs = split_direct_reverberant(xx, self.sample_rate, t60, start=start,
                                                               early_ms=self.options.early_ms, also=pp)
        d = sum(map_parts(lambda dk, trs: self.direct(dk, start, trs), directs, track_sets))
        if reverberant is not None and self.options.reverb_itd and self.options.timbre == "mid":
            # each part's own reverberant sound (part - its direct part) keeps its own source's time difference
            d = d + sum(self.direct(pk - dk, start, trs, kind="itd") for pk, dk, trs in zip(pp, directs, track_sets))
        out = self._assemble(xx, d, reverberant, track_sets[-1] if track_sets else [])
        return out[:, :t]

    def _assemble(self, xx: np.ndarray, d: np.ndarray, reverberant: np.ndarray | None,
                  tracks: list[SourceTrack]) -> np.ndarray:
        """Input ``xx``, its filtered direct part ``d`` ``[C, T]`` and reverberant part -> binaural ``[2, T]``."""
        mid = np.concatenate([np.zeros(self.delay), xx])[: len(xx)]
        if self.options.timbre == "mid":
            side = d[0]
            if reverberant is not None:
                side = side + self.diffuse(np.concatenate([np.zeros(self.delay), reverberant])[: len(xx)])
            out = np.stack([mid + side, mid - side])
        else:
            out = d
            if reverberant is not None:
                rev = np.concatenate([np.zeros(self.delay), reverberant])[: len(xx)]
                side = self.diffuse(rev)
                out = out + np.stack([rev + side, rev - side])
        brir = self.room_brir(tracks)
        if brir is not None:
            from scipy import signal

            out = out + np.stack([signal.oaconvolve(mid, brir[c])[: len(xx)] for c in range(2)])
        return out

    # ------------------------------------------------------------------ whole signals
    def process(self, chunks: Iterable[np.ndarray], tracks: list[SourceTrack], t60: float | None = None,
                segment_s: float = 10.0, track_sets: list[list[SourceTrack]] | None = None) -> Iterator[np.ndarray]:
        """Stream: mono chunks (any sizes) in -> aligned binaural chunks ``[2, n]`` out, same total length.

        With ``track_sets``, the chunks are ``[P, n]``: a mono in P parts, part p placed along ``track_sets[p]``
        (:meth:`render_parts_segment`). Memory is bounded by the segment length plus context, whatever the input
        length.
        """
        ctx = self.context
        seg = int(np.ceil(segment_s * self.sample_rate / self.block)) * self.block
        rows = len(track_sets) if track_sets is not None else 1
        buf = np.zeros((rows, ctx))  # history (zeros before the start), absolute start = -ctx
        buf_start = -ctx
        emitted = 0  # next output sample to emit
        total = 0
        pending: list[np.ndarray] = []
        pending_n = 0

        def emit(upto: int, final: bool) -> Iterator[np.ndarray]:
            nonlocal buf, buf_start, emitted
            while emitted + seg + ctx + self.delay <= upto or (final and emitted < total):
                n = min(seg, total - emitted) if final else seg
                lo = emitted - ctx
                hi = emitted + n + self.delay + ctx
                need = hi - (buf_start + buf.shape[1])
                x = (np.concatenate([buf, np.zeros((rows, max(need, 0)))], axis=1)[:, : hi - buf_start] if need > 0
                     else buf[:, : hi - buf_start])
                x = x[:, lo - buf_start:]
                y = (self.render_segment(x[0], lo, tracks, t60) if track_sets is None
                     else self.render_parts_segment(x, lo, track_sets, t60))
                yield y[:, ctx + self.delay: ctx + self.delay + n]
                emitted += n
                keep_from = emitted - ctx
                buf = buf[:, keep_from - buf_start:]
                buf_start = keep_from

        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float64).reshape(rows, -1)
            if chunk.size == 0:
                continue
            pending.append(chunk)
            pending_n += chunk.shape[1]
            total += chunk.shape[1]
            if pending_n >= seg:
                buf = np.concatenate([buf] + pending, axis=1)
                pending, pending_n = [], 0
                yield from emit(buf_start + buf.shape[1], final=False)
        if pending:
            buf = np.concatenate([buf] + pending, axis=1)
        yield from emit(buf_start + buf.shape[1], final=True)

    def render(self, x: np.ndarray, tracks: list[SourceTrack], t60: float | None = None) -> np.ndarray:
        """Render a whole mono signal ``x`` [T] -> binaural ``[2, T]`` aligned with the input."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return np.zeros((2, 0))
        return np.concatenate(list(self.process([x], tracks, t60)), axis=1)


class MonoMono:
    """The Mono-Mono baseline behind the same interface: both ears get the input."""

    sample_rate = None

    def render(self, x: np.ndarray, tracks=None, t60=None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return np.stack([x, x])

    def process(self, chunks, tracks=None, t60=None, segment_s: float = 10.0):
        for c in chunks:
            c = np.asarray(c, dtype=np.float64).reshape(-1)
            yield np.stack([c, c])
