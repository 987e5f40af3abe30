"""Metrics agree with their definitions; the Statlog cost uses the 1/6 threshold."""

from __future__ import annotations

import numpy as np

from meshlake.ml.metrics import STATLOG_COST, binary_metrics, statlog_cost


def test_metrics_and_cost() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(y * 0.3 + rng.random(400) * 0.7, 0, 1)
    m = binary_metrics(y, p, cost=STATLOG_COST)
    assert m["threshold"] == STATLOG_COST.threshold == 5 / 6
    cm = m["confusion_matrix"]
    assert cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"] == 400
    assert m["cost"] == (5 * cm["fp"] + cm["fn"]) / 400 == statlog_cost(y, p)
    # AUC by its definition: P(score of a positive > score of a negative)
    pos, neg = p[y == 1], p[y == 0]
    auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert abs(m["roc_auc"] - auc) < 1e-9
    assert m["roc_points"][0] == [0.0, 0.0] and m["roc_points"][-1] == [1.0, 1.0]


def test_agrees_with_scikit_learn_with_ties() -> None:
    from sklearn import metrics as skm

    rng = np.random.default_rng(3)
    for n in (30, 500):
        y = rng.integers(0, 2, n)
        p = np.round(rng.random(n), 1)  # many ties
        m = binary_metrics(y, p)
        assert abs(m["roc_auc"] - skm.roc_auc_score(y, p)) < 1e-12
        assert abs(m["pr_auc"] - skm.average_precision_score(y, p)) < 1e-12
        assert abs(m["log_loss"] - skm.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7))) < 1e-12
        assert abs(m["f1"] - skm.f1_score(y, (p > 0.5).astype(int))) < 1e-12
