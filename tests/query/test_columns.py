"""read_columns: which visible columns a rewritten query reads."""

from __future__ import annotations

import pytest
from sqlglot import exp, parse_one

from meshlake.errors import InvalidQueryError, NotFoundError
from meshlake.query import columns
from meshlake.query.analyze import parse_query
from meshlake.query.columns import read_columns
from meshlake.query.context import ScanColumn
from meshlake.query.rewrite import RewriteContext, rewrite

V0, V1 = "__meshlake_scan_0", "__meshlake_scan_1"
PEOPLE = tuple(
    ScanColumn(n, i, t)
    for i, (n, t) in enumerate(
        [("id", "BIGINT"), ("name", "VARCHAR"), ("region", "VARCHAR"), ("amount", "DOUBLE")], 1
    )
)
ORDERS = tuple(ScanColumn(n, i, "BIGINT") for i, n in enumerate(["order_id", "id", "total"], 1))
VIEWS = {V0: PEOPLE, V1: ORDERS}


def rewritten(sql: str) -> exp.Expr:
    parsed = parse_query(sql)
    views = {ref: V0 if ref.name == "people" else V1 for ref in parsed.tables}
    return rewrite(parsed.expression, ctx=RewriteContext(views))


def read(sql: str) -> dict[str, tuple[str, ...]]:
    usage = read_columns(rewritten(sql), VIEWS)
    assert usage.exact
    return {v: c for v, c in usage.columns.items() if c}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT name FROM people", {V0: ("name",)}),
        ("SELECT count(*) FROM people", {}),
        ("SELECT * FROM people", {V0: ("id", "name", "region", "amount")}),
        ("SELECT people.* FROM people", {V0: ("id", "name", "region", "amount")}),
        ("SELECT * EXCLUDE (name) FROM people", {V0: ("id", "region", "amount")}),
        (
            "SELECT id FROM people WHERE region = 'us' ORDER BY amount",
            {V0: ("id", "region", "amount")},
        ),
        (
            "SELECT region FROM people GROUP BY region HAVING sum(amount) > 1",
            {V0: ("region", "amount")},
        ),
        (
            "SELECT row_number() OVER (PARTITION BY region ORDER BY amount) FROM people",
            {V0: ("region", "amount")},
        ),
        (
            "SELECT name FROM people p JOIN orders o ON p.id = o.id",
            {V0: ("id", "name"), V1: ("id",)},
        ),
        ("SELECT name FROM people JOIN orders USING (id)", {V0: ("id", "name"), V1: ("id",)}),
        (
            "SELECT name FROM people p WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = p.id)",
            {V0: ("id", "name"), V1: ("id",)},
        ),
        (
            "SELECT (SELECT max(total) FROM orders o WHERE o.id = p.id) FROM people p",
            {V0: ("id",), V1: ("id", "total")},
        ),
        ("WITH c AS (SELECT id, amount FROM people) SELECT id FROM c", {V0: ("id", "amount")}),
        (
            "SELECT region FROM people UNION SELECT CAST(total AS VARCHAR) FROM orders",
            {V0: ("region",), V1: ("total",)},
        ),
        ("SELECT l.x FROM people p, LATERAL (SELECT p.amount * 2 AS x) l", {V0: ("amount",)}),
        ("SELECT p FROM people p", {V0: ("id", "name", "region", "amount")}),
        ("SELECT row_to_json(people) FROM people", {V0: ("id", "name", "region", "amount")}),
        ("SELECT COLUMNS('a.*') FROM people", {V0: ("id", "name", "region", "amount")}),
        ("SELECT #2 FROM people", {V0: ("id", "name", "region", "amount")}),
        ('SELECT NAME, "Region" FROM people', {V0: ("name", "region")}),
        ("SELECT sum(amount) FILTER (WHERE region = 'us') FROM people", {V0: ("region", "amount")}),
    ],
)
def test_columns_read(sql: str, expected: dict[str, tuple[str, ...]]) -> None:
    assert read(sql) == expected


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT ssn FROM people", "column ssn not found"),
        ("SELECT people.ssn FROM people", "column ssn not found"),
        ("SELECT p.ssn FROM people p", "column ssn not found"),
        ("SELECT x.id FROM people", "column x.id not found"),
        (
            "SELECT id FROM people WHERE EXISTS (SELECT 1 FROM orders o WHERE o.ssn = 1)",
            "column ssn not found",
        ),
        ("SELECT * FROM people JOIN orders USING (name)", "column name not found"),
    ],
)
def test_unknown_columns(sql: str, message: str) -> None:
    with pytest.raises(NotFoundError) as info:
        read(sql)
    assert info.value.message == message
    assert "line" not in info.value.details, "no position: it would differ from DuckDB's"


def test_ambiguous_columns_say_so() -> None:
    with pytest.raises(InvalidQueryError, match="column id is ambiguous"):
        read("SELECT id FROM people, orders")


def test_queries_sqlglot_cannot_qualify_fall_back_to_every_visible_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("sqlglot gave up")

    monkeypatch.setattr(columns, "qualify", broken)
    usage = read_columns(rewritten("SELECT name FROM people"), {V0: PEOPLE})
    assert not usage.exact
    assert usage.columns == {V0: ("id", "name", "region", "amount")}


def test_columns_keep_their_real_case() -> None:
    views = {V0: (ScanColumn("CustomerID", 1, "BIGINT"), ScanColumn("Name", 2, "VARCHAR"))}
    usage = read_columns(parse_one(f'SELECT customerid FROM "{V0}" AS t', read="duckdb"), views)
    assert usage.columns[V0] == ("CustomerID",)
