"""The ``where`` grammar of triggers: comparisons, IN, IS NULL, AND/OR/NOT, parsed safely."""

from __future__ import annotations

from typing import Any

import pytest

from meshlake.catalog.event_models import EventRow
from meshlake.errors import InvalidInputError
from meshlake.events.triggers import field_of
from meshlake.events.where import compile_where, equality_expression

ROW = EventRow(
    type="drift.detected",
    source="/products/credit/drift",
    subject="credit",
    product="credit",
    principal="consumer/role",
    data={"max_psi": 0.31, "version": 3, "drifted": True, "top": {"column": "age"}, "n": None},
)


def _test(text: str, row: EventRow = ROW) -> bool:
    return compile_where(text).test(lambda path: field_of(row, path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data.max_psi > 0.2 and subject = 'credit'", True),
        ("data.max_psi > 0.5 and subject = 'credit'", False),
        ("data.max_psi >= 0.31", True),
        ("data.max_psi < 0.31", False),
        ("data.max_psi <= 0.31 AND data.version = 3", True),
        ("data.version != 3", False),
        ("data.version <> 4", True),
        ("data.version > -1", True),
        ("type IN ('product.updated', 'drift.detected')", True),
        ("type NOT IN ('product.updated', 'drift.detected')", False),
        ("data.version IN (1, 2)", False),
        ("NOT (data.version IN (1, 2))", True),
        ("product = 'other' OR principal = 'consumer/role'", True),
        ("product = 'other' OR NOT data.drifted", False),
        ("data.drifted", True),
        ("data.drifted = TRUE and data.top.column = 'age'", True),
        ("data.n IS NULL and data.missing IS NULL", True),
        ("data.version IS NOT NULL", True),
        ("database IS NULL", True),
        ("(data.version = 3 OR data.version = 4) AND NOT type = 'x'", True),
        ("data.max_psi > '0.2'", False),  # a number is not a string
        ("data.missing > 1", False),  # a missing field compares false
        ("data.version = TRUE", False),  # nor is a boolean a number
        ("TRUE", True),
        ("FALSE OR data.version = 3", True),
    ],
)
def test_conditions(text: str, expected: bool) -> None:
    assert _test(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "__import__('os').system('true')",
        "lower(subject) = 'credit'",
        "data.version + 1 > 2",
        "subject LIKE 'cr%'",
        "1; DROP TABLE ml_triggers",
        "SELECT 1",
        "data.version IN (SELECT 1)",
        "owner = 'x'",  # not an event field
        "data = 1",  # data needs a key
        "data.version =",
        "data.version IS 3",
        "'a' = 'a' AND",
        "x" * 3000,
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        compile_where(text)


def test_equality_mapping_is_the_same_condition() -> None:
    mapping: dict[str, Any] = {"product": "credit", "data.version": 3, "data.drifted": True}
    text = equality_expression(mapping)
    assert text == "product = 'credit' AND data.version = 3 AND data.drifted = TRUE"
    assert _test(text)
    assert not _test(equality_expression({**mapping, "data.version": 4}))
    assert _test(equality_expression({"subject": "it's"}), EventRow(subject="it's", data={}))
