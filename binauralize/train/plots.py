"""Learning curves of training runs: validation loss of D relative to Mono-Mono's (predicting D = 0)."""
from __future__ import annotations

import csv
from pathlib import Path


def read_log(run: Path) -> list[dict]:
    with open(Path(run) / "log.csv") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def plot_runs(runs: list[Path], png: Path) -> None:
    """One curve per run: val_diff / val_diff_zero per epoch (below 1 = better than Mono-Mono on the D loss)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for run in runs:
        rows = [r for r in read_log(run) if "val_diff" in r and r.get("val_diff_zero")]
        if rows:
            ax.plot([r["epoch"] for r in rows], [r["val_diff"] / r["val_diff_zero"] for r in rows], "o-",
                    label=Path(run).name, ms=3)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation D loss / Mono-Mono's")
    lo, hi = ax.get_ylim()
    title = "learning curves (scene_val windows)"
    if hi > 1.06:  # one diverged epoch would flatten every other curve: clip it and say so
        ax.set_ylim(lo, 1.06)
        title += "; points above 1.06 clipped"
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)
