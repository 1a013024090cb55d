"""Signal distances between a predicted and a ground-truth binaural pair ``[2, T]`` (index 0 = left).

Protocol ``gao2019``: exactly as 2.5D Visual Sound's ``evaluate.py`` (Gao & Grauman, CVPR 2019, public code):
both signals resampled to 16 kHz as ``librosa.load(sr=16000)`` does (soxr, quality HQ), each peak-normalised over
both channels, then

- STFT distance: per channel ``mean((Re P - Re G)^2 and (Im P - Im G)^2 stacked)`` of
  ``librosa.stft(n_fft=512, hop_length=160, win_length=400, window='hann', center=True)``, SUMMED over channels;
- ENV distance: per channel ``sqrt(mean((|hilbert(G)| - |hilbert(P)|)^2))``, SUMMED over channels.

librosa's ``center=True`` padding changed from ``pad_mode='reflect'`` (librosa < 0.10, the version the paper's
code ran with) to ``'constant'`` (zeros, librosa >= 0.10). We default to ``reflect`` (the original) and accept
``pad_mode='constant'`` to match newer re-evaluations; the difference is confined to the first/last frame.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

EVAL_RATE = 16000


def resample_like_librosa(x: np.ndarray, sr: float, target: int = EVAL_RATE) -> np.ndarray:
    """Resample ``[C, T]`` as ``librosa.load(sr=target)`` does (soxr 'HQ'), float32 like librosa returns."""
    import soxr

    x = np.asarray(x, dtype=np.float32)
    if int(sr) == target:
        return x
    return np.ascontiguousarray(soxr.resample(x.T, sr, target, quality="HQ").T.astype(np.float32))


def peak_normalize(x: np.ndarray) -> np.ndarray:
    """``x / max(1e-20, max|x|)`` over all channels (2.5D Visual Sound's ``normalize``)."""
    return x / np.maximum(1e-20, np.max(np.abs(x)))


def librosa_stft(x: np.ndarray, n_fft: int = 512, hop: int = 160, win: int = 400, pad_mode: str = "reflect") -> np.ndarray:
    """``librosa.stft(x, n_fft, hop, win, window='hann', center=True)`` for a 1-D signal -> ``[1 + n_fft/2, L]``."""
    w = np.hanning(win + 1)[:-1]  # scipy.signal.get_window('hann', win, fftbins=True)
    lpad = (n_fft - win) // 2
    w = np.pad(w, (lpad, n_fft - win - lpad))
    xp = np.pad(np.asarray(x, dtype=np.float64), n_fft // 2, mode=pad_mode)
    n_frames = 1 + (len(xp) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    return np.fft.rfft(frames * w, axis=-1).T


def stft_distance(pred: np.ndarray, gt: np.ndarray, pad_mode: str = "reflect") -> float:
    """2.5D Visual Sound's ``STFT_L2_distance`` on already prepared signals ``[2, T]`` (sum over channels)."""
    total = 0.0
    for c in range(2):
        p = librosa_stft(pred[c], pad_mode=pad_mode)
        g = librosa_stft(gt[c], pad_mode=pad_mode)
        d = np.concatenate([(p.real - g.real)[None], (p.imag - g.imag)[None]])
        total += float(np.mean(d**2))
    return total


def envelope_distance(pred: np.ndarray, gt: np.ndarray) -> float:
    """2.5D Visual Sound's ``Envelope_distance``: RMSE of Hilbert envelopes per channel, summed."""
    total = 0.0
    for c in range(2):
        total += float(np.sqrt(np.mean((np.abs(hilbert(gt[c])) - np.abs(hilbert(pred[c]))) ** 2)))
    return total


def prepare_gao2019(pred: np.ndarray, gt: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample to 16 kHz (soxr HQ) and peak-normalise each signal, trimming to a common length."""
    p = peak_normalize(resample_like_librosa(pred, sr))
    g = peak_normalize(resample_like_librosa(gt, sr))
    n = min(p.shape[-1], g.shape[-1])
    return p[:, :n], g[:, :n]


def gao2019_metrics(pred: np.ndarray, gt: np.ndarray, sr: float, pad_mode: str = "reflect") -> dict:
    """STFT and ENV distances under protocol ``gao2019`` for a prediction and ground truth ``[2, T]`` at ``sr``."""
    p, g = prepare_gao2019(pred, gt, sr)
    return {"stft": stft_distance(p, g, pad_mode), "env": envelope_distance(p, g)}
