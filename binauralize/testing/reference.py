"""An independent re-derivation of 2.5D Visual Sound's evaluation on top of librosa (the stack its code runs on),
to check our own implementation against (tests/test_parity.py, benchmarks/parity_real_pairs.py). Needs librosa."""
from __future__ import annotations

import numpy as np
from scipy.signal import hilbert


def reference_gao2019(pred_path: str, gt_path: str, pad_mode: str = "reflect") -> tuple[float, float]:
    """(STFT distance, ENV distance) of two binaural files the way the paper's evaluate.py computes them:
    ``librosa.load(sr=16000, mono=False)``, peak normalisation, ``librosa.stft(512, 160, 400, center=True)``,
    per-channel mean of squared real/imaginary differences and RMSE of Hilbert envelopes, summed over channels."""
    import librosa

    p, _ = librosa.load(pred_path, sr=16000, mono=False)
    g, _ = librosa.load(gt_path, sr=16000, mono=False)
    p = p / np.maximum(1e-20, np.max(np.abs(p)))
    g = g / np.maximum(1e-20, np.max(np.abs(g)))
    stft = env = 0.0
    for c in range(2):
        a = librosa.stft(np.asfortranarray(p[c]), n_fft=512, hop_length=160, win_length=400, center=True, pad_mode=pad_mode)
        b = librosa.stft(np.asfortranarray(g[c]), n_fft=512, hop_length=160, win_length=400, center=True, pad_mode=pad_mode)
        stft += np.mean(np.concatenate([(a.real - b.real)[None], (a.imag - b.imag)[None]]) ** 2)
        env += np.sqrt(np.mean((np.abs(hilbert(g[c])) - np.abs(hilbert(p[c]))) ** 2))
    return float(stft), float(env)
