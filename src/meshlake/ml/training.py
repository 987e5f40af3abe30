"""Processing and training on data frames: the pure half of processing and training jobs.

The service layer reads governed data into frames and writes the results back as governed
tables; everything between (split, featurize, fit, evaluate, cross-validate, search) is here
and touches no catalog.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from meshlake.errors import InvalidInputError
from meshlake.ml.estimators import FittedModel, fit_estimator
from meshlake.ml.features import FeatureSpec, Featurizer
from meshlake.ml.metrics import CostMatrix, binary_metrics
from meshlake.ml.split import SPLIT_NAMES, repeated_stratified_kfold, stratified_split

__all__ = [
    "ProcessedSplits",
    "TrainingResult",
    "cross_validate",
    "cross_validate_frame",
    "featurize_and_split",
    "search_hyperparameters",
    "train_on_splits",
]

Progress = Callable[[str, float], None]
INNER_VALIDATION = 0.15  # share of a CV training fold held out for early stopping


@dataclass
class ProcessedSplits:
    """Featurized splits (features + the 0/1 target column) and the fitted featurizer."""

    frames: dict[str, pd.DataFrame]
    featurizer: Featurizer
    counts: dict[str, dict[str, int]]


def featurize_and_split(
    df: pd.DataFrame, spec: FeatureSpec, fractions: Sequence[float], seed: int
) -> ProcessedSplits:
    """Split ``df`` stratified by the target (seeded), fit the featurizer on the training rows
    only, and transform every split.

    Raises:
        InvalidInputError: no rows, unknown columns, non-binary target.
    """
    if len(df) == 0:
        raise InvalidInputError("the processing query returned no rows")
    if spec.target not in df.columns:
        raise InvalidInputError(
            f"target column {spec.target} not in the query result; it has {', '.join(df.columns)}"
        )
    if df[spec.target].isna().any():
        raise InvalidInputError(f"target column {spec.target} has missing values")
    parts = stratified_split(df[spec.target].astype(str).to_numpy(), fractions, seed)
    raw = {name: df.iloc[idx] for name, idx in zip(SPLIT_NAMES, parts, strict=True)}
    featurizer = Featurizer.fit(raw["train"], spec)
    frames: dict[str, pd.DataFrame] = {}
    counts: dict[str, dict[str, int]] = {}
    for name, part in raw.items():
        features = featurizer.transform(part).reset_index(drop=True)
        y = featurizer.labels(part)
        features[spec.target] = y
        frames[name] = features
        counts[name] = {"rows": len(part), "positives": int(y.sum())}
    return ProcessedSplits(frames, featurizer, counts)


@dataclass
class TrainingResult:
    """A trained model with its metrics (per split), CV and search results."""

    model: FittedModel
    metrics: dict[str, dict[str, Any]]
    cv: dict[str, Any] | None = None
    search: list[dict[str, Any]] = field(default_factory=list)


def _xy(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if target not in frame.columns:
        raise InvalidInputError(f"target column {target} not in the training table")
    names = [c for c in frame.columns if c != target]
    return frame[names].to_numpy(dtype=np.float64), frame[target].to_numpy().astype(int), names


def cross_validate(
    estimator: str,
    hyperparameters: dict[str, Any] | None,
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    k: int = 10,
    repeats: int = 1,
    seed: int = 0,
    cost: CostMatrix | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Repeated stratified k-fold CV; early stopping (XGBoost) on a stratified share of each
    training fold, never on the held-out fold.

    Returns:
        ``{"auc_mean", "auc_std", "cost_mean", "folds", "aucs"}``.
    """
    aucs: list[float] = []
    costs: list[float] = []
    folds = list(repeated_stratified_kfold(y, k, repeats, seed))
    for i, (tr, te) in enumerate(folds):
        x_val = y_val = None
        fit_idx = tr
        if estimator == "xgboost":
            inner_tr, _, inner_va = stratified_split(
                y[tr], (1 - INNER_VALIDATION, 0.0, INNER_VALIDATION), seed + i
            )
            fit_idx = tr[inner_tr]
            x_val, y_val = x[tr[inner_va]], y[tr[inner_va]]
        model = fit_estimator(
            estimator,
            hyperparameters,
            x[fit_idx],
            y[fit_idx],
            names,
            x_val=x_val,
            y_val=y_val,
            seed=seed + i,
        )
        m = binary_metrics(y[te], model.predict_proba(x[te]), cost=cost, roc_points=2)
        aucs.append(float(m["roc_auc"]))
        costs.append(float(m["cost"]))
        if progress:
            progress("cv", (i + 1) / len(folds))
    return {
        "k": k,
        "repeats": repeats,
        "folds": len(folds),
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "cost_mean": float(np.mean(costs)),
        "aucs": aucs,
    }


