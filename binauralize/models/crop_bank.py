"""Does a source's crop look like the pictures a visual model was trained on? A prototype bank of crop embeddings.

The position-conditioned models separate by what they see at each source (:func:`~binauralize.models.position.crop_embedding`:
the trunk's feature map sampled where the source projects). Trained on the synthetic set's glyphs, the shipped
position model, shown real photographs (a face, a cat), gave each source the other's sound (docs/position.md, "The
position model shown photographs instead of glyphs"); told nothing about the picture (the off-screen embedding) it
separated nothing and placed as the DSP renderer does. So a crop unlike every training crop is better treated as not
seen. The bank holds ``P`` prototypes (k-means centres of the unit-normalised training crop embeddings) and a
threshold on the cosine similarity to the nearest one, set at a low quantile of held-out training-like crops
(a nearest-prototype novelty test; e.g. Ruff et al. 2021, "A Unifying Review of Deep and Shallow Anomaly Detection").

Files: ``crop-bank.safetensors`` beside the shipped weights (for the shipped visual models, all trained on the near
set's pictures), or ``<checkpoint stem>.crops.safetensors`` beside any checkpoint (``binauralize train-crop-bank``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SHIPPED_NAME = "crop-bank.safetensors"


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


class CropBank:
    """Prototypes ``[P, C]`` (unit rows) and a cosine-similarity threshold; ``meta`` says how it was made."""

    def __init__(self, prototypes: np.ndarray, threshold: float, meta: dict | None = None):
        self.prototypes = _unit(prototypes).astype(np.float32)
        self.threshold = float(threshold)
        self.meta = dict(meta or {})

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

    def similarity(self, emb: np.ndarray) -> np.ndarray:
        """Embeddings ``[..., C]`` (the crop's trunk channels, without the on-screen flag) -> cosine similarity to
        the nearest prototype ``[...]``; an all-zero embedding (nothing seen) gives 0."""
        e = np.asarray(emb, np.float64)
        n = np.linalg.norm(e, axis=-1, keepdims=True)
        sim = (e / np.maximum(n, 1e-9)) @ self.prototypes.T.astype(np.float64)
        return np.where(n[..., 0] > 0, sim.max(axis=-1), 0.0)

    def known(self, emb: np.ndarray) -> bool:
        """Whether one crop embedding ``[C]`` is like the training crops (similarity at least the threshold)."""
        emb = np.asarray(emb)
        if emb.shape[-1] != self.dim:
            from ..errors import InputError

            raise InputError(f"the crop bank holds {self.dim}-channel crops, the model's trunk gives "
                             f"{emb.shape[-1]}: rebuild it with `binauralize train-crop-bank`")
        return bool(self.similarity(emb) >= self.threshold)

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        try:
            save_file({"prototypes": self.prototypes}, str(tmp),
                      metadata={"format": "binauralize-crop-bank/1", "threshold": repr(self.threshold),
                                "meta": json.dumps(self.meta)})
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CropBank":
        from safetensors import safe_open

        from ..errors import InputError

        try:
            with safe_open(str(path), framework="numpy") as f:
                md = f.metadata() or {}
                protos = f.get_tensor("prototypes")
            if md.get("format") != "binauralize-crop-bank/1":
                raise ValueError("not a crop bank")
            threshold = float(md["threshold"])
            if protos.ndim != 2 or not len(protos) or not np.isfinite(threshold) or not np.isfinite(protos).all():
                raise ValueError("damaged")
            return cls(protos, threshold, json.loads(md.get("meta", "{}")))
        except Exception as exc:  # unreadable, truncated, another kind of file
            raise InputError(f"{Path(path).name}: not a readable crop bank ({exc.__class__.__name__})") from None

    @classmethod
    def for_checkpoint(cls, checkpoint: str | Path | None) -> "CropBank | None":
        """The bank that goes with a checkpoint: ``<stem>.crops.safetensors`` beside it, else for the shipped weights
        the shipped bank; None when there is none (the model then uses every crop)."""
        if checkpoint is None:
            return None
        p = Path(checkpoint)
        own = p.with_name(f"{p.stem}.crops.safetensors")
        if own.is_file():
            return cls.load(own)
        from .spatializer import SHIPPED

        shipped = SHIPPED / SHIPPED_NAME
        if p.parent.resolve() == SHIPPED.resolve() and shipped.is_file():
            return cls.load(shipped)
        return None


def fit_crop_bank(train: np.ndarray, held_out: np.ndarray, prototypes: int = 32, quantile: float = 0.01,
                  seed: int = 0, meta: dict | None = None) -> CropBank:
    """k-means (``prototypes`` centres) on unit-normalised training embeddings ``[N, C]``; the threshold is the
    ``quantile`` of the held-out embeddings' ``[M, C]`` nearest-prototype similarity, so about that share of
    pictures like the training ones is wrongly called unseen."""
    from sklearn.cluster import KMeans

    x = _unit(train)
    if len(x) < prototypes:
        from ..errors import InputError

        raise InputError(f"{len(x)} training crops for {prototypes} prototypes: need at least as many")
    km = KMeans(prototypes, n_init=4, random_state=seed).fit(x)
    bank = CropBank(km.cluster_centers_, 0.0)
    sims = bank.similarity(held_out)
    bank.threshold = float(np.quantile(sims, quantile))
    bank.meta = {"prototypes": prototypes, "quantile": quantile, "train_crops": int(len(train)),
                 "held_out_crops": int(len(held_out)), "held_out_similarity_median": float(np.median(sims)),
                 **(meta or {})}
    return bank
