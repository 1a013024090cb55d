"""Training curves: ``log.csv`` (one row per epoch, written by the training loop) -> ``curves.png``.

Each loss column is drawn against the epoch, training dashed and validation solid in the same colour per term
(``train_X`` beside ``val_X``), on a log scale when the values span more than a factor of ten; the epoch whose
validation score is lowest (``val_diff`` for the Mono2Binaural family, else ``val_total``: the rule the training
loop keeps ``best.safetensors`` by) is marked.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


def read_log(path: str | Path) -> dict[str, np.ndarray]:
    """``log.csv`` -> column name -> values ``[epochs]`` (non-numeric cells as NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, list] = {}
    for r in rows:
        for k, v in r.items():
            try:
                cols.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                cols.setdefault(k, []).append(np.nan)
    return {k: np.asarray(v) for k, v in cols.items()}


def plot_log(log_csv: str | Path, png: str | Path) -> dict:
    """Draw the curves of ``log_csv`` into ``png`` (written atomically). Returns ``{"best_epoch", "best_score",
    "score_key", "terms"}``; ``best_epoch`` is None without a validation score column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = read_log(log_csv)
    epoch = cols.get("epoch", np.arange(1, 1 + len(next(iter(cols.values()), []))))
    terms = sorted({k[len(p):] for k in cols for p in ("train_", "val_") if k.startswith(p)} - {"seconds"})
    fig, ax = plt.subplots(figsize=(7, 4))
    vals = []
    for i, term in enumerate(terms):
        color = f"C{i % 10}"
        for prefix, style in (("train_", "--"), ("val_", "-")):
            y = cols.get(prefix + term)
            if y is not None and np.isfinite(y).any():
                ax.plot(epoch, y, style, color=color, lw=2 if term == "total" else 1,
                        label=f"{prefix.rstrip('_')} {term}")
                vals.append(y[np.isfinite(y)])
    key = "val_diff" if "val_diff" in cols else "val_total"
    best = {"best_epoch": None, "best_score": None, "score_key": key}
    if key in cols and np.isfinite(cols[key]).any():
        j = int(np.nanargmin(cols[key]))
        best.update(best_epoch=int(epoch[j]), best_score=float(cols[key][j]))
        ax.axvline(epoch[j], color="0.5", lw=0.8)
        late = j > len(epoch) / 2  # the label on the side with room
        ax.annotate(f"best ({key}): epoch {int(epoch[j])}", (epoch[j], cols[key][j]), textcoords="offset points",
                    xytext=(-4 if late else 4, 8), ha="right" if late else "left", fontsize=8)
    allv = np.concatenate(vals) if vals else np.array([])
    if allv.size and allv.min() > 0 and allv.max() / allv.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(f"training curves: {Path(log_csv).parent.name}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    png = Path(png)
    tmp = png.with_name(f".{png.stem}.partial{png.suffix}")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png)
    return {**best, "terms": terms}
