"""Golden fixtures of the rewrite rules (tests/query/fixtures/<rule>.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlglot import exp, parse_one

from meshlake.errors import InvalidQueryError
from meshlake.query.analyze import parse_query
from meshlake.query.references import table_reference
from meshlake.query.rewrite import RULES, RewriteContext, rewrite, view_name

FIXTURES = Path(__file__).parent / "fixtures"
RULES_BY_NAME = {rule.__name__: rule for rule in RULES}


def _reference(text: str) -> Any:
    table = parse_one(f"SELECT * FROM {text}", read="duckdb").find(exp.Table)
    assert table is not None
    return table_reference(table)


def _cases() -> list[Any]:
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        for i, case in enumerate(yaml.safe_load(path.read_text())):
            cases.append(pytest.param(path.stem, case, id=f"{path.stem}-{i}"))
    return cases


def test_every_rule_has_a_fixture_file() -> None:
    assert {p.stem for p in FIXTURES.glob("*.yaml")} == set(RULES_BY_NAME)


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_golden(rule: str, case: dict[str, Any]) -> None:
    views = {_reference(text): view for text, view in (case.get("views") or {}).items()}
    ctx = RewriteContext(views)
    source = parse_one(case["sql"], read="duckdb")
    before = source.sql(dialect="duckdb")
    result = RULES_BY_NAME[rule](source, ctx=ctx)
    assert result.sql(dialect="duckdb") == case["expected"]
    assert source.sql(dialect="duckdb") == before, "a rule must not change its input"


def test_rules_run_in_order() -> None:
    assert [r.__name__ for r in RULES] == ["strip_comments", "governed_views", "strip_time_travel"]


def test_rewrite_applies_every_rule() -> None:
    parsed = parse_query(
        "SELECT id /* c */ FROM db.t FOR VERSION AS OF 9 AS x JOIN db.t USING (id)"
    )
    views = {ref: view_name(i) for i, ref in enumerate(parsed.tables)}
    out = rewrite(parsed.expression, ctx=RewriteContext(views)).sql(dialect="duckdb")
    assert out == (
        'SELECT id FROM "__meshlake_scan_0" AS x JOIN "__meshlake_scan_1" AS "t" USING (id)'
    )


def test_an_unplanned_table_is_refused_not_passed_through() -> None:
    parsed = parse_query("SELECT * FROM db.t JOIN db.u USING (id)")
    views = {parsed.tables[0]: view_name(0)}
    with pytest.raises(InvalidQueryError):
        rewrite(parsed.expression, ctx=RewriteContext(views))
