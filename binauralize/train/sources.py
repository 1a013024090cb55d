"""Per-source training data for the position-conditioned model (issue 7): dry stems and tracks per clip.

``add_sources(root, cache)`` writes ``<id>_sources.npz`` beside the clip cache: ``stems`` float32 ``[K, T]`` (the
sounding sources' dry signals at 16 kHz, in the order of ``meta.tracks``) and ``tracks`` (the ``--sources`` JSON of
those sources). :class:`SourceWindows` cuts the same windows as :class:`CachedWindows` and adds, per source (padded
to ``max_sources``), the stem window, its direction tokens at the STFT frame times (with its crop embedding from the
window's frame when ``visual_dim`` > 0), its presence, and with ``hrtf_response`` its HRTF pair mid-window (for the
output-domain loss term).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .cache import SR, _load_16k
from .windows import CachedWindows

HOP = 160
N_FFT = 512


def hrtf_response(az: float, el: float) -> np.ndarray:
    """The default HRTF's pair at (az, el) degrees on the 16-kHz STFT grid (n_fft 512): float32
    ``[2 ears, 2 (re, im), 257]``."""
    from ..dsp.hrtf import HRTF

    h = np.fft.rfft(HRTF.default(SR).hrir(float(az), float(el), N_FFT), N_FFT, axis=-1)  # [2, 257]
    return np.stack([h.real, h.imag], axis=1).astype(np.float32)


def _stack_padded(signals: list) -> np.ndarray:
    """1-D signals -> float32 ``[K, T]``, zero-padded to the longest (``[0, 0]`` for none)."""
    t = max([len(x) for x in signals] or [0])
    return np.stack([np.pad(x, (0, t - len(x))) for x in signals]).astype(np.float32) if signals else \
        np.zeros((0, 0), np.float32)


def _save_npz(out: Path, **arrays) -> None:
    """``np.savez`` to a partial file beside ``out``, then renamed: a reader never sees half a file."""
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.partial.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)


def _add_missing(root: Path, cache: Path, ids: list[str] | None, suffix: str, arrays) -> int:
    """Write ``<id><suffix>.npz`` for every clip (all of ``root/meta`` when ``ids`` is None) that has none yet,
    from ``arrays(cid) -> dict``; returns how many were written."""
    root, cache = Path(root), Path(cache)
    ids = ids or sorted(p.stem for p in (root / "meta").glob("*.json"))
    n = 0
    for cid in ids:
        out = cache / f"{cid}{suffix}.npz"
        if not out.exists():
            _save_npz(out, **arrays(cid))
            n += 1
    return n


def add_sources(root: str | Path, cache: str | Path, ids: list[str] | None = None) -> int:
    """Write missing ``<id>_sources.npz`` files; returns how many were written."""

    def arrays(cid: str) -> dict:
        meta = json.loads((Path(root) / "meta" / f"{cid}.json").read_text())
        stems = [_load_16k(Path(root) / s["stem"]).mean(axis=0) for s in meta["sources"]
                 if s.get("sounding") and s.get("stem")]
        cam = meta.get("camera", {})
        return dict(stems=_stack_padded(stems), tracks=np.array(json.dumps(meta["tracks"])),
                    fov=np.float32(cam.get("fov_deg", 70.0)),
                    frame_size=np.array([cam.get("width", 320), cam.get("height", 180)]))

    return _add_missing(root, cache, ids, "_sources", arrays)


def wet_stems(root: str | Path, cid: str) -> list[np.ndarray]:
    """Clip ``cid``'s sounding sources as a microphone at the head hears them, float64 ``[T]`` each at 16 kHz: the
    dry stem through the source's stored BRIR (direct sound + reflections, distance gain; the two ears averaged).
    For static sources and camera they sum to the ground truth's (L+R)/2 (tested); moving ones keep their first
    position's BRIR (the generator stores only that)."""
    import soundfile as sf
    import soxr
    from scipy.signal import oaconvolve

    root = Path(root)
    meta = json.loads((root / "meta" / f"{cid}.json").read_text())
    out = []
    with np.load(root / "rirs" / f"{cid}.npz") as rirs:
        for k, src in enumerate(meta["sources"]):
            if not (src.get("sounding") and src.get("stem")):
                continue
            dry, sr = sf.read(root / src["stem"], dtype="float64", always_2d=True)
            dry = dry.mean(axis=1)
            y = oaconvolve(dry, rirs[f"brir_{k}"].astype(np.float64).mean(axis=0))[: len(dry)]
            out.append(soxr.resample(y, sr, SR, quality="HQ") if sr != SR else y)
    return out


