"""Quality metrics: profiles, rule evaluation, freshness, blocking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlake.errors import InvalidInputError
from meshlake.products.contract import load_contract
from meshlake.products.model import Contract
from meshlake.products.quality import QualityReport, compute_quality

from .conftest import DEMO_CONTRACT, contract_yaml

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

PROPS = """
- name: id
  logicalType: integer
  quality:
    - {metric: duplicateValues, mustBe: 0, severity: error, name: unique ids}
- name: code
  logicalType: string
  quality:
    - {metric: nullValues, mustBeLessOrEqualTo: 25, unit: percent, name: few null codes}
    - {metric: missingValues, arguments: {missingValues: [null, "", "n/a"]}, name: codes present}
    - {metric: invalidValues, arguments: {pattern: "[A-Z]{2}"}, name: two capitals}
- name: score
  logicalType: integer
  quality:
    - {metric: invalidValues, arguments: {validValues: [0, 1]}, name: binary score}
    - {metric: missingValues, arguments: {missingValues: ["", -1]}, name: score present}
"""
TABLE_QUALITY = """
- {metric: rowCount, mustBeGreaterOrEqualTo: 3, severity: error, name: enough rows}
- {metric: duplicateValues, arguments: {properties: [code, score]}, name: unique pairs}
"""


@pytest.fixture
def contract() -> Contract:
    extra = "slaProperties:\n  - {property: latency, value: 2, unit: h}"
    return load_contract(contract_yaml(PROPS, table_quality=TABLE_QUALITY, extra=extra))


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 2, 3, None], pa.int64()),
            "code": pa.array(["AB", "n/a", "", None, "abc"]),
            "score": pa.array([0, 1, 2, -1, 1], pa.int32()),
        }
    )


def _results(report: QualityReport) -> dict[str, tuple[str, object]]:
    return {r.name: (r.status, r.observed) for r in report.rules}


def test_rules_measure_what_they_say(contract: Contract, table: pa.Table) -> None:
    report = compute_quality(table, contract, now=NOW, last_modified=NOW - timedelta(hours=1))
    assert report.row_count == 5
    assert _results(report) == {
        "enough rows": ("passed", 5),
        "unique pairs": ("passed", 0),  # (AB,0) (n/a,1) ("",2) (None,-1) (abc,1)
        "unique ids": ("failed", 1),  # 4 non-null ids, 3 distinct
        "few null codes": ("passed", 20.0),
        "codes present": ("failed", 3),  # null, "" and "n/a"
        "two capitals": ("failed", 3),  # "n/a", "", "abc" (null is not invalid)
        "binary score": ("failed", 2),  # 2 and -1
        "score present": ("failed", 1),  # -1; "" can never be an int
        "orders freshness": ("passed", 3600.0),
    }
    assert [r.name for r in report.blocking_failures] == ["unique ids"]
    assert not report.ok


def test_column_profiles(contract: Contract, table: pa.Table) -> None:
    report = compute_quality(table, contract, now=NOW, last_modified=None)
    ids = report.column("id")
    assert (ids.non_null, ids.nulls, ids.distinct) == (4, 1, 3)
    assert ids.completeness == pytest.approx(0.8)
    assert ids.uniqueness == pytest.approx(0.75)
    assert report.column("score").completeness == 1.0
    nothing = compute_quality(
        pa.table({"n": pa.nulls(3)}), contract, now=NOW, last_modified=None
    ).column("n")
    assert (nothing.non_null, nothing.distinct, nothing.completeness, nothing.uniqueness) == (
        0,
        0,
        0.0,
        None,
    )
    with pytest.raises(InvalidInputError):
        report.column("nope")


def test_freshness_against_the_sla(contract: Contract, table: pa.Table) -> None:
    stale = compute_quality(table, contract, now=NOW, last_modified=NOW - timedelta(hours=3))
    assert (stale.freshness.age_seconds, stale.freshness.max_age_seconds) == (10800.0, 7200.0)
    assert stale.freshness.ok is False
    fresh_rule = next(r for r in stale.rules if r.kind == "freshness")
    assert (fresh_rule.status, fresh_rule.blocking) == ("failed", False)
    unknown = compute_quality(table, contract, now=NOW, last_modified=None)
    assert unknown.freshness.ok is None
    assert next(r for r in unknown.rules if r.kind == "freshness").status == "skipped"
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        compute_quality(table, contract, now=NOW, last_modified=datetime(2025, 6, 1))


def test_blocking_failure_refuses_with_all_failures_listed(contract: Contract) -> None:
    empty = pa.table({"id": pa.array([], pa.int64()), "code": pa.array([], pa.string())})
    empty = empty.append_column("score", pa.array([], pa.int32()))
    report = compute_quality(empty, contract, now=NOW, last_modified=NOW)
    assert report.column("id").completeness is None
    with pytest.raises(InvalidInputError) as info:
        report.raise_for_blocking()
    assert "enough rows: observed 0, expected >= 3" in info.value.message
    assert [f["name"] for f in info.value.details["failures"]] == ["enough rows"]


def test_missing_column_is_an_error_and_blocks_when_blocking(contract: Contract) -> None:
    table = pa.table({"code": ["AB"] * 3, "score": [0, 1, 0]})
    report = compute_quality(table, contract, now=NOW, last_modified=NOW)
    unique_ids = next(r for r in report.rules if r.name == "unique ids")
    assert unique_ids.status == "error"
    assert "no column 'id'" in unique_ids.message
    assert unique_ids.refuses_publish


def test_sql_rules_use_the_runner() -> None:
    props = """
    - name: amount
      quality:
        - type: sql
          query: SELECT count(*) FROM ${table} WHERE ${column} < 0
          mustBe: 0
          severity: error
    """
    contract = load_contract(contract_yaml(props))
    table = pa.table({"amount": [1, -2]})
    seen: list[str] = []

    def run_sql(sql: str) -> object:
        seen.append(sql)
        return np.int64(1)

    report = compute_quality(
        table, contract, now=NOW, last_modified=NOW, run_sql=run_sql, sql_table_ref='"db".orders'
    )
    assert seen == ['SELECT count(*) FROM "db".orders WHERE amount < 0']
    (result,) = report.rules
    assert (result.status, result.observed, result.refuses_publish) == ("failed", 1, True)
    assert type(result.observed) is int

    def broken(sql: str) -> object:
        raise RuntimeError("engine down")

    errored = compute_quality(table, contract, now=NOW, last_modified=NOW, run_sql=broken)
    assert errored.rules[0].status == "error"
    assert "engine down" in errored.rules[0].message
    skipped = compute_quality(table, contract, now=NOW, last_modified=NOW)
    assert skipped.rules[0].status == "skipped"
    assert skipped.ok  # a rule that was not run does not block


def test_text_rules_are_skipped() -> None:
    contract = load_contract(
        contract_yaml(table_quality="- {type: text, description: reviewed, severity: error}")
    )
    report = compute_quality(pa.table({"order_id": [1]}), contract, now=NOW, last_modified=None)
    assert [(r.status, r.refuses_publish) for r in report.rules] == [("skipped", False)]


def test_dictionary_and_pattern_on_numbers() -> None:
    props = """
    - name: grade
      quality:
        - {metric: invalidValues, arguments: {validValues: [a, b]}}
    - name: zip
      quality:
        - {metric: invalidValues, arguments: {pattern: "[0-9]{5}"}}
    """
    contract = load_contract(contract_yaml(props))
    grade = pa.array(["a", "b", "c", None, "a"]).dictionary_encode()
    table = pa.table({"grade": grade, "zip": pa.array([12345, 1234, 99999, None, 123456])})
    report = compute_quality(table, contract, now=NOW, last_modified=None)
    assert [r.observed for r in report.rules] == [1, 2]


def test_report_round_trips_through_json(contract: Contract, table: pa.Table) -> None:
    report = compute_quality(table, contract, now=NOW, last_modified=NOW - timedelta(minutes=5))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert QualityReport.from_dict(data) == report


def test_table_name_selects_the_contract_table(contract: Contract, table: pa.Table) -> None:
    with pytest.raises(InvalidInputError, match="no table 'other'"):
        compute_quality(table, contract, now=NOW, last_modified=None, table_name="other")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(-3, 3)), max_size=40),
    st.lists(st.one_of(st.none(), st.sampled_from(["x", "y", "zz", ""])), max_size=40),
)
def test_profiles_agree_with_pandas(ints: list[int | None], texts: list[str | None]) -> None:
    size = min(len(ints), len(texts))
    frame = pd.DataFrame(
        {
            "i": pd.array(ints[:size], dtype="Int64"),
            "s": pd.array(texts[:size], dtype="string"),
        }
    )
    table = pa.table(
        {"i": pa.array(ints[:size], pa.int64()), "s": pa.array(texts[:size], pa.string())}
    )
    contract = load_contract(contract_yaml("- name: i\n- name: s"))
    report = compute_quality(table, contract, now=NOW, last_modified=None)
    for name in ("i", "s"):
        col = report.column(name)
        non_null = int(frame[name].notna().sum())
        distinct = int(frame[name].nunique(dropna=True))
        assert (col.non_null, col.distinct) == (non_null, distinct)
        assert col.completeness == (non_null / size if size else None)
        assert col.uniqueness == (distinct / non_null if non_null else None)


def test_demo_contract_on_the_credit_data(credit_table: pa.Table) -> None:
    contract = load_contract(DEMO_CONTRACT)
    report = compute_quality(
        credit_table,
        contract,
        now=NOW,
        last_modified=NOW - timedelta(hours=2),
        run_sql=lambda sql: 0,
    )
    assert report.row_count == 1000
    assert report.ok
    assert {r.status for r in report.rules} == {"passed"}
    assert report.column("credit_risk").distinct == 2
    assert report.column("foreign_worker").completeness == 1.0
