"""Bias metrics of a product version: label rate per group of each sensitive column.

For each sensitive column, rows are grouped by the column's value and each group gets ``n``
(rows), ``positives`` (rows whose label equals the positive label) and ``rate`` =
positives / n. The column's **disparate impact** ``ratio`` is the lowest rate divided by the
highest (1.0 = parity; below 0.8 fails the "four-fifths rule"), over groups with at least
``min_group_size`` rows; None when the highest rate is 0 or no group qualifies.

Grouping rules:

- Rows whose label is null are left out entirely.
- A null sensitive value is a group of its own (``group`` None).
- A column with at most ``max_groups`` distinct values gets one group per value.
- A numeric column (integer, float, decimal) with more distinct values is cut into
  ``numeric_bins`` quantile groups: edges = the distinct values among the linear-interpolated
  quantiles 0, 1/k, ..., 1 of the non-null values; groups ``[e0, e1)``, ..., ``[e(k-1), ek]``
  (the last one closed), labelled like ``"[19, 27)"``.
- Any other column with more distinct values keeps its ``max_groups - 1`` largest groups and
  merges the rest into one group labelled ``"(other)"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from meshlake.errors import InvalidInputError

__all__ = ["FOUR_FIFTHS", "OTHER_GROUP", "BiasReport", "ColumnBias", "GroupRate", "compute_bias"]

OTHER_GROUP = "(other)"
FOUR_FIFTHS = 0.8
_KEY, _POS = "__group", "__positive"


@dataclass(frozen=True)
class GroupRate:
    """Label rate of one group of a sensitive column."""

    group: Any
    n: int
    positives: int
    rate: float


@dataclass(frozen=True)
class ColumnBias:
    """Label rates per group of one sensitive column and their disparity."""

    column: str
    binned: bool
    groups: tuple[GroupRate, ...]
    min_group: Any
    max_group: Any
    ratio: float | None
    difference: float | None

    @property
    def below_four_fifths(self) -> bool:
        """Whether the disparate impact ratio is below 0.8."""
        return self.ratio is not None and self.ratio < FOUR_FIFTHS

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "column": self.column,
            "binned": self.binned,
            "groups": [g.__dict__.copy() for g in self.groups],
            "min_group": self.min_group,
            "max_group": self.max_group,
            "ratio": self.ratio,
            "difference": self.difference,
            "below_four_fifths": self.below_four_fifths,
        }


@dataclass(frozen=True)
class BiasReport:
    """Bias metrics of one table of a product version."""

    label_column: str
    positive_label: Any
    rows: int
    positives: int
    columns: tuple[ColumnBias, ...]

    @property
    def rate(self) -> float | None:
        """The overall positive rate (None for no labelled rows)."""
        return self.positives / self.rows if self.rows else None

    def column(self, name: str) -> ColumnBias:
        """The metrics of one sensitive column.

        Raises:
            InvalidInputError: the column was not measured.
        """
        for col in self.columns:
            if col.column == name:
                return col
        raise InvalidInputError(f"bias report has no sensitive column {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "label_column": self.label_column,
            "positive_label": self.positive_label,
            "rows": self.rows,
            "positives": self.positives,
            "rate": self.rate,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BiasReport:
        """Rebuild a report from :meth:`to_dict` output."""
        columns = tuple(
            ColumnBias(
                column=c["column"],
                binned=c["binned"],
                groups=tuple(GroupRate(**g) for g in c["groups"]),
                min_group=c["min_group"],
                max_group=c["max_group"],
                ratio=c["ratio"],
                difference=c["difference"],
            )
            for c in data["columns"]
        )
        return cls(
            label_column=data["label_column"],
            positive_label=data["positive_label"],
            rows=data["rows"],
            positives=data["positives"],
            columns=columns,
        )


def compute_bias(
    table: pa.Table,
    label_column: str,
    positive_label: Any,
    sensitive_columns: Sequence[str],
    *,
    max_groups: int = 50,
    numeric_bins: int = 5,
    min_group_size: int = 1,
) -> BiasReport:
    """Label rate per group of each sensitive column, and the min/max rate ratio.

    Args:
        table: the product version's data.
        label_column: the label (e.g. ``credit_risk``).
        positive_label: the label value counted as favourable (e.g. ``1`` = good credit).
        sensitive_columns: columns to measure (e.g. ``age``, ``foreign_worker``).
        max_groups: above this many distinct values a column is binned or truncated.
        numeric_bins: number of quantile groups of a binned numeric column.
        min_group_size: groups smaller than this are listed but left out of the ratio.

    Returns:
        The report, columns in the order given.

    Raises:
        InvalidInputError: a column is missing, the label is also listed as sensitive, the
            positive label cannot be a value of the label column, or a size argument is < 1
            (``max_groups`` and ``numeric_bins`` < 2).

    >>> t = pa.table({"y": [1, 0, 1, 1], "g": ["a", "a", "b", "b"]})
    >>> compute_bias(t, "y", 1, ["g"]).column("g").ratio
    0.5
    """
    if max_groups < 2 or numeric_bins < 2 or min_group_size < 1:
        raise InvalidInputError("max_groups and numeric_bins must be >= 2, min_group_size >= 1")
    for name in (label_column, *sensitive_columns):
        if name not in table.column_names:
            raise InvalidInputError(f"the table has no column {name!r}")
    if label_column in sensitive_columns:
        raise InvalidInputError(f"the label {label_column!r} cannot also be a sensitive column")
    label = table.column(label_column)
    try:
        wanted = pa.scalar(positive_label).cast(label.type)
    except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(
            f"positive label {positive_label!r} is not a value of {label_column!r} ({label.type})"
        ) from exc
    labelled = table.select([label_column, *dict.fromkeys(sensitive_columns)])
    if label.null_count:
        labelled = labelled.filter(pc.is_valid(label))
    positive = pc.fill_null(pc.equal(labelled.column(label_column), wanted), False)
    positive_int = pc.cast(positive, pa.int64())
    columns = tuple(
        _column_bias(
            name, labelled.column(name), positive_int, max_groups, numeric_bins, min_group_size
        )
        for name in sensitive_columns
    )
    return BiasReport(
        label_column=label_column,
        positive_label=positive_label,
        rows=labelled.num_rows,
        positives=int(pc.sum(positive_int).as_py() or 0),
        columns=columns,
    )


def _column_bias(
    name: str,
    values: pa.ChunkedArray,
    positive: pa.ChunkedArray,
    max_groups: int,
    numeric_bins: int,
    min_group_size: int,
) -> ColumnBias:
    if pa.types.is_dictionary(values.type):
        values = pc.cast(values, values.type.value_type)
    distinct = pc.count_distinct(values, mode="only_valid").as_py()
    binned = distinct > max_groups
    labels: list[Any] | None = None
    if binned and _is_numeric(values.type):
        keys, labels = _quantile_bins(values, numeric_bins)
    else:
        keys = values
    counts = (
        pa.table({_KEY: keys, _POS: positive})
        .group_by(_KEY)
        .aggregate([(_POS, "sum"), (_POS, "count")])
    )
    rows = [
        (key, int(n), int(pos))
        for key, pos, n in zip(
            counts.column(_KEY).to_pylist(),
            counts.column(f"{_POS}_sum").to_pylist(),
            counts.column(f"{_POS}_count").to_pylist(),
            strict=True,
        )
    ]
    if labels is not None:
        rows.sort(key=lambda r: (r[0] is None, -1 if r[0] is None else r[0]))
        rows = [(None if k is None else labels[k], n, pos) for k, n, pos in rows]
    elif binned:
        rows = _merge_small(rows, max_groups)
    else:
        rows.sort(key=_sort_key)
    groups = tuple(GroupRate(group=k, n=n, positives=p, rate=p / n) for k, n, p in rows)
    eligible = [g for g in groups if g.n >= min_group_size]
    if not eligible:
        return ColumnBias(name, binned, groups, None, None, None, None)
    low = min(eligible, key=lambda g: g.rate)
    high = max(eligible, key=lambda g: g.rate)
    ratio = low.rate / high.rate if high.rate > 0 else None
    return ColumnBias(name, binned, groups, low.group, high.group, ratio, high.rate - low.rate)


def _is_numeric(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def _quantile_bins(values: pa.ChunkedArray, bins: int) -> tuple[pa.Array, list[str]]:
    numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    valid = ~np.isnan(numbers)
    edges = np.unique(np.quantile(numbers[valid], np.linspace(0.0, 1.0, bins + 1)))
    index = np.searchsorted(edges[1:-1], numbers, side="right")
    keys = pa.array(index, type=pa.int64(), mask=~valid)
    labels = [
        f"[{_num(edges[i])}, {_num(edges[i + 1])}{']' if i == len(edges) - 2 else ')'}"
        for i in range(max(len(edges) - 1, 1))
    ]
    if len(edges) == 1:
        labels = [f"[{_num(edges[0])}, {_num(edges[0])}]"]
    return keys, labels


def _num(value: float) -> str:
    return f"{value:g}"


def _sort_key(row: tuple[Any, int, int]) -> tuple[bool, str, Any]:
    key = row[0]
    return (key is None, type(key).__name__, 0 if key is None else key)


def _merge_small(rows: list[tuple[Any, int, int]], max_groups: int) -> list[tuple[Any, int, int]]:
    rows = sorted(rows, key=lambda r: (-r[1], _sort_key(r)))
    kept, rest = rows[: max_groups - 1], rows[max_groups - 1 :]
    kept.sort(key=_sort_key)
    if rest:
        kept.append((OTHER_GROUP, sum(r[1] for r in rest), sum(r[2] for r in rest)))
    return kept
