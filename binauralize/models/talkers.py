"""Two or more voices talking at once, taken apart with each voice's own sound (``--model speech``).

Where the tracks say that several talkers speak at the same time (their weights overlap), the mono there is
separated by supervised NMF (Smaragdis, Raj & Shashanka 2007) with dictionaries learned at run time from the same
recording: each talker's dictionary is fitted to the stretches where only that talker has the sound (its voice as
this microphone and this room give it), then the activations of all the dictionaries explain the overlapping
frames, and each talker's mask is its dictionary's share of the model. Frames with one talker, or none, keep the
weights' shares, so outside the overlaps the parts are what the DSP renderer would place there.

Needs no training and no PyTorch: a few seconds of each voice alone are the training data. Shapes: the analysis is
the 16-kHz, 512-point STFT of :mod:`binauralize.dsp.masking`; the masks are applied to the signal at its own rate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..dsp.masking import HOP, SR, apply_masks_full_rate, stft16
from ..dsp.nmf import kl_activations, kl_nmf, stack_context


@dataclass(frozen=True)
class TalkerSplitOptions:
    """atoms: NMF atoms per talker; context: neighbour frames stacked on each side of an atom (spectro-temporal
    patches, Smaragdis 2007); solo_min_s: seconds of a talker alone (with sound) needed to learn its voice;
    overlap_min_s: talkers together for less than this is a cross-fade, not an overlap; present: a weight above this
    counts as talking; alone: the others' weights at or below this; max_fit_s: at most this much of each voice (evenly
    spread) is used to fit its dictionary; fit_iters / iters: multiplicative updates of the fit and of the
    activations."""

    atoms: int = 20
    context: int = 1
    solo_min_s: float = 2.0
    overlap_min_s: float = 0.5
    present: float = 0.1
    alone: float = 0.1
    max_fit_s: float = 30.0
    fit_iters: int = 150
    iters: int = 100


def presence(tracks: list, times: np.ndarray) -> np.ndarray:
    """Each track's weight at ``times`` ``[N]`` s -> ``[K, N]`` (held at the ends, as the renderer holds them)."""
    return np.stack([np.interp(times, t.weight_times, t.weight) for t in tracks]) if tracks else np.zeros((0, len(times)))


def overlap_seconds(tracks: list, opts: TalkerSplitOptions = TalkerSplitOptions(), step_s: float = 0.05) -> float:
    """How long at least two of ``tracks`` have weight above ``opts.present`` at once (s), from 0 to the last weight
    change (after it the weights hold, so an overlap that lasts to the end counts as long as the clip: inf)."""
    if len(tracks) < 2:
        return 0.0
    end = max([0.0] + [float(np.max(t.weight_times)) for t in tracks])
    times = np.arange(0.0, end + step_s, step_s)
    both = (presence(tracks, times) > opts.present).sum(axis=0) >= 2
    return float("inf") if both[-1] else float(both.sum() * step_s)


def _resample16(x: np.ndarray, sr: float) -> np.ndarray:
    if int(sr) == SR:
        return np.asarray(x, np.float64)
    import soxr

    return soxr.resample(np.asarray(x, np.float64), sr, SR, quality="HQ")


def split_talkers(x: np.ndarray, sr: float, tracks: list,
                  opts: TalkerSplitOptions = TalkerSplitOptions()) -> tuple[np.ndarray | None, str]:
    """Mono ``x [T]`` at ``sr`` + talker tracks (K >= 2) -> (parts ``[K + 1, T]``, what was done) or (None, why not).

    Part k is talker k's voice; the last part is what no talker has (where none has weight); the parts sum to ``x``
    exactly. Returns None when the talkers never overlap for ``opts.overlap_min_s`` or a talker is heard alone for
    less than ``opts.solo_min_s`` (its voice cannot be learned)."""
    x = np.asarray(x, np.float64).reshape(-1)
    k = len(tracks)
    if k < 2:
        return None, "fewer than two talkers"
    tt, z = stft16(_resample16(x, sr))
    v = np.abs(z)
    del z
    frame_s = HOP / SR
    pres = np.maximum(presence(tracks, tt), 0.0)  # [K, N]
    on = pres > opts.present
    both = on.sum(axis=0) >= 2
    if both.sum() * frame_s < opts.overlap_min_s:
        return None, "the talkers do not speak at the same time"
    energy = v.sum(axis=0)
    loud = np.quantile(energy, 0.95) if energy.size else 0.0
    active = energy > loud * 10 ** (-30 / 20)  # frames with sound: within 30 dB of the loud ones
    dicts, solo_s = [], []
    for j in range(k):
        others = np.delete(pres, j, axis=0)
        solo = (pres[j] >= 0.5) & (others <= opts.alone).all(axis=0) & active
        solo_s.append(solo.sum() * frame_s)
        if solo_s[-1] < opts.solo_min_s:
            name = getattr(tracks[j], "name", f"talker {j}")
            return None, (f"{name} is heard alone for {solo_s[-1]:.1f} s, under the {opts.solo_min_s:g} s needed to "
                          "learn its voice")
        idx = np.flatnonzero(solo)
        most = int(opts.max_fit_s / frame_s)
        if len(idx) > most:
            idx = idx[np.linspace(0, len(idx) - 1, most).round().astype(int)]
        # the same random start for every talker, so that the talkers' order does not matter
        dicts.append(kl_nmf(stack_context(v, opts.context, idx), opts.atoms, opts.fit_iters, seed=0))
    w = np.concatenate(dicts, axis=1)  # [F', K * atoms]
    f = v.shape[0]
    wc = w[opts.context * f:(opts.context + 1) * f]  # the centre frame of each atom
    # shares where at most one talks: the weights' (a frame with none present: nothing, the remainder takes it)
    total = pres.sum(axis=0, keepdims=True)
    share = np.where(total > 1e-9, pres / np.maximum(total, 1e-9), 0.0)
    masks = np.repeat(share[:, None, :].astype(np.float32), f, axis=1)  # [K, F, N]
    cols = np.flatnonzero(both)
    h = kl_activations(stack_context(v, opts.context, cols), w, opts.iters, dtype=np.float32)
    models = np.stack([wc[:, j * opts.atoms:(j + 1) * opts.atoms] @ h[j * opts.atoms:(j + 1) * opts.atoms]
                       for j in range(k)])  # [K, F, n]
    models *= on[:, None, cols]  # a talker not talking now takes nothing
    msum = models.sum(axis=0, keepdims=True)
    masks[:, :, cols] = np.where(msum > 1e-12, models / np.maximum(msum, 1e-12), share[:, None, cols])
    parts = apply_masks_full_rate(x, int(sr), masks, tt)
    parts = np.concatenate([parts, (x - parts.sum(axis=0))[None]])  # the remainder: the parts sum to the mono
    said = (f"{k} talkers speak at once for {both.sum() * frame_s:.1f} s: separated there with each voice as heard "
            f"alone ({', '.join(f'{s:.1f}' for s in solo_s)} s)")
    return parts, said


def always_weighted(track):
    """A copy of ``track`` with weight 1 throughout (a part that is already only this talker's sound)."""
    return replace(track, weight_times=np.zeros(1), weight=np.ones(1))
