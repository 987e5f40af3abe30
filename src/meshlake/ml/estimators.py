"""Estimators by name: XGBoost (``xgboost-cpu``) and scikit-learn, fitted on feature matrices.

XGBoost takes SageMaker's hyperparameter names (``num_round``, ``eta``, ``max_depth``,
``early_stopping_rounds``, ...) and stops early on the validation split when one is given:
training ends ``early_stopping_rounds`` rounds after the best validation score, and the model
predicts with the rounds up to the best one. XGBoost and scikit-learn are imported inside the
functions that use them, never when meshlake is imported.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from meshlake.errors import InvalidInputError

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "ESTIMATORS",
    "FittedModel",
    "fit_estimator",
    "load_model",
]

#: The default pipeline's XGBoost settings: shallow trees, slow learning, strong column and
#: row subsampling (the German credit data has 1,000 rows; deeper trees overfit it). Chosen
#: by 2x5 stratified CV on the seed-7 training split only, never on validation or test rows
#: (``python bench/ml_quality.py --tune`` repeats the search).
DEFAULT_XGBOOST: dict[str, Any] = {
    "objective": "binary:logistic",
    "num_round": 1000,
    "early_stopping_rounds": 50,
    "eval_metric": "logloss",
    "max_depth": 3,
    "eta": 0.03,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 0.3,
}

DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "xgboost": DEFAULT_XGBOOST,
    "logistic_regression": {"C": 0.1, "max_iter": 2000},
    "random_forest": {"n_estimators": 300, "min_samples_leaf": 3},
    "hist_gradient_boosting": {"max_depth": 3, "learning_rate": 0.05, "max_iter": 300},
}
ESTIMATORS = tuple(DEFAULT_HYPERPARAMETERS)


@dataclass
class FittedModel:
    """A trained model and what its training did."""

    estimator: str
    model: Any
    feature_names: list[str]
    hyperparameters: dict[str, Any]
    best_iteration: int | None = None
    rounds_trained: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """P(label = 1) for each row."""
        x = np.asarray(features, dtype=np.float64)
        if self.estimator == "xgboost":
            import xgboost as xgb

            dm = xgb.DMatrix(x)  # features by position (named DMatrices are slow to evaluate)
            end = (self.best_iteration + 1) if self.best_iteration is not None else 0
            return np.asarray(self.model.predict(dm, iteration_range=(0, end)))
        return np.asarray(self.model.predict_proba(x)[:, 1])

    def feature_importance(self) -> dict[str, float]:
        """Importance per feature (XGBoost: total gain; linear models: |coefficient|)."""
        if self.estimator == "xgboost":
            raw = self.model.get_score(importance_type="total_gain")
            out = {}
            for key, value in raw.items():
                idx = int(key[1:]) if key[:1] == "f" and key[1:].isdigit() else -1
                name = self.feature_names[idx] if 0 <= idx < len(self.feature_names) else key
                out[name] = float(value)
            return out
        est = self.model[-1] if hasattr(self.model, "steps") else self.model
        if hasattr(est, "feature_importances_"):
            values = est.feature_importances_
        elif hasattr(est, "coef_"):
            values = np.abs(est.coef_).ravel()
        else:
            return {}
        return {n: float(v) for n, v in zip(self.feature_names, values, strict=True)}

    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (XGBoost JSON, or a pickle for scikit-learn)."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "estimator": self.estimator,
            "feature_names": self.feature_names,
            "hyperparameters": self.hyperparameters,
            "best_iteration": self.best_iteration,
            "rounds_trained": self.rounds_trained,
        }
        if self.estimator == "xgboost":
            self.model.save_model(str(folder / "model.json"))
        else:
            with open(folder / "model.pkl", "wb") as fh:
                pickle.dump(self.model, fh)
        (folder / "meshlake-model.json").write_text(json.dumps(meta, indent=2, default=str))


def load_model(folder: Path, feature_names: list[str] | None = None) -> FittedModel:
    """Load a model written by :meth:`FittedModel.save`, or an XGBoost model a SageMaker
    script saved (``xgboost-model`` or ``model.json``/``model.ubj``: its features are
    ``feature_names``, in order).

    The scikit-learn form is a pickle: load only models of this mesh's own registry.

    Raises:
        InvalidInputError: the folder holds no model meshlake can load.
    """
    meta_path = folder / "meshlake-model.json"
    if not meta_path.exists():
        for candidate in ("xgboost-model", "model.json", "model.ubj", "model.bst"):
            if (folder / candidate).exists():
                import xgboost as xgb

                booster = xgb.Booster()
                try:
                    booster.load_model(str(folder / candidate))
                except xgb.core.XGBoostError as exc:
                    raise InvalidInputError(f"cannot load {candidate}: {exc}") from exc
                return FittedModel("xgboost", booster, list(feature_names or []), {})
        raise InvalidInputError(f"{folder} holds no model meshlake can load")
    meta = json.loads(meta_path.read_text())
    if meta["estimator"] == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(folder / "model.json"))
        model: Any = booster
    else:
        with open(folder / "model.pkl", "rb") as fh:
            model = pickle.load(fh)
    return FittedModel(
        meta["estimator"],
        model,
        list(meta["feature_names"]),
        dict(meta["hyperparameters"]),
        meta.get("best_iteration"),
        meta.get("rounds_trained"),
    )


def resolve_hyperparameters(estimator: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """The estimator's defaults overridden by ``given``."""
    if estimator not in DEFAULT_HYPERPARAMETERS:
        raise InvalidInputError(
            f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}"
        )
    return {**DEFAULT_HYPERPARAMETERS[estimator], **(given or {})}


