"""Golden fixtures of the fence pushdown (tests/query/fixtures/engines/fence.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from meshlake.query.engines.fence import pushable_predicates

FIXTURE = Path(__file__).parent / "fixtures" / "engines" / "fence.yaml"
SCHEMA = (
    (
        "v",
        (
            ("id", "BIGINT", True),
            ("n", "INTEGER", True),
            ("s", "VARCHAR", True),
            ("d", "DATE", True),
            ("ts", "TIMESTAMP", True),
            ("x", "DECIMAL(15,2)", True),
            ("f", "FLOAT", True),
            ("b", "BOOLEAN", True),
            ("m", "VARCHAR", False),
        ),
    ),
    ("u", (("k", "BIGINT", False), ("name", "VARCHAR", False))),
)


def _cases() -> list[Any]:
    cases = yaml.safe_load(FIXTURE.read_text())
    return [pytest.param(case, id=f"fence-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize("case", _cases())
def test_golden(case: dict[str, Any]) -> None:
    got = pushable_predicates(case["sql"], SCHEMA)
    assert {view: list(preds) for view, preds in got.items()} == case["expected"], case["sql"]


def test_unparsable_or_unqualifiable_queries_copy_nothing() -> None:
    assert pushable_predicates("SELECT FROM WHERE", SCHEMA) == {}
    assert pushable_predicates("SELECT id FROM v WHERE nope.id = 1", SCHEMA) == {}


def test_nothing_is_copied_without_a_fenced_view() -> None:
    schema = (("u", (("k", "BIGINT", False),)),)
    assert pushable_predicates("SELECT k FROM u WHERE k = 1", schema) == {}
