"""PNG figures logged with a training run: the ROC curve and feature importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plots"]


def write_plots(
    folder: Path, metrics: dict[str, dict[str, Any]], importance: dict[str, float]
) -> list[Path]:
    """Write ``roc.png`` and ``feature_importance.png`` into ``folder``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    fig, ax = plt.subplots(figsize=(5, 5))
    for split in ("validation", "test"):
        points = (metrics.get(split) or {}).get("roc_points")
        if points:
            auc = metrics[split].get("roc_auc") or 0.0
            ax.plot([p[0] for p in points], [p[1] for p in points], label=f"{split} AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    fig.subplots_adjust(left=0.15, bottom=0.12, right=0.97, top=0.92)
    fig.savefig(folder / "roc.png", dpi=80)
    plt.close(fig)
    written.append(folder / "roc.png")
    top = sorted(importance.items(), key=lambda kv: -kv[1])[:15]
    if top:
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.barh([k for k, _ in reversed(top)], [v for _, v in reversed(top)])
        ax.set_title("feature importance")
        ax.tick_params(axis="y", labelsize=7)
        fig.subplots_adjust(left=0.42, right=0.97, top=0.93, bottom=0.08)
        fig.savefig(folder / "feature_importance.png", dpi=80)
        plt.close(fig)
        written.append(folder / "feature_importance.png")
    return written