def add_wet_stems(root: str | Path, cache: str | Path, ids: list[str] | None = None) -> int:
    """Write missing ``<id>_wet.npz`` files: ``wet`` float32 ``[K, T]``, the clip's :func:`wet_stems`. Ratio masks
    of these images give each source its own reverberation, where the dry stems' masks hand a loud source's tail to
    whatever else is playing. Returns how many were written."""
    return _add_missing(root, cache, ids, "_wet", lambda cid: {"wet": _stack_padded(wet_stems(root, cid))})


class SourceWindows(CachedWindows):
    """:class:`CachedWindows` items plus ``stems [S, n]``, ``tokens [S, frames, D]``, ``presence [S, frames]``
    (S = ``max_sources``; absent slots have presence 0)."""

    _keep_start = False

    def __init__(self, *a, max_sources: int = 3, n_freq: int = 4, visual_dim: int = 0, hrtf_response: bool = False,
                 targets: str = "dry", prior_nmf=None, **kw):
        super().__init__(*a, **kw)
        self.prior_nmf = prior_nmf  # a ClassNMF: items get its masks ("prior") and class one-hots in the tokens
        if targets not in ("dry", "wet"):
            from ..errors import InputError

            raise InputError(f'[data] targets must be "dry" or "wet", not {targets!r}')
        self.targets = targets
        self.max_sources, self.n_freq, self.visual_dim = max_sources, n_freq, visual_dim
        self.hrtf_response = hrtf_response
        self._src: dict = {}

    def _sources(self, cid: str):
        if cid not in self._src:
            from ..tracks import parse_tracks

            z = np.load(self.clips.cache / f"{cid}_sources.npz")
            fov = float(z["fov"]) if "fov" in z.files else 70.0
            size = tuple(int(v) for v in z["frame_size"]) if "frame_size" in z.files else (320, 180)
            stems = z["stems"] if self.targets == "dry" else np.load(self.clips.cache / f"{cid}_wet.npz")["wet"]
            self._src[cid] = (stems, parse_tracks(json.loads(str(z["tracks"]))), fov, size)
        return self._src[cid]

    def __getitem__(self, i: int) -> dict:
        from ..models.position import source_tokens

        item = super().__getitem__(i)
        cid = self.index[i][0]
        stems, tracks, fov, size = self._sources(cid)
        start = item["start"] if self._keep_start else item.pop("start")
        n = item["mix"].shape[0]
        frames = n // HOP + 1
        times = (start + np.arange(frames) * HOP) / SR
        fmap = item["feat"].numpy()
        centre = (start + n / 2) / SR
        tok, pres = source_tokens(tracks[: self.max_sources], times, self.n_freq, None, fov, self.visual_dim, size)
        if self.visual_dim:  # one frame per window: every token of a source carries its crop at the window centre
            from ..models.position import crop_embedding

            for j, tr in enumerate(tracks[: self.max_sources]):
                az, el, _, _ = tr.at(np.array([centre]))
                e = crop_embedding(fmap, az[0], el[0], fov, *size)
                tok[j, :, 4 * self.n_freq + 1: 4 * self.n_freq + 1 + len(e)] = e[: self.visual_dim]
        s = np.zeros((self.max_sources, n), np.float32)
        tk = np.zeros((self.max_sources, frames, 4 * self.n_freq + 1 + self.visual_dim), np.float32)
        pr = np.zeros((self.max_sources, frames), np.float32)
        k = min(len(tracks), self.max_sources, len(stems))
        if k:
            w = stems[:k, start:start + n]
            s[:k, : w.shape[1]] = w
            tk[:k], pr[:k] = tok[:k], pres[:k]
            pr[:k] *= (np.abs(s[:k]).reshape(k, -1, 1).max(axis=-1).mean() > 0)  # silent stems count as absent
        item.update(stems=torch.from_numpy(s), tokens=torch.from_numpy(tk), presence=torch.from_numpy(pr))
        if self.prior_nmf is not None:  # each slot's class index (-1: empty or not a known class)
            from ..models.class_nmf import class_of

            known = self.prior_nmf.classes
            cls = np.full(self.max_sources, -1, np.int64)
            for j, tr in enumerate(tracks[:k]):
                c = class_of(getattr(tr, "name", ""), known)
                cls[j] = known.index(c) if c is not None else -1
            item["classes"] = torch.from_numpy(cls)
        if self.hrtf_response:  # each source's HRTF pair at its direction mid-window (the binaural loss term)
            hr = np.zeros((self.max_sources, 2, 2, N_FFT // 2 + 1), np.float32)
            for j, tr in enumerate(tracks[:k]):
                az, el, _, _ = tr.at(np.array([centre]))
                hr[j] = hrtf_response(az[0], el[0])
            item["hrtf"] = torch.from_numpy(hr)
        return self.with_prior(item) if type(self) is SourceWindows else item

    def with_prior(self, item: dict) -> dict:
        """Add the class-NMF masks of the item's mono (``prior [S + 1, F, frames]``: the sounding slots, zeros for
        empty ones, the residual last) and append each slot's class one-hot to its tokens. Computed on the final
        mono (after any remix), with the objective's STFT frames. No-op without ``prior_nmf``."""
        if self.prior_nmf is None:
            return item
        from ..models.class_nmf import class_onehot
        from ..models.mono2binaural import stft

        nmf = self.prior_nmf
        mag = stft(item["mix"]).abs().numpy().astype(np.float64)               # [F, frames]
        pres = item["presence"].numpy()
        cls = item["classes"].numpy()
        names = [nmf.classes[c] if c >= 0 else None for c in cls]
        on = np.flatnonzero(pres.max(axis=1) > 0)
        m = nmf.masks_for(mag, [names[j] for j in on], pres[on])               # [len(on) + 1, F, frames]
        prior = np.zeros((self.max_sources + 1, *mag.shape), np.float32)
        prior[on], prior[-1] = m[:-1], m[-1]
        hot = class_onehot(names, nmf.classes)                                   # [S, classes]
        tok = item["tokens"]
        item["tokens"] = torch.cat([tok, torch.from_numpy(hot)[:, None].expand(-1, tok.shape[1], -1)], dim=-1)
        item["prior"] = torch.from_numpy(prior)
        return item


class RemixWindows(SourceWindows):
    """:class:`SourceWindows` with dynamic remixing (more mixtures from the same clips): with probability
    ``remix`` a training item becomes the sum of two clips' windows, input mono ``m_a + m_b`` (each clip's own
    (L+R)/2 or real-mono window at its stored scale, so its sources keep their levels relative to their stems),
    with both clips' sources, stems and tokens. The other clip is drawn among those whose sounding sources fit
    beside the item's (``max_sources`` in all), so the mixtures keep the source counts the model will meet. Items
    of clips with fewer than ``always_below`` sounding sources are always remixed (``always_below = 2``: single-source
    clips become two- and three-source mixtures). Validation items (``random=False``) are never remixed."""

    _keep_start = True

    def __init__(self, *a, remix: float = 0.5, always_below: int = 0, **kw):
        super().__init__(*a, **kw)
        self.remix, self.always_below = float(remix), int(always_below)
        self._counts: dict[str, int] = {}
        self._fits: dict[int, np.ndarray] = {}

    def count(self, cid: str) -> int:
        """Sounding sources of clip ``cid`` (its ``_sources.npz`` tracks)."""
        if cid not in self._counts:
            with np.load(self.clips.cache / f"{cid}_sources.npz") as z:
                self._counts[cid] = min(len(json.loads(str(z["tracks"]))), int(z["stems"].shape[0]))
        return self._counts[cid]

    def donor(self, i: int) -> int | None:
        """The item index whose window is added to item ``i`` this epoch, or None (not remixed)."""
        if not self.random:
            return None
        rng = np.random.default_rng([self.seed, self.epoch, i, 1])
        cid = self.index[i][0]
        n = self.count(cid)
        if rng.random() >= self.remix and n >= self.always_below:
            return None
        room = self.max_sources - n
        if room not in self._fits:
            self._fits[room] = np.flatnonzero([0 < self.count(c) <= room for c, *_ in self.index])
        fits = self._fits[room]
        fits = fits[fits != i]  # training items are one per clip: only item i is clip cid
        return int(fits[rng.integers(len(fits))]) if len(fits) else None

    def __getitem__(self, i: int) -> dict:
        from ..data.datasets import rms_scale

        item = super().__getitem__(i)
        start = item.pop("start")
        j = self.donor(i)
        if j is None:
            return self.with_prior(item)
        other = super().__getitem__(j)
        start_j = other.pop("start")
        a = np.flatnonzero(item["presence"].numpy().max(axis=1) > 0)
        b = np.flatnonzero(other["presence"].numpy().max(axis=1) > 0)
        if not len(b) or len(a) + len(b) > self.max_sources:
            return self.with_prior(item)
        m = self.raw_mono(self.index[i][0], start) + self.raw_mono(self.index[j][0], start_j)
        item["mix"] = torch.from_numpy((2.0 * m * rms_scale(m)).astype(np.float32))
        slots = np.arange(len(a), len(a) + len(b))
        for key in ("stems", "tokens", "presence", "hrtf", "classes"):
            if key in item:
                item[key][slots] = other[key][b]
        return self.with_prior(item)
