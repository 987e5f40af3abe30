"""Bias metrics: label rate per group of each sensitive column, checked against pandas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlake.errors import InvalidInputError
from meshlake.products.bias import OTHER_GROUP, BiasReport, compute_bias
from meshlake.products.contract import load_contract

from .conftest import DEMO_CONTRACT


def _pandas_rates(frame: pd.DataFrame, label: str, positive: object, column: str) -> dict:
    labelled = frame[frame[label].notna()]
    positives = (labelled[label] == positive).astype(int)
    grouped = positives.groupby(labelled[column], dropna=False).agg(["size", "sum"])
    return {
        (None if key is None or key != key else key): (int(row["size"]), int(row["sum"]))
        for key, row in grouped.iterrows()
    }


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
            st.one_of(st.none(), st.integers(0, 2)),
            st.one_of(st.none(), st.booleans()),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_group_rates_agree_with_pandas(
    rows: list[tuple[str | None, int | None, bool | None]],
) -> None:
    groups, labels, flags = zip(*rows, strict=True)
    table = pa.table(
        {
            "g": pa.array(groups, pa.string()),
            "y": pa.array(labels, pa.int64()),
            "f": pa.array(flags, pa.bool_()),
        }
    )
    frame = pd.DataFrame({"g": list(groups), "y": list(labels), "f": list(flags)}, dtype=object)
    report = compute_bias(table, "y", 1, ["g", "f"])
    labelled = [lab for lab in labels if lab is not None]
    assert (report.rows, report.positives) == (len(labelled), labelled.count(1))
    for name in ("g", "f"):
        col = report.column(name)
        got = {g.group: (g.n, g.positives) for g in col.groups}
        assert got == _pandas_rates(frame, "y", 1, name)
        for g in col.groups:
            assert g.rate == pytest.approx(g.positives / g.n)
        if col.groups:
            rates = [g.rate for g in col.groups]
            expected = min(rates) / max(rates) if max(rates) > 0 else None
            assert col.ratio == (None if expected is None else pytest.approx(expected))
            assert col.difference == pytest.approx(max(rates) - min(rates))


def test_ratio_groups_and_four_fifths() -> None:
    table = pa.table(
        {
            "y": [1, 1, 1, 0, 1, 0, 0, 0, 1, 1],
            "sex": ["f", "f", "f", "f", "m", "m", "m", "m", "m", "x"],
        }
    )
    col = compute_bias(table, "y", 1, ["sex"]).column("sex")
    assert [(g.group, g.n, g.positives) for g in col.groups] == [
        ("f", 4, 3),
        ("m", 5, 2),
        ("x", 1, 1),
    ]
    assert (col.min_group, col.max_group) == ("m", "x")
    assert col.ratio == pytest.approx(0.4)
    assert col.below_four_fifths
    larger = compute_bias(table, "y", 1, ["sex"], min_group_size=2).column("sex")
    assert larger.ratio == pytest.approx(0.4 / 0.75)  # group x (1 row) is left out
    assert [g.group for g in larger.groups] == ["f", "m", "x"]  # but still listed


def test_numeric_column_with_many_values_is_cut_into_quantile_bins() -> None:
    rng = np.random.default_rng(7)
    age = rng.integers(18, 80, 2000)
    label = (rng.random(2000) < np.where(age < 30, 0.5, 0.8)).astype(int)
    age_with_null = pa.array([*age[:-1].tolist(), None], pa.int64())
    table = pa.table({"age": age_with_null, "y": label})
    col = compute_bias(table, "y", 1, ["age"], max_groups=10, numeric_bins=4).column("age")
    assert col.binned
    edges = np.unique(np.quantile(age[:-1], [0, 0.25, 0.5, 0.75, 1.0]))
    bins = pd.cut(pd.Series(age[:-1]), list(edges), right=False, include_lowest=True)
    last = bins.isna()  # the maximum: pd.cut's last interval is open on the right
    codes = np.where(last, len(edges) - 2, bins.cat.codes)
    expected = pd.Series(label[:-1]).groupby(codes).agg(["size", "sum"])
    assert [g.group for g in col.groups][:-1] == [
        f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}"
        for i in range(len(edges) - 1)
    ]
    assert [(g.n, g.positives) for g in col.groups[:-1]] == [
        (int(r["size"]), int(r["sum"])) for _, r in expected.iterrows()
    ]
    assert (col.groups[-1].group, col.groups[-1].n) == (None, 1)
    assert col.groups[0].rate < col.groups[-2].rate  # the young bin has the lower rate


def test_numeric_column_with_few_values_keeps_one_group_per_value() -> None:
    table = pa.table({"rate": [1, 2, 3, 4, 4], "y": [1, 0, 1, 1, 0]})
    col = compute_bias(table, "y", 1, ["rate"]).column("rate")
    assert not col.binned
    assert [g.group for g in col.groups] == [1, 2, 3, 4]


def test_text_column_with_many_values_merges_the_smallest_into_other() -> None:
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d", "e"]
    table = pa.table({"city": values, "y": [1] * len(values)})
    col = compute_bias(table, "y", 1, ["city"], max_groups=3).column("city")
    assert [(g.group, g.n) for g in col.groups] == [("a", 5), ("b", 4), (OTHER_GROUP, 5)]


def test_positive_label_can_be_a_string_and_dictionary_columns_work() -> None:
    table = pa.table(
        {
            "outcome": ["good", "bad", "good", None],
            "group": pa.array(["x", "x", "y", "y"]).dictionary_encode(),
        }
    )
    report = compute_bias(table, "outcome", "good", ["group"])
    assert report.rows == 3
    assert [(g.group, g.n, g.positives) for g in report.column("group").groups] == [
        ("x", 2, 1),
        ("y", 1, 1),
    ]


def test_no_positives_gives_no_ratio() -> None:
    col = compute_bias(pa.table({"y": [0, 0], "g": ["a", "b"]}), "y", 1, ["g"]).column("g")
    assert col.ratio is None
    assert not col.below_four_fifths


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_column": "nope"}, "no column 'nope'"),
        ({"sensitive_columns": ["nope"]}, "no column 'nope'"),
        ({"sensitive_columns": ["y"]}, "cannot also be a sensitive column"),
        ({"positive_label": "good"}, "is not a value of 'y'"),
        ({"max_groups": 1}, "max_groups"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    args = {"label_column": "y", "positive_label": 1, "sensitive_columns": ["g"], **kwargs}
    table = pa.table({"y": [1, 0], "g": ["a", "b"]})
    with pytest.raises(InvalidInputError, match=message):
        compute_bias(table, **args)


def test_demo_contract_bias_on_the_credit_data(credit_table: pa.Table) -> None:
    contract = load_contract(DEMO_CONTRACT)
    assert contract.label_column is not None
    report = compute_bias(
        credit_table, contract.label_column, contract.positive_label, contract.sensitive_columns
    )
    assert (report.rows, report.positives) == (1000, 700)  # 700 good, 300 bad
    frame = credit_table.to_pandas()
    for name in ("foreign_worker", "personal_status_sex"):
        got = {g.group: (g.n, g.positives) for g in report.column(name).groups}
        assert got == _pandas_rates(frame, "credit_risk", 1, name)
    age = report.column("age")
    assert age.binned  # 53 distinct ages > 50 groups
    assert sum(g.n for g in age.groups) == 1000
    data = json.loads(json.dumps(report.to_dict()))
    assert BiasReport.from_dict(data) == report
