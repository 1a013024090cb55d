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


def stft_distance_split(pred: np.ndarray, gt: np.ndarray, pad_mode: str = "reflect") -> tuple[float, float]:
    """:func:`stft_distance` split exactly into the part of the sum channel L+R and the part of the difference L-R:
    ``(sum_part, diff_part)`` with ``sum_part + diff_part == stft_distance(pred, gt)`` (per bin,
    |dL|^2 + |dR|^2 = (|dL + dR|^2 + |dL - dR|^2) / 2, and the STFT is linear). A spatializer that keeps the mono as
    L+R (Mono2Binaural) can only change the diff part; the sum part is how far the input's tone, noise and room are
    from the recording head's. Prepared signals ``[2, T]``."""
    parts = []
    for x, y in ((pred[0] + pred[1], gt[0] + gt[1]), (pred[0] - pred[1], gt[0] - gt[1])):
        d = librosa_stft(x, pad_mode=pad_mode) - librosa_stft(y, pad_mode=pad_mode)
        parts.append(float(np.mean(d.real**2 + d.imag**2)) / 4)  # stft_distance's mean over (re, im) halves |d|^2
    return parts[0], parts[1]


def stft_distance_best_level(pred: np.ndarray, gt: np.ndarray, pad_mode: str = "reflect") -> float:
    """:func:`stft_distance` after scaling the prediction by the real gain that minimises it,
    ``min_a sum_c mean |a P_c - G_c|^2 / 2 = GG - PG^2 / PP`` (PG: the real part of the cross term; a = PG / PP,
    clipped at 0). A diagnostic, not a published metric: the peak normalisation sets each output's level from its
    loudest sample, so a prediction poorly correlated with the ground truth scores better the larger its peak is
    relative to its energy (a loud interaural difference lowers the normalised L+R); this removes that."""
    pp = pg = gg = 0.0
    for c in range(2):
        P, G = librosa_stft(pred[c], pad_mode=pad_mode), librosa_stft(gt[c], pad_mode=pad_mode)
        pp += float(np.mean(np.abs(P) ** 2)) / 2
        pg += float(np.mean((P * G.conj()).real)) / 2
        gg += float(np.mean(np.abs(G) ** 2)) / 2
    return gg - max(pg, 0.0) ** 2 / pp if pp > 0 else gg


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


# ---------------------------------------------------------------------------------------------------------------
# Protocol "pseudobinaural": the extra metrics of Xu et al., CVPR 2021 (PseudoBinaural), public evaluate.py. Same
# preparation as gao2019 (16 kHz soxr HQ, peak normalisation), same STFT.

def magnitude_distance(pred: np.ndarray, gt: np.ndarray, pad_mode: str = "reflect") -> float:
    """Mag distance: per channel ``mean(|P - G|^2)`` of the complex STFTs, summed over channels (PseudoBinaural's
    ``Magnitude_distance``; it is twice the per-channel STFT distance by construction)."""
    return float(sum(np.mean(np.abs(librosa_stft(pred[c], pad_mode=pad_mode) - librosa_stft(gt[c], pad_mode=pad_mode)) ** 2)
                     for c in range(2)))


def phase_difference_distance(pred: np.ndarray, gt: np.ndarray, pad_mode: str = "reflect") -> float:
    """D_phase: mean absolute wrapped difference (radians, in [0, pi]) between the phases of the STFTs of the L-R
    difference signals (PseudoBinaural's ``Angle_Diff_distance``; a zero bin has phase 0 as librosa.magphase gives)."""
    pd = librosa_stft(pred[0] - pred[1], pad_mode=pad_mode)
    gd = librosa_stft(gt[0] - gt[1], pad_mode=pad_mode)
    d = np.abs(np.angle(pd) - np.angle(gd))
    return float(np.mean(np.minimum(d, np.clip(2 * np.pi - d, 0, 2 * np.pi))))


def snr_pseudobinaural(pred: np.ndarray, gt: np.ndarray) -> float:
    """SNR (dB) as PseudoBinaural computes it: ``10 log10((mean(G^2) + 1e-4) / (mean((P - G)^2) + 1e-4))``."""
    mse = np.mean((pred - gt) ** 2)
    return float(10.0 * np.log10((np.mean(gt**2) + 1e-4) / (mse + 1e-4)))


# ---------------------------------------------------------------------------------------------------------------
# Protocol "richard2021": Richard et al., "Neural Synthesis of Binaural Speech from Mono Audio", ICLR 2021, public
# code (src/losses.py, src/utils.py): 48 kHz, no normalisation, STFT n_fft 2048, Hann window 40 ms, hop 10 ms,
# centred with reflect padding (torch.stft defaults).

