"""parse_query: one allowed SELECT, decided from the text alone."""

# ruff: noqa: E501  (SQL corpora read best one query per line)
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meshlake.errors import InvalidQueryError
from meshlake.query.analyze import parse_query, verify_rewritten
from meshlake.query.references import TableReference, TimeTravel


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("DROP TABLE t", "DROP"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("COPY t TO 'x.csv'", "COPY"),
        ("ATTACH 'x.db'", "ATTACH"),
        ("DETACH x", "DETACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("PRAGMA version", "PRAGMA"),
        ("SET threads = 1", "SET"),
        ("RESET threads", "RESET"),
        ("CALL pragma_version()", "CALL"),
        ("USE db", "USE"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("DESCRIBE t", "DESCRIBE"),
        ("SUMMARIZE t", "SUMMARIZE"),
        ("SHOW TABLES", "SHOW"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("PIVOT t ON a USING sum(b)", "PIVOT"),
        ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "WITH"),
        ("-- why\nVACUUM", "VACUUM"),
    ],
)
def test_only_select_statements(sql: str, word: str) -> None:
    with pytest.raises(InvalidQueryError, match=f"only SELECT queries are allowed, not {word}"):
        parse_query(sql)


@pytest.mark.parametrize("sql", ["EXPORT DATABASE 'x'", "IMPORT DATABASE 'x'"])
def test_unparseable_statements_are_refused(sql: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_query(sql)


@pytest.mark.parametrize("sql", ["", "   ", "-- c", "/* c */", ";"])
def test_empty(sql: str) -> None:
    with pytest.raises(InvalidQueryError, match="empty query"):
        parse_query(sql)


def test_one_statement_only_with_its_position() -> None:
    with pytest.raises(InvalidQueryError, match="only one statement") as info:
        parse_query("SELECT 1;\nSELECT 2 FROM t")
    assert info.value.line == 2
    assert parse_query("SELECT 1;").tables == ()


def test_parse_errors_carry_line_and_column() -> None:
    with pytest.raises(InvalidQueryError, match="cannot parse") as info:
        parse_query("SELECT a\nFROM t WHERE")
    assert (info.value.line, info.value.column) == (2, 12)
    assert info.value.to_dict()["line"] == 2


def test_refusals_point_at_the_table() -> None:
    with pytest.raises(InvalidQueryError) as info:
        parse_query("SELECT *\n  FROM duckdb_tables")
    assert (info.value.line, info.value.column) == (2, 8)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM 'x.csv'", "reading files"),
        ("SELECT * FROM read_csv('x.csv')", "table function read_csv"),
        ("SELECT * FROM glob('*')", "table function glob"),
        ("SELECT * FROM cat.db.t", "at most two parts"),
        ("SELECT * FROM information_schema.tables", "system catalog"),
        ("SELECT * FROM pg_catalog.pg_tables", "system catalog"),
        ("SELECT * FROM duckdb_columns", "system catalog"),
        ("SELECT * FROM sqlite_master", "system catalog"),
        ("WITH duckdb_x AS (SELECT 1) SELECT * FROM duckdb_x", "system catalog"),
        ("SELECT getenv('HOME')", "function getenv"),
        ("SELECT __meshlake_scan_0 FROM t", "reserved"),
        ("SELECT 1 INTO t", "SELECT INTO"),
        ("SELECT * FROM t FOR UPDATE", "LOCK"),
        ("SELECT ?", "parameters"),
        ("SELECT * FROM t PIVOT (sum(a) FOR b IN ('x'))", "PIVOT"),
    ],
)
def test_refused_constructs(sql: str, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        parse_query(sql)


def test_table_references_in_order_and_deduplicated() -> None:
    parsed = parse_query(
        "SELECT * FROM Sales.Orders o JOIN customers c ON o.c = c.id "
        'WHERE o.id IN (SELECT id FROM sales.orders) AND EXISTS (SELECT 1 FROM "Returns")'
    )
    assert parsed.tables == (
        TableReference("sales", "orders"),
        TableReference(None, "customers"),
        TableReference(None, "returns"),
    )


def test_cte_names_shadow_catalog_tables() -> None:
    parsed = parse_query(
        "WITH orders AS (SELECT * FROM db.orders), x AS (SELECT * FROM orders) "
        "SELECT * FROM x, orders, other"
    )
    assert parsed.tables == (TableReference("db", "orders"), TableReference(None, "other"))
    recursive = parse_query(
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r"
    )
    assert recursive.tables == ()
    nested = parse_query("SELECT * FROM (WITH q AS (SELECT 1) SELECT * FROM q) s, q")
    assert nested.tables == (TableReference(None, "q"),)


def test_time_travel_forms() -> None:
    parsed = parse_query(
        "SELECT * FROM t FOR VERSION AS OF 42 AS a "
        "JOIN t FOR TIMESTAMP AS OF '2024-03-01T10:00:00' AS b ON a.id = b.id "
        "JOIN t AT (VERSION => 7) AS c ON c.id = a.id "
        "JOIN t FOR TIMESTAMP AS OF TIMESTAMP '2024-03-01 10:00:00+02:00' AS d ON d.id = a.id "
        "JOIN t AS e ON e.id = a.id"
    )
    assert [r.travel for r in parsed.tables] == [
        TimeTravel("version", snapshot_id=42),
        TimeTravel("timestamp", as_of=datetime(2024, 3, 1, 10, tzinfo=UTC)),
        TimeTravel("version", snapshot_id=7),
        TimeTravel("timestamp", as_of=datetime(2024, 3, 1, 8, tzinfo=UTC)),
        None,
    ]
    assert str(parsed.tables[0]) == "t FOR VERSION AS OF 42"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t FOR VERSION AS OF 'abc'",
        "SELECT * FROM t FOR TIMESTAMP AS OF 12",
        "SELECT * FROM t FOR TIMESTAMP AS OF 'not a time'",
        "SELECT * FROM t FOR SYSTEM_TIME AS OF now()",
        "WITH c AS (SELECT 1) SELECT * FROM c FOR VERSION AS OF 1",
    ],
)
def test_bad_time_travel(sql: str) -> None:
    with pytest.raises(InvalidQueryError):
        parse_query(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a, count(*) FROM t GROUP BY ALL ORDER BY ALL",
        "SELECT * EXCLUDE (a) REPLACE (b + 1 AS b) FROM t",
        "SELECT COLUMNS('a.*'), #1 FROM t",
        "SELECT list_transform(l, x -> x + 1), [y * 2 FOR y IN l] FROM t",
        "SELECT {'k': a}, MAP {'k': 1}, [1, 2][1], s.f FROM t",
        "SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY b ORDER BY c) = 1",
        "SELECT sum(a) FILTER (WHERE b > 1), string_agg(c, ',' ORDER BY c) FROM t",
        "SELECT * FROM t, LATERAL (SELECT t.a * 2) l, unnest([1]) u(x), range(3) r(i)",
        "VALUES (1, 'a'), (2, 'b')",
        "(SELECT 1) UNION ALL (SELECT 2) EXCEPT SELECT 3 INTERSECT SELECT 4",
        "SELECT CAST(a AS DECIMAL(10, 2)), a::VARCHAR, TRY_CAST(a AS INT), a COLLATE nocase FROM t",
        "SELECT DATE '2024-01-01' + INTERVAL 1 DAY, extract(year FROM d), d AT TIME ZONE 'UTC' FROM t",
        "SELECT a ->> '$.x', a -> 'y', a LIKE 'x%' ESCAPE '!', a GLOB 'x*', a SIMILAR TO 'x' FROM t",
        "SELECT error('boom'), typeof(a), hash(a) FROM t",
        "SELECT * FROM t USING SAMPLE 10 PERCENT (bernoulli)",
        "SELECT a FROM t GROUP BY GROUPING SETS ((a), ()), ROLLUP (b), CUBE (c)",
        "SELECT '\\xAA'::BLOB, 'a' || 'b', 1 // 2, 2 ** 3, ~1, 1 << 2, 5 % 2 FROM t",
    ],
)
def test_accepted_queries(sql: str) -> None:
    parse_query(sql)


def test_parse_results_are_cached() -> None:
    assert parse_query("SELECT 1 AS one") is parse_query("SELECT 1 AS one")
    assert parse_query("SELECT 1 AS one") is not parse_query("SELECT 1 AS one", "postgres")


def test_other_dialects() -> None:
    parsed = parse_query("SELECT `a` FROM `db`.`t` LIMIT 1", "spark")
    assert parsed.tables == (TableReference("db", "t"),)
    with pytest.raises(InvalidQueryError):
        parse_query("SELECT 1", "no-such-dialect")


def test_verify_rewritten_accepts_views_and_refuses_anything_else() -> None:
    views = frozenset({"__meshlake_scan_0"})
    verify_rewritten('SELECT * FROM "__meshlake_scan_0" AS "t"', "duckdb", views)
    verify_rewritten("WITH c AS (SELECT 1) SELECT * FROM c, range(2)", "duckdb", views)
    for sql in ('SELECT * FROM "__meshlake_scan_1"', "SELECT * FROM people", "SELECT * FROM d.t"):
        with pytest.raises(InvalidQueryError):
            verify_rewritten(sql, "duckdb", views)
