"""A SageMaker processing script: the reference's ``preprocessor.py``, modernized.

Runs unchanged in a SageMaker processing container and in meshlake's script mode (where the
processing folder is ``$SM_PROCESSING_DIR``, or ``opt/ml/processing`` relative to the job
folder). It reads the governed query result from ``input/dataset.parquet``, splits it
**stratified and seeded** into train / validation / test (the original sampled its test rows
from all rows, unseeded, so they could also be training rows), fits the one-hot encoder on the
training rows only, and writes each split as Parquet with named feature columns and the label
last, plus the fitted featurizer (joblib) under ``model/``::

    python preprocessor.py --validation-ratio 0.15 --test-ratio 0.15 --seed 7
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

LABEL = "credit_risk"
CATEGORICAL = [
    "status",
    "credit_history",
    "purpose",
    "savings",
    "employment_duration",
    "personal_status_sex",
    "other_debtors",
    "property",
    "other_installment_plans",
    "housing",
    "job",
    "telephone",
    "foreign_worker",
]


def main() -> None:
    """Split, featurize and write the outputs."""
    import joblib
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--validation-ratio", type=float, default=0.15)
    parser.add_argument("--test-ratio", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    args, _ = parser.parse_known_args()
    base = Path(os.environ.get("SM_PROCESSING_DIR", "/opt/ml/processing"))

    df = pd.read_parquet(base / "input" / "dataset.parquet")
    rest, test = train_test_split(
        df, test_size=args.test_ratio, stratify=df[LABEL], random_state=args.seed
    )
    train, validation = train_test_split(
        rest,
        test_size=args.validation_ratio / (1 - args.test_ratio),
        stratify=rest[LABEL],
        random_state=args.seed,
    )
    categorical = [c for c in CATEGORICAL if c in df.columns]
    featurizer = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    featurizer.fit(train.drop(columns=[LABEL]))
    names = [str(n) for n in featurizer.get_feature_names_out()]
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        features = pd.DataFrame(
            featurizer.transform(part.drop(columns=[LABEL])), columns=names
        ).astype("float64")
        features[LABEL] = part[LABEL].to_numpy()
        out = base / name
        out.mkdir(parents=True, exist_ok=True)
        features.to_parquet(out / f"{name}.parquet", index=False)
        print(f"{name}: {len(features)} rows, {int(features[LABEL].sum())} positive")
    (base / "model").mkdir(parents=True, exist_ok=True)
    joblib.dump(featurizer, base / "model" / "featurizer.joblib")


if __name__ == "__main__":
    main()