def torch_like_stft(x: np.ndarray, sr: int = 48000, n_fft: int = 2048, win_ms: float = 40.0, hop_hz: float = 100.0) -> np.ndarray:
    """``torch.stft(x, n_fft, hop=sr/hop_hz, win=sr*win_ms/1000, window=hann_window(win), center=True,
    pad_mode='reflect')`` for 1-D ``x`` -> ``[n_fft/2 + 1, L]``."""
    win = int(sr * win_ms / 1000)
    hop = int(sr / hop_hz)
    w = np.hanning(win + 1)[:-1]  # torch.hann_window is periodic
    lpad = (n_fft - win) // 2
    w = np.pad(w, (lpad, n_fft - win - lpad))
    xp = np.pad(np.asarray(x, dtype=np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(xp) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    return np.fft.rfft(frames * w, axis=-1).T


def waveform_l2(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared waveform error over both channels (Richard et al. report it x 10^3)."""
    return float(np.mean((pred - gt) ** 2))


def amplitude_error(pred: np.ndarray, gt: np.ndarray, sr: int = 48000) -> float:
    """Mean absolute difference of STFT magnitudes over both channels (Richard et al.'s ``AmplitudeLoss``)."""
    return float(np.mean([np.mean(np.abs(np.abs(torch_like_stft(pred[c], sr)) - np.abs(torch_like_stft(gt[c], sr))))
                          for c in range(pred.shape[0])]))


def phase_error(pred: np.ndarray, gt: np.ndarray, sr: int = 48000, ignore_below: float = 0.1) -> float:
    """Mean angular error (radians) of STFT bins whose |Re| + |Im| exceeds ``ignore_below`` times the mean over
    the ground truth, in both signals (Richard et al.'s ``PhaseLoss``)."""
    p = np.concatenate([torch_like_stft(pred[c], sr).reshape(-1) for c in range(pred.shape[0])])
    g = np.concatenate([torch_like_stft(gt[c], sr).reshape(-1) for c in range(gt.shape[0])])
    ge = np.abs(g.real) + np.abs(g.imag)
    pe = np.abs(p.real) + np.abs(p.imag)
    keep = (ge > ignore_below * ge.mean()) & (pe > ignore_below * ge.mean())
    if not keep.any():
        return float("nan")
    d = np.abs(np.arctan2(p.real[keep], p.imag[keep]) - np.arctan2(g.real[keep], g.imag[keep]))
    return float(np.mean(np.pi - np.abs(d - np.pi)))


def multi_resolution_stft(pred: np.ndarray, gt: np.ndarray,
                          resolutions=((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))) -> float:
    """Multi-resolution STFT distance (Yamamoto et al. 2020, Parallel WaveGAN, Eq. 5-7): mean over resolutions
    (n_fft, hop, win) and channels of spectral convergence plus mean |log magnitude difference|."""
    total = []
    for n_fft, hop, win in resolutions:
        for c in range(pred.shape[0]):
            p = np.abs(librosa_stft(pred[c], n_fft, hop, win, pad_mode="reflect"))
            g = np.abs(librosa_stft(gt[c], n_fft, hop, win, pad_mode="reflect"))
            sc = np.linalg.norm(g - p) / max(np.linalg.norm(g), 1e-12)
            mag = np.mean(np.abs(np.log(np.maximum(g, 1e-7)) - np.log(np.maximum(p, 1e-7))))
            total.append(sc + mag)
    return float(np.mean(total))


PROTOCOLS = {
    "gao2019": "2.5D Visual Sound evaluate.py: 16 kHz (soxr HQ), peak-normalised, STFT 512/160/400 Hann, sums over channels",
    "pseudobinaural": "PseudoBinaural evaluate.py: as gao2019, plus Mag distance, D_phase (L-R phase), SNR",
    "richard2021": "Richard et al. ICLR 2021: 48 kHz, no normalisation; wave L2, amplitude and phase errors (STFT 2048/480/1920)",
    "mrstft": "multi-resolution STFT (Parallel WaveGAN), at the signals' own rate, no normalisation",
}


def all_signal_metrics(pred: np.ndarray, gt: np.ndarray, sr: float) -> dict:
    """Every signal metric, each under its protocol name -> flat dict ``{'gao2019/stft': ..., ...}``."""
    p16, g16 = prepare_gao2019(pred, gt, sr)
    s_part, d_part = stft_distance_split(p16, g16)
    out = {"gao2019/stft": stft_distance(p16, g16), "gao2019/stft_sum": s_part, "gao2019/stft_diff": d_part,
           "gao2019/stft_best_level": stft_distance_best_level(p16, g16),
           "gao2019/env": envelope_distance(p16, g16),
           "pseudobinaural/mag": magnitude_distance(p16, g16), "pseudobinaural/dphase": phase_difference_distance(p16, g16),
           "pseudobinaural/snr": snr_pseudobinaural(p16, g16)}
    n = min(pred.shape[-1], gt.shape[-1])
    p, g = np.asarray(pred[:, :n], float), np.asarray(gt[:, :n], float)
    if int(sr) != 48000:
        import soxr

        p = soxr.resample(p.T, sr, 48000, quality="HQ").T
        g = soxr.resample(g.T, sr, 48000, quality="HQ").T
    out.update({"richard2021/wave_l2_x1e3": 1e3 * waveform_l2(p, g), "richard2021/amplitude": amplitude_error(p, g),
                "richard2021/phase": phase_error(p, g), "mrstft/distance": multi_resolution_stft(pred[:, :n], gt[:, :n])})
    return out