def cross_validate_frame(
    df: pd.DataFrame,
    spec: FeatureSpec,
    estimator: str,
    hyperparameters: dict[str, Any] | None,
    *,
    k: int = 10,
    repeats: int = 5,
    seed: int = 0,
    cost: CostMatrix | None = None,
) -> dict[str, Any]:
    """Repeated stratified k-fold CV of the whole processing + training procedure on raw
    rows: per fold the featurizer is fitted on the fold's training rows only, and XGBoost
    stops early on a stratified share of them.

    Returns:
        ``{"auc_mean", "auc_std", "cost_mean", "folds", "aucs", "costs"}``.
    """
    y_all = Featurizer.fit(df, spec).labels(df)
    aucs: list[float] = []
    costs: list[float] = []
    folds = list(repeated_stratified_kfold(y_all, k, repeats, seed))
    for i, (tr, te) in enumerate(folds):
        train_rows = df.iloc[tr]
        featurizer = Featurizer.fit(train_rows, spec)
        x = featurizer.transform(train_rows).to_numpy(dtype=np.float64)
        y = y_all[tr]
        x_val = y_val = None
        fit_idx = np.arange(len(tr))
        if estimator == "xgboost":
            inner_tr, _, inner_va = stratified_split(
                y, (1 - INNER_VALIDATION, 0.0, INNER_VALIDATION), seed + i
            )
            fit_idx, x_val, y_val = inner_tr, x[inner_va], y[inner_va]
        model = fit_estimator(
            estimator,
            hyperparameters,
            x[fit_idx],
            y[fit_idx],
            featurizer.feature_names,
            x_val=x_val,
            y_val=y_val,
            seed=seed + i,
        )
        x_te = featurizer.transform(df.iloc[te]).to_numpy(dtype=np.float64)
        m = binary_metrics(y_all[te], model.predict_proba(x_te), cost=cost, roc_points=2)
        aucs.append(float(m["roc_auc"]))
        costs.append(float(m["cost"]))
    return {
        "k": k,
        "repeats": repeats,
        "folds": len(folds),
        "auc_mean": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "cost_mean": float(np.mean(costs)),
        "aucs": aucs,
        "costs": costs,
    }


def search_hyperparameters(
    estimator: str,
    base: dict[str, Any] | None,
    grid: dict[str, Sequence[Any]],
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    *,
    k: int = 5,
    seed: int = 0,
    cost: CostMatrix | None = None,
    max_candidates: int = 12,
) -> list[dict[str, Any]]:
    """A small grid search by stratified k-fold CV AUC on the given (training) rows.

    Returns:
        One entry per candidate, best first: ``{"hyperparameters", "auc_mean", "auc_std"}``.
    """
    keys = sorted(grid)
    combos = list(itertools.product(*(list(grid[k_]) for k_ in keys)))
    if not combos or len(combos) > max_candidates:
        raise InvalidInputError(
            f"the search grid has {len(combos)} candidates; give between 1 and {max_candidates}"
        )
    out = []
    for combo in combos:
        hp = {**(base or {}), **dict(zip(keys, combo, strict=True))}
        res = cross_validate(estimator, hp, x, y, names, k=k, repeats=1, seed=seed, cost=cost)
        out.append(
            {
                "hyperparameters": dict(zip(keys, combo, strict=True)),
                "auc_mean": res["auc_mean"],
                "auc_std": res["auc_std"],
            }
        )
    out.sort(key=lambda r: -r["auc_mean"])
    return out


def train_on_splits(
    frames: dict[str, pd.DataFrame],
    target: str,
    estimator: str,
    hyperparameters: dict[str, Any] | None,
    *,
    seed: int = 0,
    cost: CostMatrix | None = None,
    cv: dict[str, int] | None = None,
    search: dict[str, Sequence[Any]] | None = None,
    progress: Progress | None = None,
) -> TrainingResult:
    """Fit on ``train`` (stopping early on ``validation``), evaluate on validation and test.

    Args:
        frames: ``train`` (required), ``validation`` and ``test`` feature frames.
        target: the 0/1 label column.
        estimator: an estimator name (see :mod:`meshlake.ml.estimators`).
        hyperparameters: over the estimator's defaults.
        seed: every random choice derives from it.
        cost: cost matrix for the misclassification cost and the decision threshold.
        cv: ``{"k": 10, "repeats": 5}``: repeated stratified CV on the training rows.
        search: a small grid ``{name: [values]}`` searched by CV on the training rows; the
            best candidate is fitted.
        progress: called with (stage, fraction done).
    """
    if "train" not in frames or len(frames["train"]) == 0:
        raise InvalidInputError("training needs a non-empty train split")
    x, y, names = _xy(frames["train"], target)
    if len(set(y.tolist())) < 2:
        raise InvalidInputError("the train split holds only one class")
    hp = dict(hyperparameters or {})
    searched: list[dict[str, Any]] = []
    if search:
        searched = search_hyperparameters(estimator, hp, search, x, y, names, seed=seed, cost=cost)
        hp.update(searched[0]["hyperparameters"])
        if progress:
            progress("search", 1.0)
    x_val = y_val = None
    if "validation" in frames and len(frames["validation"]):
        x_val, y_val, _ = _xy(frames["validation"], target)
    model = fit_estimator(estimator, hp, x, y, names, x_val=x_val, y_val=y_val, seed=seed)
    if progress:
        progress("fit", 1.0)
    metrics: dict[str, dict[str, Any]] = {}
    for split in ("train", "validation", "test"):
        if split in frames and len(frames[split]):
            xs, ys, _ = _xy(frames[split], target)
            metrics[split] = binary_metrics(ys, model.predict_proba(xs), cost=cost)
    cv_result = None
    if cv:
        cv_result = cross_validate(
            estimator,
            hp,
            x,
            y,
            names,
            k=int(cv.get("k", 10)),
            repeats=int(cv.get("repeats", 1)),
            seed=seed,
            cost=cost,
            progress=progress,
        )
    return TrainingResult(model, metrics, cv_result, searched)
