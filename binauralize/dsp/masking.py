"""Time-frequency masks computed on the 16-kHz analysis grid, applied to a signal at its own rate (no PyTorch).

The learned separators (``--model position``, ``class-nmf``, ``position-nmf``) and the talker split of
``--model speech`` compute their masks on a 16-kHz, 512-point STFT (25-ms window, 10-ms hop); the masks are applied
to the full-rate signal here, so the parts keep the input's band (above 8 kHz: the top bin's mask).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

N_FFT, HOP, WIN, SR = 512, 160, 400, 16000


def stft16(x16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signal ``[T]`` at 16 kHz -> (frame times ``[N]`` s, complex STFT ``[257, N]``) on the masks' grid."""
    from scipy.signal import stft as sp_stft

    _, tt, z = sp_stft(x16, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)
    return tt, z


def _linear_weights(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``i`` and fractions ``a`` with ``v(x) = (1 - a) v[i] + a v[i + 1]``: linear interpolation on the
    increasing ``grid`` (length >= 2), clamped at both ends like ``np.interp``."""
    i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
    a = np.clip((x - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
    return i, a


def apply_masks_full_rate(x: np.ndarray, sr: int, masks: np.ndarray, tt: np.ndarray,
                          chunk_s: float = 10.0, out: np.ndarray | None = None) -> np.ndarray:
    """Masks ``[K, F16, N16]`` on the 16-kHz grid (frame times ``tt`` s) -> masked signals ``[K, T]`` at ``sr``.

    The masks are interpolated linearly to the full-rate STFT's bins (above 8 kHz: the top bin's) and frames
    (window and hop scaled to keep 25 ms and 10 ms), applied, and inverted. Pieces of ``chunk_s`` seconds start on
    the whole signal's frame grid and carry one window of context either side (then dropped), so every kept sample
    comes from the same frames as a whole-signal pass (:func:`iter_masked_full_rate` yields the pieces)."""
    out = np.zeros((len(masks), len(x))) if out is None else out
    for a, piece in iter_masked_full_rate(x, sr, masks, tt, chunk_s):
        out[:, a:a + piece.shape[1]] = piece
    return out


def iter_masked_full_rate(x: np.ndarray, sr: int, masks: np.ndarray, tt: np.ndarray,
                          chunk_s: float = 10.0) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`apply_masks_full_rate` a piece at a time, in order: ``(first sample, [K, n])`` per ``chunk_s``
    seconds, so what follows (the rendering, the encoder) can start before the whole signal is masked."""
    from scipy.signal import istft as sp_istft
    from scipy.signal import stft as sp_stft

    from .render import map_parts

    nper = int(round(WIN * sr / SR))
    hop = int(round(HOP * sr / SR))
    nfft = int(2 ** np.ceil(np.log2(nper)))
    n = len(x)
    if n == 0:
        return
    if len(masks) == 0:
        yield 0, np.zeros((0, n))
        return
    fi, fa = _linear_weights(np.fft.rfftfreq(N_FFT, 1 / SR), np.fft.rfftfreq(nfft, 1 / sr))
    step = max(1, int(round(chunk_s * sr / hop))) * hop
    pad = int(np.ceil(nper / hop)) * hop
    for a in range(0, n, step):
        b = min(a + step, n)
        lo, hi = max(0, a - pad), min(n, b + pad)
        _, t, z = sp_stft(x[lo:hi], sr, "hann", nper, nper - hop, nfft, boundary="even", padded=True)
        ti, ta = _linear_weights(tt, t + lo / sr)  # full-rate frames on the 16-kHz frames
        j0, j1 = int(ti.min()), int(ti.max()) + 2   # the 16-kHz frames this piece needs
        ti = ti - j0

        def masked(mk: np.ndarray) -> np.ndarray:
            mk = mk[:, j0:j1]
            mf = mk[fi] * (1 - fa)[:, None] + mk[fi + 1] * fa[:, None]  # [F, frames of the piece at 16 kHz]
            mt = mf[:, ti] * (1 - ta) + mf[:, ti + 1] * ta               # [F, N]
            _, y = sp_istft(z * mt, sr, "hann", nper, nper - hop, nfft, boundary=True)
            y = np.pad(y, (0, max(0, hi - lo - len(y))))
            return y[a - lo:b - lo]

        yield a, np.stack(map_parts(masked, masks))  # the parts on both cores
