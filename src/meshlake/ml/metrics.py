"""Binary classification metrics, with a misclassification cost matrix.

Labels are 0/1 and scores are P(label = 1). A cost matrix prices the two kinds of mistake; the
Statlog German credit matrix (label 1 = good credit) charges 5 for a bad applicant predicted
good and 1 for a good applicant predicted bad, so the cost-optimal rule predicts bad when
P(bad) > 1/6.

>>> statlog_cost([1, 0, 1, 0], [0.9, 0.9, 0.1, 0.1])
1.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "STATLOG_COST",
    "CostMatrix",
    "binary_metrics",
    "statlog_cost",
]


@dataclass(frozen=True)
class CostMatrix:
    """What each mistake costs: a false positive and a false negative (label 1 = positive).

    ``threshold`` is the score above which label 1 is predicted; the cost-optimal threshold
    is ``fp / (fp + fn)``.
    """

    false_positive: float = 1.0
    false_negative: float = 1.0

    @property
    def threshold(self) -> float:
        """The cost-optimal threshold on P(label = 1)."""
        return self.false_positive / (self.false_positive + self.false_negative)

    def cost(self, y: Sequence[int] | np.ndarray, pred: Sequence[int] | np.ndarray) -> float:
        """Mean cost per row of predictions ``pred``."""
        yt, yp = np.asarray(y), np.asarray(pred)
        fp = float(((yp == 1) & (yt == 0)).sum())
        fn = float(((yp == 0) & (yt == 1)).sum())
        return (self.false_positive * fp + self.false_negative * fn) / max(len(yt), 1)

    def to_dict(self) -> dict[str, float]:
        """JSON form."""
        return {"false_positive": self.false_positive, "false_negative": self.false_negative}


#: Statlog German credit (label 1 = good): a bad applicant predicted good (a false positive)
#: costs 5, a good one predicted bad costs 1; predict good when P(good) > 5/6.
STATLOG_COST = CostMatrix(false_positive=5.0, false_negative=1.0)


def statlog_cost(y: Sequence[int] | np.ndarray, p_good: Sequence[float] | np.ndarray) -> float:
    """Mean Statlog cost of scores P(good), predicting bad when P(bad) > 1/6."""
    pred = (np.asarray(p_good) > STATLOG_COST.threshold).astype(int)
    return STATLOG_COST.cost(y, pred)


def _roc(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates, and precision, at each distinct score (descending)."""
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # the end of each tie block
    tps = np.cumsum(ys)[last].astype(np.float64)
    fps = (last + 1 - tps).astype(np.float64)
    pos, neg = max(tps[-1], 1.0), max(fps[-1], 1.0)
    fpr = np.r_[0.0, fps / neg]
    tpr = np.r_[0.0, tps / pos]
    precision = tps / (tps + fps)
    return fpr, tpr, precision


def binary_metrics(
    y: Sequence[int] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    *,
    cost: CostMatrix | None = None,
    threshold: float | None = None,
    roc_points: int = 50,
) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), accuracy, precision / recall / F1, log loss,
    confusion matrix, misclassification cost and ROC points (numpy only: this runs on every
    fold of a cross-validation).

    Args:
        y: 0/1 labels.
        score: P(label = 1).
        cost: cost matrix (default: every mistake costs 1).
        threshold: decision threshold (default: the cost matrix's optimal one).
        roc_points: at most this many (fpr, tpr) points are returned.
    """
    yt = np.asarray(y).astype(np.int64)
    p = np.clip(np.asarray(score, dtype=np.float64), 1e-7, 1 - 1e-7)
    cm_cost = cost or CostMatrix()
    thr = cm_cost.threshold if threshold is None else threshold
    pred = (p > thr).astype(np.int64)
    n = len(yt)
    tp = int(((pred == 1) & (yt == 1)).sum())
    fp = int(((pred == 1) & (yt == 0)).sum())
    fn = int(((pred == 0) & (yt == 1)).sum())
    tn = n - tp - fp - fn
    both = 0 < int(yt.sum()) < n
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    out: dict[str, Any] = {
        "rows": n,
        "positives": int(yt.sum()),
        "threshold": thr,
        "roc_auc": None,
        "pr_auc": None,
        "accuracy": (tp + tn) / n if n else None,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": float(-np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p))) if n else None,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "cost": cm_cost.cost(yt, pred),
        "cost_matrix": cm_cost.to_dict(),
    }
    if both:
        fpr, tpr, prec = _roc(yt, p)
        out["roc_auc"] = float(np.trapezoid(tpr, fpr))
        out["pr_auc"] = float(np.sum(np.diff(tpr) * prec))
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(roc_points, len(fpr))).astype(int))
        out["roc_points"] = [[float(fpr[i]), float(tpr[i])] for i in keep]
    return out
