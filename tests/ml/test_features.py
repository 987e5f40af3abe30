"""The featurizer: fitted on training rows only, unknown categories, numeric scaling."""

from __future__ import annotations

import pandas as pd
import pytest

from meshlake.errors import InvalidInputError
from meshlake.ml.features import FeatureSpec, Featurizer
from meshlake.ml.training import featurize_and_split


def _frame(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "purpose": [["car", "tv", "education", "business"][i % 4] for i in range(n)],
            "amount": [float(100 + i) for i in range(n)],
            "good": [i % 3 != 0 for i in range(n)],
        }
    )


def test_fitted_on_training_rows_only() -> None:
    df = _frame()
    df.loc[df.index[-1], "purpose"] = "yacht"  # appears once
    processed = featurize_and_split(df, FeatureSpec(target="good"), (0.7, 0.15, 0.15), seed=3)
    train_rows = processed.counts["train"]["rows"]
    assert train_rows + processed.counts["test"]["rows"] + processed.counts["validation"][
        "rows"
    ] == len(df)
    yacht_in_train = "purpose__yacht" in processed.featurizer.feature_names
    # the category is a feature exactly when the one row landed in the training split
    assert yacht_in_train == bool(
        processed.frames["train"].get("purpose__yacht", pd.Series()).sum()
    )
    assert set(processed.frames["test"].columns) == set(processed.frames["train"].columns)
    assert processed.frames["train"]["good"].isin([0, 1]).all()


def test_scaling_uses_training_moments_and_round_trips() -> None:
    df = _frame()
    f = Featurizer.fit(df, FeatureSpec.of("good", scale=True))
    out = f.transform(df)
    assert abs(out["amount"].mean()) < 1e-9
    again = Featurizer.from_dict(f.to_dict())
    assert again.transform(df).equals(out)
    assert f.labels(df).tolist() == df["good"].astype(int).tolist()  # True is the positive


def test_target_must_be_binary_and_columns_must_exist() -> None:
    df = _frame()
    df["three"] = [i % 3 for i in range(len(df))]
    with pytest.raises(InvalidInputError, match="exactly two values"):
        Featurizer.fit(df, FeatureSpec(target="three"))
    with pytest.raises(InvalidInputError, match="not in the query result"):
        Featurizer.fit(df, FeatureSpec.of("good", categorical=["nope"]))
