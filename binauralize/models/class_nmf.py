"""Class-conditioned supervised NMF separation + the DSP renderer (``--model class-nmf``): a separator for the
position pipeline (issue 7) that needs no network training.

What a source *is* (its class: given as the track's name, or recognised in the frames by a linear classifier on
the frozen trunk's crop embedding) picks a spectral dictionary learned from that class's dry recordings. The mono's
magnitude spectrogram ``V [F, N]`` is explained by the dictionaries of the sources present, with the dictionaries
fixed and only the activations fitted under the generalised KL divergence (multiplicative updates; Smaragdis, Raj &
Shashanka 2007, "Supervised and semi-supervised separation of sounds from single-channel mixtures"; Lee & Seung
2001), and each source's share of the model, ``(W_k H_k)^p / sum_j (W_j H_j)^p`` (``p``: ``power``, 1 by default; 2
is the power-spectrogram Wiener mask), is its mask. The masks go through the
same rendering as the position model (:class:`~binauralize.models.position.PositionSpatializer`): every part along
its own track by the DSP renderer, so one source gives exactly the renderer's output.

Dictionaries are fitted with scikit-learn's NMF (KL divergence, multiplicative updates) in ``binauralize train
configs/class_nmf.toml``; the file is a safetensors checkpoint (``dictionaries [K, C, F]``, classifier weights).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..dsp.nmf import kl_activations, stack_context  # noqa: F401 (here since 2026-11-30; in dsp/ since 2026-12-07)
from .position import HOP, N_FFT, SR, WIN, PositionSpatializer, crop_embedding

MODEL_NAME = "class-nmf"


def class_of(name: str, classes: list[str]) -> str | None:
    """A track name -> its class when the name is a known class, optionally numbered ("drum", "drum0", "drum_2")."""
    base = re.sub(r"[_\-\s]*\d+$", "", (name or "").strip().lower())
    return base if base in classes else None


def fit_dictionary(frames: np.ndarray, n_components: int, seed: int = 0, max_iter: int = 300) -> np.ndarray:
    """Magnitude frames ``[n, F]`` of one class's dry recordings -> dictionary ``[n_components, F]`` (KL-NMF,
    scikit-learn), each atom scaled to unit sum."""
    import warnings

    from sklearn.decomposition import NMF

    m = NMF(n_components, beta_loss="kullback-leibler", solver="mu", max_iter=max_iter, init="nndsvda",
            random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter: the dictionary is usable either way
        m.fit(np.asarray(frames, np.float64) + 1e-9)
    d = m.components_
    return (d / (d.sum(axis=1, keepdims=True) + 1e-12)).astype(np.float32)


class ClassNMF:
    """Per-class dictionaries ``[K, C, F]`` (K classes, C atoms, F = 257 bins of the 16-kHz, 512-point STFT) and an
    optional linear classifier on crop embeddings (``weight [K, D]``, ``bias [K]``, ``mean``/``std [D]``)."""

    registry_name = MODEL_NAME
    n_freq, extra_dim = 4, 0

    def __init__(self, classes: list[str], dictionaries: np.ndarray, classifier: dict | None = None,
                 trunk: str = "efficientnet-lite0", iters: int = 100, power: float = 1.0, context: int = 0):
        self.classes = list(classes)
        self.dictionaries = np.asarray(dictionaries, np.float32)
        if self.dictionaries.shape[0] != len(self.classes):
            raise ValueError("one dictionary per class")
        self.classifier = classifier
        self.trunk, self.iters, self.power = trunk, int(iters), float(power)
        self.context = int(context)
        if self.dictionaries.shape[-1] % (2 * self.context + 1):
            raise ValueError("the dictionaries' length is not a multiple of the stacked frames")
        self.init_args = {"classes": self.classes, "trunk": trunk, "iters": self.iters, "power": self.power,
                          "context": self.context}

    @property
    def use_visual(self) -> bool:
        return self.classifier is not None

    def eval(self):
        return self

    def class_probabilities(self, emb: np.ndarray) -> np.ndarray:
        """Crop embeddings ``[n, D]`` -> class probabilities ``[n, K]`` (softmax of the linear classifier)."""
        c = self.classifier
        z = ((np.asarray(emb, np.float32) - c["mean"]) / c["std"]) @ c["weight"].T + c["bias"]
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)

    def masks_for(self, v: np.ndarray, classes: list, pres: np.ndarray, chunk_frames: int = 3000) -> np.ndarray:
        """Magnitude spectrogram ``v [F, N]`` of a mixture (16 kHz, 512-point STFT), one class per source (a name
        of ``self.classes``, or None = unknown: explained by every class's atoms) and presences ``pres [K, N]`` in
        [0, 1] -> masks ``[K + 1, F, N]`` that sum to one (the last: the residual, 1 where no source is present).

        Each source's mask is its class's share of the NMF model, split between sources of one class by their
        presence; frames are independent, so ``chunk_frames`` at a time gives the same masks."""
        k, (f, n) = len(classes), v.shape
        out = np.zeros((k + 1, f, n), np.float32)
        if k == 0:
            out[0] = 1.0
            return out
        groups = list(dict.fromkeys(c if c is not None else "*" for c in classes))
        fs = self.dictionaries.shape[-1]                                      # (2 context + 1) F
        dicts = [self.dictionaries.reshape(-1, fs) if g == "*" else self.dictionaries[self.classes.index(g)]
                 for g in groups]
        w = np.concatenate(dicts).T                                           # [F', M]
        wc = w[self.context * f:(self.context + 1) * f]                       # the centre frame of each atom
        edges = np.cumsum([0] + [len(d) for d in dicts])
        member = [groups.index(c if c is not None else "*") for c in classes]
        for a in range(0, n, chunk_frames):
            b = min(n, a + chunk_frames)
            lo, hi = max(0, a - self.context), min(n, b + self.context)      # neighbours for the stacked frames
            h = kl_activations(stack_context(v[:, lo:hi], self.context)[:, a - lo:a - lo + b - a], w, self.iters)
            models = np.stack([wc[:, edges[g]:edges[g + 1]] @ h[edges[g]:edges[g + 1]] for g in range(len(groups))])
            if self.power != 1.0:  # generalised Wiener masks: each source's model magnitude to this power
                models = models ** self.power
            share = np.zeros((k, b - a))                                      # each source's share of its group
            for g in range(len(groups)):
                idx = [j for j in range(k) if member[j] == g]
                p = pres[idx, a:b]
                share[idx] = p / np.maximum(p.sum(axis=0, keepdims=True), 1e-9)
            srcm = np.stack([models[member[j]] * share[j] for j in range(k)])  # [K, F, n]; absent: share 0
            total = srcm.sum(axis=0)
            empty = total <= 1e-12                                            # nothing present: the residual
            out[:k, :, a:b] = np.where(empty, 0.0, srcm / np.maximum(total, 1e-12))
            out[k, :, a:b] = empty
        return out

    # ---------------------------------------------------------------------------------------------- file
    def save(self, path: str | Path, config: dict | None = None, extra: dict | None = None) -> Path:
        """Write a safetensors checkpoint atomically (readable by :func:`binauralize.models.checkpoint.read_metadata`)."""
        from safetensors.numpy import save_file

        from .. import __version__
        from .checkpoint import FORMAT

        path = Path(path)
        tensors = {"dictionaries": np.ascontiguousarray(self.dictionaries)}
        if self.classifier is not None:
            tensors.update({f"classifier.{k}": np.ascontiguousarray(np.asarray(v, np.float32))
                            for k, v in self.classifier.items()})
        meta = {"format": FORMAT, "model": MODEL_NAME, "args": json.dumps(self.init_args),
                "config": json.dumps(config or {}), "extra": json.dumps(extra or {}), "version": __version__}
        tmp = path.with_name(f".{path.name}.partial")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> tuple["ClassNMF", dict]:
        from safetensors.numpy import load_file

        from .checkpoint import read_metadata

        meta = read_metadata(path)
        t = load_file(str(path))
        clf = {k.split(".", 1)[1]: v for k, v in t.items() if k.startswith("classifier.")} or None
        a = meta["args"]
        return cls(a["classes"], t["dictionaries"], clf, a.get("trunk", "efficientnet-lite0"), a.get("iters", 100),
                   a.get("power", 1.0), a.get("context", 0)), meta


class ClassNMFSpatializer(PositionSpatializer):
    """:class:`PositionSpatializer` whose masks come from class-conditioned NMF instead of the network.

    Each track's class: its name when that is a known class (``use_names``), else the classifier's most probable
    class averaged over the frames where the source is on screen (crops unlike the training pictures, by the crop
    bank of models/crop_bank.py, are not looked at), else unknown (an unknown source is explained by every class's
    atoms, shared equally with the other unknown ones)."""

    glyph_notice = False  # it tells the user the classes it gave each source (api._TrackModelRenderer)

    how = "the mono is split by class-conditioned NMF (one part per source), each part rendered along its track"

    def __init__(self, model: ClassNMF, renderer_factory, device: str = "cpu", fov_deg: float | None = None,
                 path: Path | None = None, meta: dict | None = None, use_names: bool = True):
        super().__init__(model, renderer_factory, device=device, fov_deg=fov_deg, path=path,
                         meta=meta or {"model": MODEL_NAME, "args": model.init_args})
        self.use_names = use_names
        self.nmf = model  # the separator whose classes and classifier name the sources
        self.last_classes: list[str | None] = []
        self.fixed_classes: list[str | None] | None = None  # set for a clip rendered in blocks: decided once

    def track_classes(self, tracks: list, times: np.ndarray, feature_at=None) -> list[str | None]:
        m = self.nmf
        out = []
        for tr in tracks:
            c = class_of(getattr(tr, "name", ""), m.classes) if self.use_names else None
            if c is None and m.use_visual and feature_at is not None:
                probe = times[:: max(1, len(times) // 50)]  # up to ~50 looks per clip
                az, el, _, w = tr.at(probe)
                embs = []
                for t, a, e, wt in zip(probe, az, el, w):
                    fmap = feature_at(t) if wt > 0 else None
                    emb = crop_embedding(fmap, a, e, self.fov_deg) if fmap is not None else None
                    if emb is not None and emb[-1] > 0 and (self.crop_bank is None or self.crop_bank.known(emb[:-1])):
                        embs.append(emb[:-1])  # crops unlike the training pictures are not looked at (crop_bank.py)
                if embs:
                    c = m.classes[int(np.argmax(m.class_probabilities(np.stack(embs)).mean(axis=0)))]
            out.append(c)
        return out

    def masks(self, mono16: np.ndarray, tracks: list, feature_at=None,
              chunk_frames: int = 3000) -> tuple[np.ndarray, np.ndarray]:
        """-> (masks ``[K + 1, F, N]`` at 16 kHz, frame times ``[N]`` s); the last is the residual (where no source
        is present). Computed ``chunk_frames`` at a time (the activations of one frame do not depend on others)."""
        from scipy.signal import stft as sp_stft

        _, tt, z = sp_stft(mono16, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)
        v = np.abs(z)
        del z
        classes, pres = self.classes_and_presence(tracks, tt, feature_at)
        return self.nmf.masks_for(v, classes, pres, chunk_frames), tt

    def classes_and_presence(self, tracks: list, tt: np.ndarray, feature_at=None) -> tuple[list, np.ndarray]:
        """Each track's class (decided once per clip when ``fixed_classes`` is set; kept in ``last_classes``) and
        its presence ``[K, N]`` in [0, 1] at the frame times ``tt``."""
        if not tracks:
            return [], np.zeros((0, len(tt)))
        fixed = self.fixed_classes
        classes = fixed if fixed is not None and len(fixed) == len(tracks) else \
            self.track_classes(tracks, tt, feature_at)
        self.last_classes = classes
        return classes, np.stack([np.clip(tr.at(tt)[3], 0.0, 1.0) for tr in tracks])


class NMFPositionSpatializer(ClassNMFSpatializer):
    """``--model position-nmf``: the class-NMF masks refined by a position network
    (:class:`~binauralize.models.position.PositionMasker` with ``classes``): the network sees the mono, each
    source's direction tokens, crop embedding and class (one-hot), and the NMF prior masks, and returns corrected
    masks; untrained it returns the prior. Classes are decided as for class-nmf (names, else the picture)."""

    label = "position-nmf"
    how = ("the mono is split by class-conditioned NMF refined by the position network (one part per source), each "
           "part rendered along its track")

    def __init__(self, model, renderer_factory, device: str = "cpu", fov_deg: float | None = None,
                 path: Path | None = None, meta: dict | None = None, use_names: bool = True):
        PositionSpatializer.__init__(self, model, renderer_factory, device=device, fov_deg=fov_deg, path=path,
                                     meta=meta or {"model": "position", "args": model.init_args})
        self.use_names = use_names
        self.nmf = model.nmf()
        self.last_classes: list[str | None] = []
        self.fixed_classes: list[str | None] | None = None

    masks = PositionSpatializer.masks  # the network's masks (which call prior_masks), not class-nmf's own

    def prior_masks(self, mag: np.ndarray, tt: np.ndarray, tracks: list, feature_at=None):
        if not tracks:
            return None, None
        classes, pres = self.classes_and_presence(tracks, tt, feature_at)
        return self.nmf.masks_for(mag, classes, pres), class_onehot(classes, self.nmf.classes)


def class_onehot(classes: list, known: list[str]) -> np.ndarray:
    """Source classes (names or None) -> float32 ``[K, len(known)]`` one-hot rows (zeros for an unknown class)."""
    out = np.zeros((len(classes), len(known)), np.float32)
    for j, c in enumerate(classes):
        if c in known:
            out[j, known.index(c)] = 1.0
    return out
