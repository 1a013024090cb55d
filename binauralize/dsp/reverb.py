"""Reverberation already in the input: blind T60 estimate and a direct/reverberant split of a mono signal.

The split uses the statistical late-reverberation model of Lebart, Boucher & Denbigh (2001) as used by
Habets (2009, "Speech dereverberation using statistical reverberation models", Eq. 3.12): the late reverberant
power at frame l is the input power N_e frames earlier decayed by exp(-2 delta N_e hop / fs), delta = 3 ln 10 / T60.
A spectral-subtraction gain G in [G_min, 1] gives the direct (plus early) part G X; the rest (1 - G) X is the
reverberant part, so the two always sum back to the input.

All functions are pure and local in time: processing a long signal in overlapping segments gives the same result
as processing it whole (frames are aligned to absolute sample positions; recursions forget within ``context``).
"""
from __future__ import annotations

import numpy as np


def stft_size(sample_rate: float, early_ms: float = 10.0) -> int:
    """STFT frame length for the split: the power of two nearest ``early_ms`` (at least 64 samples).

    The late-reverberation estimate for a frame uses the frame one window length earlier (4 hops), so the
    window must not be longer than the early part, or the direct sound would count as its own reverberation.
    """
    return int(max(64, 2 ** np.round(np.log2(early_ms / 1000.0 * sample_rate))))


def _frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    """Frames [L, n] starting at 0, hop, 2 hop, ... of x padded with zeros at the end (view when possible)."""
    count = int(np.ceil(max(len(x) - n, 0) / hop)) + 1
    need = (count - 1) * hop + n
    if need > len(x):
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, n)[::hop]


def split_direct_reverberant(x: np.ndarray, sample_rate: float, t60: float, start: int = 0,
                             early_ms: float = 50.0, gain_floor: float = 0.1,
                             smoothing_ms: float = 20.0, also: np.ndarray | None = None):
    """Split mono ``x`` [T] into (direct, reverberant), each [T], with direct + reverberant == x.

    ``start`` is the absolute sample index of ``x[0]``; frames are aligned to multiples of the hop from absolute
    zero, so segments of a long signal line up. The first and last frame length of samples are less accurate
    (half windows): callers keep a context margin there. ``also`` ``[K, T]``: signals that get the gains estimated
    on ``x`` (parts of it: their direct parts then sum to the direct part of their sum); when given, a third item
    ``[K, T]`` is returned with their direct parts.
    """
    n = stft_size(sample_rate, early_ms)
    hop = n // 4
    if t60 <= 0.05 or len(x) == 0:
        d, r = x.copy(), np.zeros_like(x)
        return (d, r) if also is None else (d, r, np.array(also, dtype=float, copy=True))
    # align: pad the front so that frame starts fall on absolute multiples of hop
    lead = (start % hop)
    pad_front = n - hop + lead  # every output sample is covered by n/hop frames
    win = np.sqrt(np.hanning(n + 1)[:-1])  # periodic sqrt-Hann; analysis * synthesis = Hann, sums to n/(2 hop)

    def spectrum(sig):
        return np.fft.rfft(_frames(np.concatenate([np.zeros(pad_front), sig, np.zeros(n)]), n, hop) * win, axis=-1)

    def resynth(spec):  # [L, F] -> [len(x)]: weighted overlap-add
        direct_frames = np.fft.irfft(spec, n=n, axis=-1) * win
        out = np.zeros(pad_front + len(x) + n)
        for k in range(n // hop):  # overlap-add, vectorised per phase
            blk = direct_frames[k:: n // hop]
            idx0 = k * hop
            seg = blk.reshape(-1)
            out[idx0: idx0 + seg.size] += seg[: len(out) - idx0]
        out *= 2.0 * hop / n
        return out[pad_front: pad_front + len(x)]

    spec = spectrum(x)  # [L, F]
    power = np.abs(spec) ** 2
    from scipy import signal

    alpha = np.exp(-hop / (sample_rate * smoothing_ms / 1000.0))
    smooth = signal.lfilter([1 - alpha], [1, -alpha], power, axis=0)
    ne = n // hop  # one window back: the first frame that shares no samples with the current one
    delta = 3.0 * np.log(10.0) / t60
    decay = np.exp(-2.0 * delta * ne * hop / sample_rate)
    late = np.zeros_like(smooth)
    late[ne:] = decay * smooth[:-ne]
    # Wiener gain: the direct share of the power (the least-squares estimate of the direct part)
    gain = np.clip(1.0 - late / np.maximum(smooth, 1e-20), gain_floor, 1.0)
    direct = resynth(spec * gain)
    if also is None:
        return direct, x - direct
    return direct, x - direct, np.stack([resynth(spectrum(a) * gain) for a in np.atleast_2d(also)])


def band_envelopes(x: np.ndarray, sample_rate: float, bands=(500.0, 1000.0, 2000.0, 4000.0),
                   frame_s: float = 0.01) -> np.ndarray:
    """Octave-band energies in dB per 10-ms frame -> [len(bands), L] (for :func:`estimate_t60`)."""
    n = int(2 ** np.ceil(np.log2(2 * frame_s * sample_rate)))
    hop = int(round(frame_s * sample_rate))
    if len(x) < n:
        return np.zeros((len(bands), 0))
    frames = _frames(x, n, hop)
    p = np.abs(np.fft.rfft(frames * np.hanning(n), axis=-1)) ** 2
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    out = []
    for fc in bands:
        sel = (f >= fc / np.sqrt(2)) & (f < fc * np.sqrt(2))
        out.append(10 * np.log10(p[:, sel].sum(axis=1) + 1e-12) if sel.any() else np.full(len(p), -120.0))
    return np.array(out)


def estimate_t60(envelopes_db: np.ndarray, frame_s: float = 0.01, min_run_s: float = 0.08,
                 min_drop_db: float = 10.0, fastest: float = 0.25) -> float | None:
    """Blind reverberation time from free decays (in the spirit of Ratnam et al. 2003 / Loellmann et al. 2010).

    Finds runs where a band's energy falls monotonically for at least ``min_run_s`` and by ``min_drop_db``, fits a
    line to each, and takes the median of the fastest quarter of decay rates: sound offsets cannot decay faster
    than the room, so the fastest decays measure it. Returns T60 in seconds, or None when no decays were seen
    (too short or too steady a signal).
    """
    rates = []
    min_len = int(round(min_run_s / frame_s))
    for env in envelopes_db:
        if env.size < min_len + 2:
            continue
        sm = np.convolve(env, np.ones(3) / 3, mode="same")
        falling = np.diff(sm) < 0
        start = None
        for i, fl in enumerate(np.append(falling, False)):
            if fl and start is None:
                start = i
            elif not fl and start is not None:
                seg = sm[start: i + 1]
                if len(seg) >= min_len and seg[0] - seg[-1] >= min_drop_db and seg[-1] > env.max() - 70:
                    t = np.arange(len(seg)) * frame_s
                    slope = np.polyfit(t, seg, 1)[0]
                    if slope < 0:
                        rates.append(-slope)
                start = None
    if len(rates) < 3:
        return None
    rates = np.sort(np.array(rates))[::-1]
    fastest = rates[: max(3, int(len(rates) * fastest))]
    return float(np.clip(60.0 / np.median(fastest), 0.05, 3.0))
