"""Fitting the class-conditioned NMF separator (:mod:`binauralize.models.class_nmf`) on a synthetic dataset.

- Dictionaries: for every class, magnitude frames (16 kHz, the position model's STFT) of the dry stems of the
  training clips' sounding sources (``stems``: or of those sources as heard at the head, or both), frames within 20 dB of the stem's loudest, every 4th, at most
  ``frames_per_class`` drawn at random -> KL-NMF with ``components`` atoms (scikit-learn); with ``context`` c
  each frame is stacked with its c neighbours on either side, so the atoms are short spectro-temporal patches.
- Classifier: the crop embedding of each sounding on-screen source (the frozen trunk's map where it projects, as
  the position model sees it) at every cached frame -> class, multinomial logistic regression on standardised
  embeddings (scikit-learn, L2 strength ``1 / c``); its accuracy on the validation clips is reported.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from ..errors import InputError


def _stem_frames(root: Path, ids: list[str], context: int = 0, stems: str = "dry",
                 cache: Path | None = None) -> dict[str, list[np.ndarray]]:
    """Per class, magnitude frames ``[n, F']`` of the training clips' sounding sources. ``stems``: "dry" (the
    recordings), "wet" (each source as a microphone at the head hears it: its BRIR's two ears averaged, i.e. its
    share of the ground truth's (L+R)/2; :func:`binauralize.train.sources.wet_stems`, read from ``cache`` when
    ``train-cache`` wrote them), or "both"."""
    import soundfile as sf
    import soxr
    from scipy.signal import stft as sp_stft

    from ..models.class_nmf import stack_context
    from ..models.position import HOP, N_FFT, SR, WIN
    from .sources import wet_stems

    if stems not in ("dry", "wet", "both"):
        raise InputError(f'stems must be "dry", "wet" or "both", not {stems!r}')
    out: dict[str, list[np.ndarray]] = {}

    def add(cls: str, x: np.ndarray) -> None:
        m = np.abs(sp_stft(x, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)[2])
        e = m.sum(axis=0)
        if e.max() <= 0:
            return
        m = stack_context(m, context)
        out.setdefault(cls, []).append(m[:, e > 0.01 * e.max()][:, ::4].T.astype(np.float32))

    for cid in ids:
        meta = json.loads((root / "meta" / f"{cid}.json").read_text())
        sounding = [s for s in meta["sources"] if s.get("sounding") and s.get("stem")]
        if stems in ("wet", "both"):
            f = cache / f"{cid}_wet.npz" if cache is not None else None
            wet = list(np.load(f)["wet"].astype(np.float64)) if f is not None and f.exists() else wet_stems(root, cid)
            for s, x in zip(sounding, wet):
                add(s["class"], x)
        if stems in ("dry", "both"):
            for s in sounding:
                x, sr = sf.read(root / s["stem"], dtype="float64", always_2d=True)
                x = x.mean(axis=1)
                add(s["class"], soxr.resample(x, sr, SR, quality="HQ") if sr != SR else x)
    return out


def _embeddings(root: Path, cache: Path, ids: list[str]) -> tuple[np.ndarray, list[str]]:
    from ..models.position import crop_embedding
    from ..tracks import parse_tracks

    xs, ys = [], []
    for cid in ids:
        f = cache / f"{cid}.npz"
        if not f.exists():
            continue
        z = np.load(f)
        meta = json.loads((root / "meta" / f"{cid}.json").read_text())
        cam = meta.get("camera", {})
        fov, w, h = float(cam.get("fov_deg", 70.0)), int(cam.get("width", 320)), int(cam.get("height", 180))
        for tr in parse_tracks(meta["tracks"]) if meta.get("tracks") else []:
            cls = re.sub(r"\d+$", "", tr.name)
            for fmap, t in zip(z["features"], z["feature_times"]):
                az, el, _, wt = tr.at(np.array([t]))
                if wt[0] <= 0:
                    continue
                e = crop_embedding(np.asarray(fmap, np.float32), az[0], el[0], fov, w, h)
                if e[-1] > 0:
                    xs.append(e[:-1])
                    ys.append(cls)
    return (np.stack(xs) if xs else np.zeros((0, 0), np.float32)), ys


def fit_class_nmf(root: Path, cache: Path, train_ids: list[str], val_ids: list[str], out: Path, trunk: str,
                  components: int = 12, frames_per_class: int = 6000, c: float = 0.01, iters: int = 100,
                  power: float = 1.0, seed: int = 0, progress: bool = True, config: dict | None = None,
                  context: int = 0, stems: str = "dry") -> dict:
    """Fit dictionaries and classifier, write ``out/best.safetensors`` (and ``last``), return a summary.
    ``stems``: what the dictionaries are fitted to (:func:`_stem_frames`)."""
    from sklearn.linear_model import LogisticRegression

    from ..models.class_nmf import ClassNMF, fit_dictionary

    t0 = time.time()
    frames = _stem_frames(root, train_ids, context, stems, cache)
    if not frames:
        raise InputError(f"no sounding sources with stems among the training clips of {root}")
    rng = np.random.default_rng(seed)
    classes = sorted(frames)
    dicts = []
    for cls in classes:
        x = np.concatenate(frames[cls])
        x = x[rng.permutation(len(x))[:frames_per_class]]
        dicts.append(fit_dictionary(x, min(components, max(1, len(x) // 2)), seed))
        if progress:
            print(f"class-nmf: {cls}: {len(x)} frames -> {dicts[-1].shape[0]} atoms ({time.time() - t0:.0f} s)",
                  flush=True)
    n_atoms = min(d.shape[0] for d in dicts)
    dicts = np.stack([d[:n_atoms] for d in dicts])
    xtr, ytr = _embeddings(root, cache, train_ids)
    classifier, val_acc = None, float("nan")
    known = [i for i, y in enumerate(ytr) if y in classes]
    if len(known) and len(set(ytr[i] for i in known)) > 1:
        xtr, ytr = xtr[known], [ytr[i] for i in known]
        mean, std = xtr.mean(axis=0), xtr.std(axis=0) + 1e-6
        lr = LogisticRegression(C=c, max_iter=3000).fit((xtr - mean) / std, ytr)
        weight = np.zeros((len(classes), xtr.shape[1]), np.float32)
        bias = np.full(len(classes), -1e4, np.float32)  # classes never seen on screen are never predicted
        for j, cls in enumerate(lr.classes_):
            if len(lr.classes_) == 2:  # sklearn keeps one row for two classes
                weight[classes.index(cls)] = lr.coef_[0] * (1 if j else -1) / 2
                bias[classes.index(cls)] = lr.intercept_[0] * (1 if j else -1) / 2
            else:
                weight[classes.index(cls)], bias[classes.index(cls)] = lr.coef_[j], lr.intercept_[j]
        classifier = {"weight": weight, "bias": bias, "mean": mean.astype(np.float32), "std": std.astype(np.float32)}
        xva, yva = _embeddings(root, cache, val_ids)
        if len(yva):
            model = ClassNMF(classes, dicts, classifier)
            pred = np.array(classes)[np.argmax(model.class_probabilities(xva), axis=1)]
            val_acc = float(np.mean(pred == np.array(yva)))
    model = ClassNMF(classes, dicts, classifier, trunk=trunk, iters=iters, power=power, context=context)
    summary = {"classes": classes, "atoms_per_class": int(n_atoms), "train_frames": {k: int(sum(len(a) for a in v))
               for k, v in frames.items()}, "classifier_train_crops": int(len(ytr)),
               "classifier_val_accuracy": val_acc, "seconds": time.time() - t0, "epochs": 1}
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "best.safetensors", config=config, extra=summary)
    model.save(out / "last.safetensors", config=config, extra=summary)
    return summary
