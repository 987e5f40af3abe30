"""Normalising ODCS quality entries into QualityRule values."""

from __future__ import annotations

import pytest

from meshlake.errors import InvalidInputError
from meshlake.products.contract import load_contract
from meshlake.products.rules import QualityRule, Threshold

from .conftest import contract_yaml


def _column_rules(quality: str, **column: str) -> tuple[QualityRule, ...]:
    extra_lines = "".join(f"\n  {k}: {v}" for k, v in column.items())
    props = f"- name: code\n  logicalType: string{extra_lines}\n  quality:\n" + "\n".join(
        "    " + line for line in quality.strip().splitlines()
    )
    return load_contract(contract_yaml(props)).table.rules


def _table_rules(quality: str) -> tuple[QualityRule, ...]:
    props = "- name: a\n- name: b"
    return load_contract(contract_yaml(props, table_quality=quality)).table.rules


def test_library_metric_with_operator_and_severity() -> None:
    (rule,) = _column_rules(
        "- {metric: nullValues, mustBeLessThan: 5, unit: percent, severity: ERROR}"
    )
    assert (rule.kind, rule.scope, rule.column, rule.table) == (
        "nullValues",
        "column",
        "code",
        "orders",
    )
    assert rule.threshold == Threshold("mustBeLessThan", 5)
    assert (rule.unit, rule.severity, rule.blocking) == ("percent", "error", True)
    assert rule.name == "code nullValues"


def test_default_operators_and_severity() -> None:
    rules = _table_rules(
        "- {metric: rowCount}\n- {metric: duplicateValues, arguments: {properties: [a, b]}}"
    )
    assert [r.threshold for r in rules] == [
        Threshold("mustBeGreaterThan", 0),
        Threshold("mustBe", 0),
    ]
    assert all(r.severity == "warning" and not r.blocking for r in rules)
    assert rules[1].columns == ("a", "b")
    assert rules[1].scope == "table"


def test_deprecated_rule_key_is_read_as_metric() -> None:
    (rule,) = _column_rules("- {rule: nullValues, mustBe: 0, name: no nulls}")
    assert (rule.kind, rule.name) == ("nullValues", "no nulls")


def test_between_is_a_pair() -> None:
    (rule,) = _table_rules("- {metric: rowCount, mustBeBetween: [10, 20]}")
    assert rule.threshold == Threshold("mustBeBetween", (10, 20))
    assert rule.threshold.check(10) and rule.threshold.check(20) and not rule.threshold.check(21)


def test_invalid_values_reads_valid_values_pattern_or_enum() -> None:
    (listed,) = _column_rules("- {metric: invalidValues, arguments: {validValues: [a, b]}}")
    assert listed.valid_values == ("a", "b")
    (pattern,) = _column_rules("- {metric: invalidValues, arguments: {pattern: '[A-Z]{2}'}}")
    assert (pattern.pattern, pattern.valid_values) == ("[A-Z]{2}", None)
    (enum,) = _column_rules("- {metric: invalidValues}", enum="[{value: x}, {value: y}]")
    assert enum.valid_values == ("x", "y")


def test_missing_values_default_list() -> None:
    (rule,) = _column_rules("- {metric: missingValues}")
    assert rule.missing_values == (None, "")
    (custom,) = _column_rules("- {metric: missingValues, arguments: {missingValues: [n/a]}}")
    assert custom.missing_values == ("n/a",)


def test_sql_rule_renders_placeholders() -> None:
    (rule,) = _column_rules(
        "- {type: sql, query: 'SELECT count(*) FROM ${object} WHERE ${property} = 1', mustBe: 0}"
    )
    assert rule.kind == "sql"
    assert rule.render_sql("db.orders") == "SELECT count(*) FROM db.orders WHERE code = 1"
    (table_rule,) = _table_rules(
        "- {type: sql, query: 'SELECT 1 FROM ${table} WHERE ${column}', mustBe: 1}"
    )
    with pytest.raises(InvalidInputError, match="not on a column"):
        table_rule.render_sql("t")


def test_text_and_custom_rules_are_kept_but_not_evaluable() -> None:
    rules = _table_rules(
        "- {type: text, description: looks fine}\n"
        "- {type: custom, engine: soda, implementation: 'row_count > 0'}\n"
        "- {description: only words}"
    )
    assert [r.kind for r in rules] == ["text", "custom", "text"]
    assert not any(r.evaluable for r in rules)
    assert all(r.threshold is None for r in rules)


def test_required_and_unique_imply_non_blocking_rules() -> None:
    props = "- name: id\n  required: true\n  unique: true"
    rules = load_contract(contract_yaml(props)).table.rules
    assert [(r.kind, r.implicit, r.blocking) for r in rules] == [
        ("nullValues", True, False),
        ("duplicateValues", True, False),
    ]


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ("- {metric: rowcounts}", "metric 'rowcounts' is not one of"),
        ("- {type: magic}", "quality type 'magic'"),
        ("- {type: library}", "needs a metric"),
        ("- {metric: rowCount, mustBe: 1, mustBeLessThan: 4}", "give one operator"),
        ("- {metric: rowCount, mustBeBetween: [5, 1]}", "smaller number first"),
        ("- {type: sql, mustBe: 0}", "a sql rule needs a query"),
        ("- {type: sql, query: SELECT 1}", "needs an operator"),
        ("- {metric: nullValues}", "needs arguments.properties"),
        ("- {metric: duplicateValues, arguments: {properties: [a, zz]}}", "names unknown"),
        ("- {metric: rowCount, unit: bananas}", "unit 'bananas'"),
    ],
)
def test_table_rule_mistakes_are_refused_with_location(quality: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        _table_rules(quality)
    if "names unknown" not in message:
        assert info.value.message.startswith("schema[0].quality[0]:")


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ("- {metric: invalidValues}", "needs arguments.validValues or arguments.pattern"),
        ("- {metric: invalidValues, arguments: {validValues: a}}", "must be a list"),
        ("- {metric: invalidValues, arguments: {pattern: '('}}", "not a regular expression"),
        ("- {metric: missingValues, arguments: {missingValues: x}}", "must be a list"),
    ],
)
def test_column_rule_mistakes_are_refused_with_location(quality: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        _column_rules(quality)
    assert info.value.message.startswith("schema[0].properties[0].quality[0]:")


@pytest.mark.parametrize(
    ("operator", "value", "passing", "failing"),
    [
        ("mustBe", 3, 3, 4),
        ("mustNotBe", 3, 4, 3),
        ("mustBeGreaterThan", 3, 4, 3),
        ("mustBeGreaterOrEqualTo", 3, 3, 2),
        ("mustBeLessThan", 3, 2, 3),
        ("mustBeLessOrEqualTo", 3, 3, 4),
        ("mustBeBetween", (1, 3), 1, 4),
        ("mustNotBeBetween", (1, 3), 4, 2),
    ],
)
def test_threshold_operators(operator: str, value: object, passing: int, failing: int) -> None:
    threshold = Threshold(operator, value)
    assert threshold.check(passing)
    assert not threshold.check(failing)
    assert not threshold.check(None)
    assert threshold.describe()


def test_threshold_compares_incomparable_values_as_failure() -> None:
    assert not Threshold("mustBeGreaterThan", 0).check("text")
