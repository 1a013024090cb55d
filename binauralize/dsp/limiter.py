"""A look-ahead peak limiter for the binaural output, both ears linked: the level is lowered smoothly before a peak
that would pass the ceiling, instead of bending the waveform at the peak.

Why not a sample-wise soft clipper (the tool's first limiter, a tanh knee above 0.9): bending each loud sample adds
harmonics (a 1-kHz tone 3.8 dB over the ceiling came out with 13% total harmonic distortion; here under 1e-9), and
bending only the louder ear shrinks the interaural level difference exactly when a source is loudest (6.0 dB became
4.4 dB). Here one gain, common to both ears, follows the peak envelope: the interaural differences are kept, and a
tone that is too loud is only made quieter. The output needs it often: with the default "mid" timbre the ears'
average is the input, so the nearer ear of an off-centre source is louder than the input (with the bundled KEMAR, per
octave band up to +7.9 dB at 4 kHz for 10 degrees and +8.3 dB at 500 Hz for 90; at most +10 dB at single
frequencies: where the far ear is in antiphase), and loud input passes full scale there.

The gain reduction (dB) a sample needs is ``max(0, 20 log10(peak / ceiling))`` with ``peak = max(|L|, |R|)``. It is
held for ``hold_s`` (longer than the 10 ms between the peaks of a 50-Hz tone, so a loud tone gets a constant gain,
not one that ripples each cycle), released at ``release_db_per_s`` (linear in dB), then spread back over the
``lookahead_s`` before each sample by a running maximum, and smoothed with a Hann window of the same length. Each
smoothed value is an average of maxima over windows that contain the sample itself, so the output never passes the
ceiling (the look-ahead construction of brick-wall limiters; hold and release as in Giannoulis, Massberg & Reiss,
"Digital dynamic range compressor design", JAES 2012). Stream processing: the output lags the input by the
look-ahead inside; :meth:`LookaheadLimiter.process` hides this (the same samples out as in).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np


class LookaheadLimiter:
    """Linked-stereo look-ahead peak limiter (module docstring).

    Args: sample_rate (Hz); ceiling: the largest output magnitude (linear, 1.0 = full scale); lookahead_s: attack
    time, the gain reaches its value this long before the peak; hold_s: how long a reduction is held;
    release_db_per_s: how fast it is given back after the hold.

    Use :meth:`process` on a stream of ``[C, n]`` chunks. Afterwards ``samples_reduced`` counts the samples whose
    gain was lowered by more than 0.01 dB and ``max_reduction_db`` is the largest reduction."""

    def __init__(self, sample_rate: float, ceiling: float = 0.9, lookahead_s: float = 0.002, hold_s: float = 0.012,
                 release_db_per_s: float = 200.0):
        if not 0.0 < ceiling:
            raise ValueError("ceiling must be positive")
        self.ceiling = float(ceiling)
        self.sample_rate = float(sample_rate)
        self.a = max(1, int(round(lookahead_s * sample_rate)))
        self.h = 2 * max(1, int(round(hold_s * sample_rate / 2)))  # even: the look-back window is centred on h/2
        self.rate = float(release_db_per_s) / float(sample_rate)  # dB per sample
        w = np.hanning(self.a + 2)[1:-1]
        self.window = w / w.sum()  # a weights, positive, summing to 1
        self.samples_reduced = 0
        self.max_reduction_db = 0.0
        self.trace_hop = max(1, int(round(0.05 * sample_rate)))  # samples per frame of :attr:`trace_db`
        self._trace = np.zeros(0)
        self._emitted = 0

    @property
    def trace_db(self) -> np.ndarray:
        """The largest gain reduction (dB, >= 0) in each 50-ms frame of what has been output so far ``[frames]``
        (frame k starts at sample ``k * trace_hop``), for a plot of where the limiter worked."""
        frames = -(-self._emitted // self.trace_hop)
        return np.pad(self._trace, (0, max(0, frames - len(self._trace))))[:frames]

    def _required_db(self, x: np.ndarray) -> np.ndarray:
        peak = np.max(np.abs(x), axis=0)
        if len(peak) and not np.isfinite(peak).all():
            # a NaN or inf sample passes as it is; it must not hide the other ear's peak or poison the envelope
            a = np.abs(x)
            a[~np.isfinite(a)] = 0.0
            peak = a.max(axis=0)
        if not len(peak) or peak.max() <= self.ceiling:
            return np.zeros(len(peak))
        with np.errstate(divide="ignore"):
            return np.maximum(0.0, 20.0 * np.log10(np.maximum(peak, 1e-30) / self.ceiling))

    def process(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """``[C, n]`` chunks (any sizes; a 1-D chunk is one channel, ``[1, n]`` out) in -> limited ``[C, n']``
        chunks out, the same samples in total, in order. One stream per limiter (the statistics add up)."""
        a, h, wlen = self.a, self.h, len(self.window)
        gr_tail = np.zeros(h)  # the last h required reductions (hold's look-back)
        release = 0.0  # the held-and-released reduction at the last received sample
        envelope = np.zeros(wlen - 1)  # held/released reductions from (next output - wlen + 1) on, dB
        pending: list[np.ndarray] = []  # input not yet output, in order
        pending_n = 0
        channels = None
        step = max(a + 1, int(self.sample_rate))

        def emit(env: np.ndarray, count: int) -> np.ndarray:
            """The first ``count`` pending samples, limited with the envelope ``env`` (which starts wlen - 1 samples
            before them and runs a samples past them)."""
            nonlocal pending, pending_n
            fresh = len(pending) > 1
            x = np.concatenate(pending, axis=1) if fresh else pending[0]
            out = x[:, :count]
            rest = x[:, count:].copy()  # a copy: the producer may reuse its buffer, and a view would keep x alive
            pending, pending_n = ([rest] if rest.shape[1] else []), rest.shape[1]
            start = self._emitted
            self._emitted += count
            if not env.any():  # nothing near the ceiling: the samples pass unchanged (the common case)
                return out if fresh else out.copy()
            # imported here, not with the module: most outputs never need them, and importing scipy.signal with the
            # tool cost every run 0.6 s and 70 MB (docs/benchmarks.md, "The output limiter")
            from scipy.ndimage import maximum_filter1d
            from scipy.signal import oaconvolve

            # forward running maximum over [n, n + a]: maximum_filter1d centred on a/2 (size a + 1), shifted
            fwd = maximum_filter1d(env, size=a + 1, mode="nearest", origin=-(a // 2) if a % 2 == 0 else -((a + 1) // 2))
            # each n: the Hann-weighted mean over [n - wlen + 1, n]
            smooth = np.maximum(oaconvolve(fwd, self.window[::-1], mode="valid")[:count], 0.0)
            # the FFT convolution's rounding (~1e-16 dB) where nothing is needed: no change there
            smooth[(fwd[wlen - 1:wlen - 1 + count] == 0.0) & (smooth < 1e-9)] = 0.0
            where = np.nonzero(smooth > 0.01)[0]
            self.samples_reduced += len(where)
            if len(where):
                self.max_reduction_db = max(self.max_reduction_db, float(smooth[where].max()))
                frame = (start + where) // self.trace_hop
                if frame[-1] >= len(self._trace):
                    self._trace = np.pad(self._trace, (0, max(int(frame[-1]) + 1 - len(self._trace), len(self._trace))))
                np.maximum.at(self._trace, frame, smooth[where])
            # 1e-9 dB of margin for the convolution's rounding: the ceiling is never passed
            return out * 10.0 ** (-(smooth + (smooth > 0) * 1e-9) / 20.0)

        def absorb(x: np.ndarray) -> None:
            """Append the held/released reductions of the new samples ``x`` to the envelope."""
            nonlocal gr_tail, release, envelope
            gr = self._required_db(x)
            if release <= 0.0 and not gr.any() and not gr_tail.any():  # nothing to hold or release
                gr_tail = gr[-h:] if len(gr) >= h else np.concatenate([gr_tail, gr])[-h:]
                envelope = np.concatenate([envelope, gr])
                return
            from scipy.ndimage import maximum_filter1d

            ext = np.concatenate([gr_tail, gr])
            cen = maximum_filter1d(ext, size=h + 1, mode="nearest")  # window [i - h/2, i + h/2]
            held = cen[h - h // 2: h - h // 2 + len(gr)]  # sample j: window [j - h, j] of the original indices
            k = np.arange(len(gr))
            rel = np.maximum(release - self.rate * (k + 1), np.maximum.accumulate(held + self.rate * k) - self.rate * k)
            release = float(rel[-1])
            gr_tail = ext[-h:]
            envelope = np.concatenate([envelope, rel])

        for chunk in chunks:
            x = np.asarray(chunk, dtype=np.float64)
            if x.ndim == 1:
                x = x[None]
            if channels is not None and x.shape[0] != channels:
                raise ValueError(f"limiter: a chunk of {x.shape[0]} channels in a stream of {channels}")
            channels = x.shape[0]
            for i in range(0, x.shape[1], step):  # in slices of a second at most: small temporaries
                piece = x[:, i:i + step]
                absorb(piece)
                pending.append(piece)
                pending_n += piece.shape[1]
                ready = pending_n - a  # samples whose look-ahead is complete
                if ready > 0:
                    env = envelope[: wlen - 1 + ready + a]
                    yield emit(env, ready)
                    envelope = envelope[ready:]
        if pending_n:  # the end: nothing louder follows, the envelope releases into silence
            absorb(np.zeros((channels, a)))
            yield emit(envelope[: wlen - 1 + pending_n + a], pending_n)


def limit(x: np.ndarray, sample_rate: float, **options) -> tuple[np.ndarray, LookaheadLimiter]:
    """Limit a whole signal ``[C, T]`` (or ``[T]``) -> (limited ``[C, T]``, the limiter with its statistics)."""
    lim = LookaheadLimiter(sample_rate, **options)
    x = np.asarray(x, dtype=np.float64)
    x2 = x[None] if x.ndim == 1 else x
    parts = list(lim.process([x2]))
    y = np.concatenate(parts, axis=1) if parts else np.zeros_like(x2)
    return (y[0] if x.ndim == 1 else y), lim
