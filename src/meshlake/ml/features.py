"""Built-in feature engineering: one-hot categorical columns, pass numeric ones through or
standardize them; fitted on the training split only, saved as a JSON artifact.

>>> import pandas as pd
>>> df = pd.DataFrame({"purpose": ["car", "tv", "car"], "amount": [1.0, 2.0, 3.0], "y": [1, 0, 1]})
>>> f = Featurizer.fit(df, FeatureSpec(target="y"))
>>> f.feature_names
['amount', 'purpose__car', 'purpose__tv']
>>> f.transform(pd.DataFrame({"purpose": ["boat"], "amount": [5.0]})).values.tolist()
[[5.0, 0.0, 0.0]]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from meshlake.errors import InvalidInputError

__all__ = ["FeatureSpec", "Featurizer", "label_vector"]

FORMAT = "meshlake.featurizer/1"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class FeatureSpec:
    """What a processing job does to the columns of its query result.

    Attributes:
        target: the label column (binary).
        categorical: columns to one-hot encode (default: every text or boolean column).
        numeric: numeric columns to keep (default: every other numeric column).
        scale: standardize numeric columns with the training split's mean and deviation
            (default: pass them through, as tree models want).
        drop: columns to leave out (identifiers, free text).
        positive: the target value that counts as 1 (default: 1 when the labels are 0/1,
            else the larger of the two values).
    """

    target: str
    categorical: tuple[str, ...] | None = None
    numeric: tuple[str, ...] | None = None
    scale: bool = False
    drop: tuple[str, ...] = ()
    positive: Any = None

    @classmethod
    def of(cls, target: str, **kwargs: Any) -> FeatureSpec:
        """Build from plain arguments (lists become tuples)."""
        for key in ("categorical", "numeric", "drop"):
            if kwargs.get(key) is not None:
                if isinstance(kwargs[key], str):
                    raise InvalidInputError(f"{key} must be a list of column names")
                kwargs[key] = tuple(kwargs[key])
        return cls(target=target, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _slug(value: Any) -> str:
    text = _SLUG.sub("_", str(value).lower()).strip("_")
    return text or "blank"


def label_vector(values: pd.Series, positive: Any) -> np.ndarray:
    """0/1 labels: 1 where the value equals ``positive``."""
    return (values.to_numpy() == positive).astype(np.int64)


def _positive(values: pd.Series, wanted: Any) -> Any:
    distinct = sorted({v for v in values.dropna().tolist()}, key=lambda v: (str(type(v)), v))
    if wanted is not None:
        if wanted not in distinct:
            raise InvalidInputError(f"the target has no value {wanted!r}; it has {distinct}")
        return wanted
    if len(distinct) != 2:
        raise InvalidInputError(
            f"the target column must have exactly two values for a binary classifier, found "
            f"{len(distinct)}: {distinct[:10]}"
        )
    return 1 if set(distinct) == {0, 1} else distinct[1]


@dataclass
class Featurizer:
    """A fitted feature transform (serializable to JSON)."""

    spec: FeatureSpec
    positive: Any
    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    fill: dict[str, float] = field(default_factory=dict)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, train: pd.DataFrame, spec: FeatureSpec) -> Featurizer:
        """Learn categories, fill values and (if scaling) moments from the training rows.

        Raises:
            InvalidInputError: unknown columns, or a target that is not binary.
        """
        columns = list(train.columns)
        named = [spec.target, *(spec.categorical or ()), *(spec.numeric or ()), *spec.drop]
        missing = [c for c in named if c not in columns]
        if missing:
            raise InvalidInputError(
                f"column(s) {', '.join(missing)} not in the query result; it has "
                f"{', '.join(columns)}"
            )
        rest = [c for c in columns if c != spec.target and c not in spec.drop]
        numeric_default = [c for c in rest if pd.api.types.is_numeric_dtype(train[c])]
        numeric_default = [c for c in numeric_default if not pd.api.types.is_bool_dtype(train[c])]
        categorical = list(spec.categorical) if spec.categorical is not None else None
        numeric = list(spec.numeric) if spec.numeric is not None else None
        if categorical is None:
            categorical = [c for c in rest if c not in numeric_default and c not in (numeric or [])]
        if numeric is None:
            numeric = [c for c in numeric_default if c not in categorical]
        for c in numeric:
            if not pd.api.types.is_numeric_dtype(train[c]):
                raise InvalidInputError(f"column {c} is not numeric: declare it categorical")
        f = cls(spec=spec, positive=_positive(train[spec.target], spec.positive), numeric=numeric)
        for c in numeric:
            col = train[c].astype("float64")
            f.fill[c] = float(col.median()) if col.notna().any() else 0.0
            if spec.scale:
                filled = col.fillna(f.fill[c])
                f.mean[c] = float(filled.mean())
                f.std[c] = float(filled.std(ddof=0)) or 1.0
        names = list(numeric)
        for c in categorical:
            values = sorted({str(v) for v in train[c].dropna().tolist()})
            f.categories[c] = values
            names.extend(f"{c}__{_slug(v)}" for v in values)
        f.feature_names = _unique(names)
        return f

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Features of ``df``'s rows (unknown categories encode as all zeros)."""
        missing = [c for c in (*self.numeric, *self.categories) if c not in df.columns]
        if missing:
            raise InvalidInputError(f"column(s) {', '.join(missing)} missing for the featurizer")
        n = len(df)
        out = np.zeros((n, len(self.feature_names)), dtype=np.float64)
        j = 0
        for c in self.numeric:
            col = df[c].astype("float64").fillna(self.fill[c]).to_numpy()
            if self.spec.scale:
                col = (col - self.mean[c]) / self.std[c]
            out[:, j] = col
            j += 1
        for c, values in self.categories.items():
            text = df[c].astype("string").to_numpy()
            for v in values:
                out[:, j] = text == v
                j += 1
        return pd.DataFrame(out, columns=self.feature_names, index=df.index)

    def labels(self, df: pd.DataFrame) -> np.ndarray:
        """The 0/1 label of each row."""
        return label_vector(df[self.spec.target], self.positive)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the saved artifact)."""
        return {
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "positive": self.positive,
            "numeric": self.numeric,
            "categories": self.categories,
            "fill": self.fill,
            "mean": self.mean,
            "std": self.std,
            "feature_names": self.feature_names,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Featurizer:
        """Load a saved featurizer."""
        if data.get("format") != FORMAT:
            raise InvalidInputError(f"not a meshlake featurizer (format {data.get('format')!r})")
        spec = FeatureSpec.of(**data["spec"])
        return cls(
            spec=spec,
            positive=data["positive"],
            numeric=list(data["numeric"]),
            categories={k: list(v) for k, v in data["categories"].items()},
            fill=dict(data["fill"]),
            mean=dict(data["mean"]),
            std=dict(data["std"]),
            feature_names=list(data["feature_names"]),
        )

    def fingerprint(self) -> str:
        """A stable hash of the fitted transform."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = name[:120]
        if base in seen:
            seen[base] += 1
            base = f"{base}_{seen[base]}"
        seen.setdefault(base, 0)
        out.append(base)
    return out
