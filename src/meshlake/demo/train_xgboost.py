"""A SageMaker script-mode XGBoost training script (the reference's ``train_xgboost.py``,
modernized): runs unchanged on SageMaker and in meshlake's script mode.

Reads the ``train`` and ``validation`` channels (``SM_CHANNEL_TRAIN``,
``SM_CHANNEL_VALIDATION``: CSV with the label first and no header, SageMaker's XGBoost layout),
trains with the hyperparameters passed as arguments, stops early on the validation set, saves
the booster to ``$SM_MODEL_DIR/xgboost-model`` and writes its validation AUC to
``$SM_OUTPUT_DATA_DIR/metrics.json``::

    python train_xgboost.py --num_round 500 --max_depth 2 --eta 0.05
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def _channel(name: str) -> tuple[object, object]:
    import numpy as np

    folder = Path(os.environ[f"SM_CHANNEL_{name.upper()}"])
    data = np.loadtxt(next(iter(sorted(folder.glob("*.csv")))), delimiter=",", ndmin=2)
    return data[:, 1:], data[:, 0]


def main() -> None:
    """Train, save the model and its metrics."""
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=500)
    parser.add_argument("--max_depth", type=int, default=2)
    parser.add_argument("--eta", type=float, default=0.05)
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--colsample_bytree", type=float, default=0.5)
    parser.add_argument("--early_stopping_rounds", type=int, default=50)
    parser.add_argument("--objective", type=str, default="binary:logistic")
    args, _ = parser.parse_known_args()

    x_train, y_train = _channel("train")
    x_val, y_val = _channel("validation")
    dtrain, dval = xgb.DMatrix(x_train, y_train), xgb.DMatrix(x_val, y_val)
    params = {
        "objective": args.objective,
        "max_depth": args.max_depth,
        "eta": args.eta,
        "subsample": args.subsample,
        "colsample_bytree": args.colsample_bytree,
        "eval_metric": "logloss",
        "nthread": 1,
        "seed": 7,
    }
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=args.num_round,
        evals=[(dval, "validation")],
        early_stopping_rounds=args.early_stopping_rounds,
        verbose_eval=False,
    )
    booster = booster[: booster.best_iteration + 1]  # keep the rounds up to the best one
    auc = float(roc_auc_score(y_val, booster.predict(dval)))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    booster.save_model(str(model_dir / "xgboost-model"))
    out = Path(os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"validation_auc": auc}))
    print(f"validation AUC {auc:.4f} after {booster.num_boosted_rounds()} rounds")


if __name__ == "__main__":
    main()
