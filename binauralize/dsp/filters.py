"""Spatial filters the renderer applies, derived from an HRTF.

Timbre modes for the direct sound:

- ``mid`` (default): mono-referenced. The output is ``L = x + s, R = x - s`` where ``x`` is the input and the side
  ``s = x * S`` is the HRTF pair's side predicted from its mid, ``S = D M* / (|M|^2 + eps P)`` with
  ``D = (H_L - H_R)/2``, ``M = (H_L + H_R)/2`` and ``P = (|H_L|^2 + |H_R|^2)/2`` (a regularised ratio, i.e. the
  least-squares estimate of the side given the mid). So ``(L + R)/2 == x`` exactly: the input keeps its tone and
  only interaural differences are added. For a recording whose mono is (L+R)/2 of a real binaural pair this is
  the exact relation between mid and side of the direct sound.
- ``diffuse-field``: classical diffuse-field equalised HRTF pair ``H / |DF|`` (minimum phase DF).
- ``none``: the raw HRTF pair (plain convolution; colours the sound with the dummy head's response).

All FIR filters returned here are real, of length ``length`` and carry the bulk delay given by
:func:`bulk_delay` (``length // 2`` for ``mid``, 0 otherwise) so that the renderer can compensate it.
"""
from __future__ import annotations

import numpy as np

from .hrtf import HRTF, minimum_phase_spectrum, _truncate

TIMBRE_MODES = ("mid", "diffuse-field", "none")


def filter_length(sample_rate: float) -> int:
    """FIR length in samples for the direct-sound filters: ~10 ms, a power of two, at least 128."""
    return int(max(128, 2 ** np.ceil(np.log2(0.0107 * sample_rate))))


def bulk_delay(timbre: str, length: int) -> int:
    """Latency in samples that a filter of ``timbre`` mode carries."""
    return length // 2 if timbre == "mid" else 0


def _resample_spectrum(spec: np.ndarray, nfft_src: int, nfft_dst: int) -> np.ndarray:
    """Sample a smooth one-sided spectrum defined on ``nfft_src`` points onto ``nfft_dst`` points (linear in freq)."""
    if nfft_src == nfft_dst:
        return spec
    f_src = np.linspace(0.0, 1.0, nfft_src // 2 + 1)
    f_dst = np.linspace(0.0, 1.0, nfft_dst // 2 + 1)
    flat = spec.reshape(-1, spec.shape[-1])
    out = np.stack([np.interp(f_dst, f_src, r.real) + 1j * np.interp(f_dst, f_src, r.imag) for r in flat])
    return out.reshape(spec.shape[:-1] + (f_dst.size,))


def side_spectrum(h: np.ndarray, regularization: float = 0.05) -> np.ndarray:
    """Side-from-mid ratio ``S = D M* / (|M|^2 + eps P)`` of an HRTF pair ``h`` [2, F] -> ``[F]`` complex."""
    d = 0.5 * (h[0] - h[1])
    m = 0.5 * (h[0] + h[1])
    p = 0.5 * (np.abs(h[0]) ** 2 + np.abs(h[1]) ** 2)
    return d * np.conj(m) / (np.abs(m) ** 2 + regularization * p + 1e-12)


def direct_filter_spectrum(hrtf: HRTF, az: float, el: float, timbre: str, length: int,
                           regularization: float = 0.05, phase_only: bool = False) -> np.ndarray:
    """One-sided spectrum on an ``2*length``-point grid of the direct-sound filter(s) at (az, el).

    Returns ``[1, F]`` (the side filter) for ``timbre == 'mid'`` and ``[2, F]`` (left, right) otherwise; the FIR
    is the real inverse FFT truncated to ``length`` taps (see :func:`direct_filter`). ``phase_only`` (mid only):
    the side ratio's imaginary part ``i Im(S)``, so ``L = x (1 + i Im S)`` and ``R = x (1 - i Im S)`` have equal
    magnitudes (no level difference) and the interaural phase ``2 atan(Im S)``, the pair's own where its level
    difference is small (below ~1.5 kHz, where the time cue is heard).
    """
    h = hrtf.spectra(az, el)
    nfft = 2 * length
    if timbre == "mid":
        s = side_spectrum(h, regularization)
        if phase_only:
            s = 1j * s.imag
        # the bulk delay (half the FIR, so the filter is causal) goes on AFTER the ratio is moved to the FIR's grid:
        # on the HRTF's own grid its phase step per bin (360 deg x (length/2) / hrtf.nfft) reaches 180-360 deg for
        # sets with short impulse responses, and interpolating that aliased the side filter (no ILD and a zero or
        # reversed ITD with e.g. a KU100 set at 48 kHz)
        s = _resample_spectrum(s[None], hrtf.nfft, nfft)
        freqs = np.fft.rfftfreq(nfft, 1.0 / hrtf.sample_rate)
        return s * np.exp(-2j * np.pi * freqs * (length // 2) / hrtf.sample_rate)[None]
    if timbre == "diffuse-field":
        df = minimum_phase_spectrum(hrtf.diffuse_field_magnitude, hrtf.nfft)
        h = h / df[None, :]
    elif timbre != "none":
        raise ValueError(f"unknown timbre mode {timbre!r}; choose from {TIMBRE_MODES}")
    return _resample_spectrum(h, hrtf.nfft, nfft)


def direct_filter(hrtf: HRTF, az: float, el: float, timbre: str, length: int,
                  regularization: float = 0.05) -> np.ndarray:
    """Direct-sound FIR(s) at (az, el): ``[1, length]`` side filter for ``mid``, else ``[2, length]`` (L, R)."""
    spec = direct_filter_spectrum(hrtf, az, el, timbre, length, regularization)
    return _truncate(np.fft.irfft(spec, n=2 * length, axis=-1), length)


def diffuse_side_filter(hrtf: HRTF, length: int, seed: int = 7) -> np.ndarray:
    """FIR ``[length]`` that turns a reverberant mid signal into a side signal with the interaural coherence of a
    diffuse field for this head: gain ``g = sqrt((1 - C)/(1 + C))`` (capped at 1) with ``C`` the diffuse-field
    coherence of the HRTF set, applied to an all-pass decorrelator (exponentially decaying random-phase noise,
    ~10 ms time constant, fixed seed). With ``L = m + s, R = m - s`` and ``s`` uncorrelated with ``m``, the
    coherence is ``(1 - g^2) / (1 + g^2) = C``; ``(L + R)/2 = m`` is unchanged.
    """
    nfft = 2 * length
    rng = np.random.default_rng(seed)
    sr = hrtf.sample_rate
    n = np.arange(length)
    noise = rng.standard_normal(length) * np.exp(-n / (0.010 * sr))
    spec = np.fft.rfft(noise, n=nfft)
    allpass = spec / np.maximum(np.abs(spec), 1e-9)
    coh = np.interp(np.fft.rfftfreq(nfft, 1 / sr), hrtf.freqs, hrtf.diffuse_coherence)
    coh = np.clip(coh, -0.99, 0.999)
    g = np.minimum(np.sqrt((1.0 - coh) / (1.0 + coh)), 1.0)
    fir = np.fft.irfft(allpass * g, n=nfft)
    return _truncate(fir, length)
