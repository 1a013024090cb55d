"""Non-negative matrix factorisation under the generalised KL divergence, in NumPy (no scikit-learn, no PyTorch).

Used by the class-conditioned separator (``--model class-nmf``: dictionaries fitted in training, activations here)
and by ``--model speech``'s talker split (each talker's dictionary fitted at run time to the stretches where only
that talker speaks). Lee & Seung 2001 ("Algorithms for non-negative matrix factorization"), multiplicative updates.
"""
from __future__ import annotations

import numpy as np


def kl_activations(v: np.ndarray, w: np.ndarray, iters: int = 100, eps: float = 1e-9,
                   dtype=np.float64) -> np.ndarray:
    """Activations ``H [M, N] >= 0`` minimising the generalised KL divergence D(V || W H) with the dictionary
    ``W [F, M]`` fixed, by Lee & Seung's multiplicative update ``H <- H * W^T (V / WH) / W^T 1``. Frames are
    independent, so any split of ``V``'s columns gives the same result. (An L1 penalty on ``H`` would change no
    mask: with unit-sum atoms its fixed point is the unpenalised ``H`` scaled by ``1 / (1 + penalty)``.)"""
    v = np.asarray(v, dtype)
    w = np.asarray(w, dtype)
    denom = w.sum(axis=0)[:, None] + eps
    h = np.ones((w.shape[1], v.shape[1]), dtype) * (v.sum(axis=0, keepdims=True) / (w.sum() + eps))
    for _ in range(iters):
        h *= (w.T @ (v / (w @ h + eps))) / denom
    return h


def stack_context(m: np.ndarray, context: int, cols: np.ndarray | None = None) -> np.ndarray:
    """Magnitude spectrogram ``[F, N]`` -> ``[(2 context + 1) F, N]``: each frame with its ``context`` neighbours
    on either side (edges repeated), so an atom can be a short spectro-temporal patch (Smaragdis 2007's
    convolutive NMF, approximated by frame stacking). ``context`` 0 returns the input. ``cols``: only these frames
    (``[(2 context + 1) F, len(cols)]``, the same columns as the whole result's, without building it)."""
    n = m.shape[1]
    cols = np.arange(n) if cols is None else np.asarray(cols)
    if context <= 0:
        return m if len(cols) == n and np.array_equal(cols, np.arange(n)) else m[:, cols]
    idx = np.clip(cols[None, :] + np.arange(-context, context + 1)[:, None], 0, n - 1)  # [2c+1, len(cols)]
    return m[:, idx].transpose(1, 0, 2).reshape(-1, len(cols))


def kl_nmf(v: np.ndarray, n_components: int, iters: int = 200, seed: int = 0, eps: float = 1e-9,
           dtype=np.float32) -> np.ndarray:
    """Dictionary ``W [F, n_components]`` (each atom summing to one) of magnitude frames ``v [F, N]`` minimising
    the generalised KL divergence D(V || W H) by Lee & Seung's multiplicative updates (random positive start,
    seeded: the same input gives the same atoms)."""
    v = np.asarray(v, dtype) + dtype(eps)
    f, n = v.shape
    rng = np.random.default_rng(seed)
    scale = v.mean()
    w = (rng.uniform(0.5, 1.5, (f, n_components)) * np.sqrt(scale)).astype(dtype)
    h = (rng.uniform(0.5, 1.5, (n_components, n)) * np.sqrt(scale)).astype(dtype)
    for _ in range(iters):
        h *= (w.T @ (v / (w @ h + eps))) / (w.sum(axis=0)[:, None] + eps)
        w *= ((v / (w @ h + eps)) @ h.T) / (h.sum(axis=1)[None, :] + eps)
    return w / (w.sum(axis=0, keepdims=True) + eps)