def fit_estimator(
    estimator: str,
    hyperparameters: dict[str, Any] | None,
    x_train: np.ndarray,
    y_train: np.ndarray,
    feature_names: list[str],
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    seed: int = 0,
) -> FittedModel:
    """Fit ``estimator`` with ``hyperparameters`` (over its defaults).

    Raises:
        InvalidInputError: unknown estimator or hyperparameter.
    """
    hp = resolve_hyperparameters(estimator, hyperparameters)
    if estimator == "xgboost":
        return _fit_xgboost(hp, x_train, y_train, feature_names, x_val, y_val, seed)
    return _fit_sklearn(estimator, hp, x_train, y_train, feature_names, seed)


def _fit_xgboost(
    hp: dict[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    names: list[str],
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    seed: int,
) -> FittedModel:
    import xgboost as xgb

    params = {k: v for k, v in hp.items() if k not in ("num_round", "early_stopping_rounds")}
    params.setdefault("seed", seed)
    params.setdefault("nthread", 1)  # small data: threads only contend
    params.setdefault("tree_method", "hist")
    params["verbosity"] = 0
    rounds = int(hp.get("num_round", 100))
    dtrain = xgb.DMatrix(np.asarray(x_train, dtype=np.float64), y_train)
    evals: list[tuple[Any, str]] = []
    stop = hp.get("early_stopping_rounds")
    if x_val is not None and y_val is not None and len(y_val):
        dval = xgb.DMatrix(np.asarray(x_val, dtype=np.float64), y_val)
        evals.append((dval, "validation"))
    else:
        stop = None
    history: dict[str, Any] = {}
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=int(stop) if stop else None,
            evals_result=history,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as exc:
        raise InvalidInputError(f"XGBoost rejected the hyperparameters: {exc}") from exc
    trained = booster.num_boosted_rounds()
    best = int(booster.best_iteration) if stop else None
    flat = {
        f"{split}_{metric}": [float(v) for v in values]
        for split, d in history.items()
        for metric, values in d.items()
    }
    return FittedModel("xgboost", booster, list(names), hp, best, trained, flat)


def _fit_sklearn(
    estimator: str,
    hp: dict[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    names: list[str],
    seed: int,
) -> FittedModel:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    try:
        model: Any
        if estimator == "logistic_regression":
            model = make_pipeline(StandardScaler(), LogisticRegression(**hp, random_state=seed))
        elif estimator == "random_forest":
            model = RandomForestClassifier(**hp, random_state=seed, n_jobs=2)
        else:
            model = HistGradientBoostingClassifier(**hp, random_state=seed)
        model.fit(np.asarray(x_train, dtype=np.float64), y_train)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"scikit-learn rejected {estimator}'s settings: {exc}") from exc
    return FittedModel(estimator, model, list(names), hp)
