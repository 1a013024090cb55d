"""Separation quality: scale-invariant SDR (Le Roux et al. 2019, "SDR - half-baked or well done?", eq. 4-6)."""
from __future__ import annotations

import numpy as np


def si_sdr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-12) -> float:
    """SI-SDR in dB of ``estimate`` ``[T]`` against ``reference`` ``[T]`` (both zero-meaned first):
    10 log10(|a s|^2 / |a s - s_hat|^2) with a = <s_hat, s> / |s|^2. Higher is better; scale-invariant."""
    s_hat = np.asarray(estimate, float).reshape(-1)
    s = np.asarray(reference, float).reshape(-1)
    n = min(len(s), len(s_hat))
    s_hat, s = s_hat[:n] - s_hat[:n].mean(), s[:n] - s[:n].mean()
    a = np.dot(s_hat, s) / (np.dot(s, s) + eps)
    target = a * s
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(target - s_hat, target - s_hat) + eps)))


def align_reference(reference: np.ndarray, mixture: np.ndarray, max_lag: int) -> np.ndarray:
    """Delay ``reference`` by the lag in [0, max_lag] samples that best matches it to ``mixture`` (the propagation
    delay between a dry stem and a recording of it), so SI-SDR measures the content, not the delay."""
    r, m = np.asarray(reference, float), np.asarray(mixture, float)
    n = min(len(r), len(m))
    nfft = int(2 ** np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(m[:n], nfft) * np.conj(np.fft.rfft(r[:n], nfft)), nfft)[: max_lag + 1]
    lag = int(np.argmax(xc))
    return np.concatenate([np.zeros(lag), r[: n - lag]])
