"""The function allow-list, checked against DuckDB's own function catalog."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp, parse_one

from meshlake.errors import InvalidQueryError
from meshlake.query.analyze import parse_query
from meshlake.query.functions import (
    ALLOWED_EXPRESSIONS,
    ALLOWED_FUNCTIONS,
    function_name,
    is_allowed_function,
)

_ARGS = ("", "a", "a, b", "a, b, c")


def _catalog() -> dict[str, set[tuple[str, str | None]]]:
    con = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    rows = con.sql(
        "SELECT DISTINCT lower(function_name), function_type, stability FROM duckdb_functions()"
    ).fetchall()
    found: dict[str, set[tuple[str, str | None]]] = {}
    for name, kind, stability in rows:
        found.setdefault(name, set()).add((kind, stability))
    return found


DUCKDB = _catalog()
# Not in duckdb_functions(): SQL syntax DuckDB handles itself.
SYNTAX = {"coalesce", "ifnull"}
# Set-returning in the select list, a table function in FROM: pure either way.
SET_RETURNING = {"unnest"}


def _calls(name: str) -> list[exp.Func]:
    """Every function node sqlglot builds for ``name(...)`` with 0-3 arguments."""
    found: list[exp.Func] = []
    for args in _ARGS:
        try:
            tree = parse_one(f"SELECT {name}({args})", read="duckdb")
        except Exception:
            continue
        found.extend(tree.find_all(exp.Func))
    return found


def test_every_allowed_name_is_a_pure_duckdb_function() -> None:
    for name in sorted(ALLOWED_FUNCTIONS - SYNTAX):
        assert name in DUCKDB, f"{name} is not a DuckDB function"
        kinds = {kind for kind, _ in DUCKDB[name]}
        assert name in SET_RETURNING or kinds & {"scalar", "aggregate", "window", "macro"}, name
        stabilities = {s for kind, s in DUCKDB[name] if kind != "table"}
        if name != "error":  # error() is VOLATILE by DuckDB's marking, allowed by design
            assert stabilities <= {"CONSISTENT", None}, (name, stabilities)


def test_every_allowed_name_passes_the_check() -> None:
    for name in sorted(ALLOWED_FUNCTIONS):
        calls = _calls(name)
        if not calls:  # a keyword sqlglot does not parse as a call (mod, xor, apply)
            continue
        assert all(is_allowed_function(node) for node in calls), (name, calls)


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, kinds in DUCKDB.items()
        if n not in ALLOWED_FUNCTIONS and n.replace("_", "").isalnum()
    ),
)
def test_every_other_duckdb_function_is_refused(name: str) -> None:
    """Refused, or (for a few keywords: mod, xor, apply, show) not parsed as a call at all."""
    for args in _ARGS:
        for sql in (f"SELECT {name}({args})", f"SELECT * FROM {name}({args})"):
            try:
                parsed = parse_query(sql)
            except InvalidQueryError:
                continue
            calls = [f for f in parsed.expression.find_all(exp.Func) if function_name(f) == name]
            assert not calls, sql
            assert f"{name}(" not in parsed.expression.sql(dialect="duckdb").lower(), sql


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT getenv('HOME')",
        "SELECT current_setting('threads')",
        "SELECT current_user",
        "SELECT current_database()",
        "SELECT current_schema()",
        "SELECT version()",
        "SELECT stats(1)",
        "SELECT now()",
        "SELECT current_date",
        "SELECT random()",
        "SELECT uuid()",
        "SELECT nextval('s')",
        "SELECT main.getenv('HOME')",
        "SELECT 'HOME'.getenv()",
        "SELECT list_transform([1], x -> getenv('HOME'))",
        "SELECT sql_auto_complete('SEL')",
    ],
)
def test_impure_and_revealing_functions_are_refused(sql: str) -> None:
    with pytest.raises(InvalidQueryError, match="not allowed"):
        parse_query(sql)


def test_typed_allow_list_holds_only_function_classes() -> None:
    assert all(issubclass(cls, exp.Func) for cls in ALLOWED_EXPRESSIONS)
    assert exp.ReadCSV not in ALLOWED_EXPRESSIONS
    assert exp.CurrentUser not in ALLOWED_EXPRESSIONS


def test_function_name_reports_what_was_written() -> None:
    node = parse_one("SELECT read_text('x')", read="duckdb").find(exp.Func)
    assert node is not None
    assert function_name(node) == "read_text"
    assert not is_allowed_function(node)
