"""Where the barrier goes, and what it stops (ARCHITECTURE.md §5, docs/querying.md).

A scan whose policy hides no row and masks no cell is read through a plain view (full
statistics); every other scan through a view ending in ``OFFSET 0`` (the fence), with the
query's safe comparisons copied below it. These tests pin the split, attack the new plain
path and the copies, and show that the fence is what stops the probes: the same probes
leak through a plain view over the same policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest
from query_fakes import FakeCatalog

from meshlake.errors import InvalidQueryError, NotFoundError
from meshlake.governance.policy import RowRule
from meshlake.query import run_query
from meshlake.query.engines import GovernedScan
from meshlake.query.engines.duckdb import DuckDBEngine, local_path, needs_barrier

VISIBLE = ["id", "name", "region", "amount"]
US = "\"region\" = 'us'"
OR_POLICY = '"region" = \'us\' OR "amount" > 900'
DAY_2020_01_01 = (dt.date(2020, 1, 1) - dt.date(1970, 1, 1)).days
HIDDEN = "(p.region <> 'us' AND p.amount <= 900)"  # true exactly on OR_POLICY's hidden rows


def scans(cat: FakeCatalog, *tables: str) -> dict[str, GovernedScan]:
    out = {}
    for i, name in enumerate(tables):
        resolved = cat.resolve("db", name)
        allowed = set(resolved.policy.columns)
        visible = tuple(c for c in resolved.columns if c.name in allowed)
        out[name] = GovernedScan(
            f"__meshlake_scan_{i}", cat.scan(resolved), resolved.policy, visible
        )
    return out


def rows(cat: FakeCatalog, engine: DuckDBEngine, sql: str) -> list[tuple[Any, ...]]:
    outcome = run_query(cat, sql, engine=engine)
    assert outcome.result is not None
    return sorted(outcome.result.rows(), key=repr)


# -- the split -------------------------------------------------------------------------------
def test_only_hidden_rows_or_cells_need_a_barrier(catalog: FakeCatalog) -> None:
    catalog.set_policy("db", "people", VISIBLE)  # columns only
    assert not needs_barrier(scans(catalog, "people")["people"])
    catalog.set_policy("db", "people", VISIBLE, [[RowRule(frozenset(VISIBLE), US, "f")]])
    assert needs_barrier(scans(catalog, "people")["people"])
    catalog.set_policy(  # every row, but "name" only where region = 'us': a cell mask
        "db",
        "people",
        VISIBLE,
        [[RowRule(frozenset(VISIBLE), US, "us"), RowRule(frozenset({"id", "region"}))]],
    )
    assert needs_barrier(scans(catalog, "people")["people"])
    assert not needs_barrier(scans(catalog, "orders")["orders"])


def test_the_fence_and_the_plain_view_in_one_query(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    catalog.set_policy("db", "people", VISIBLE, [[RowRule(frozenset(VISIBLE), US, "f")]])
    outcome = run_query(
        catalog,
        "SELECT p.name, o.total FROM people p JOIN orders o ON o.person_id = p.id "
        "WHERE o.total > 0 AND p.amount >= 10 ORDER BY 1",
        engine=engine,
    )
    assert outcome.result is not None and outcome.result.rows() == [("ann", 5.0)]


# -- the plain path: a table without barrier reveals nothing hidden ----------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ssn FROM people",
        "SELECT o.total FROM orders o JOIN people p ON p.id = o.person_id WHERE p.ssn = '111'",
        "SELECT * FROM people p JOIN orders o ON o.person_id = p.id ORDER BY p.ssn",
        "SELECT count(*) FROM people GROUP BY ssn",
        "SELECT (SELECT max(ssn) FROM people)",
        "SELECT filename FROM people",
        "SELECT file_row_number FROM people",
        "SELECT rowid FROM people",
    ],
)
def test_hidden_columns_of_an_unfiltered_table_are_not_found(
    catalog: FakeCatalog, engine: DuckDBEngine, sql: str
) -> None:
    catalog.set_policy("db", "people", VISIBLE)
    with pytest.raises(NotFoundError, match=r"^column .*not found$"):
        run_query(catalog, sql, engine=engine)


def test_an_unfiltered_table_read_through_the_engine_has_no_hidden_column(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    """Defense in depth: SQL that slipped past analysis still finds only visible columns."""
    catalog.set_policy("db", "people", VISIBLE)
    gs = scans(catalog, "people")["people"]
    for sql in (
        'SELECT ssn FROM "__meshlake_scan_0"',
        'SELECT filename FROM "__meshlake_scan_0"',
        'SELECT "__meshlake_scan_0".ssn FROM "__meshlake_scan_0"',
    ):
        with pytest.raises(NotFoundError):
            engine.execute(sql, [gs])
    table = engine.execute('SELECT * FROM "__meshlake_scan_0"', [gs])
    assert table.column_names == VISIBLE


# -- probes joining a filtered table with an unfiltered one ------------------------------------
PROBES = {
    "error": "CASE WHEN {h} THEN error('leak') ELSE TRUE END",
    "cast": "CAST(CASE WHEN {h} THEN 'x' ELSE '1' END AS INTEGER) = 1",
    "div": "1 // (CASE WHEN {h} THEN 0 ELSE 1 END) = 1",
}
JOINS = [
    "SELECT p.id FROM people p JOIN orders o ON o.person_id = p.id WHERE o.total > 0 AND {p}",
    "SELECT p.id FROM orders o JOIN people p ON o.person_id = p.id AND {p} WHERE o.total < 100",
    "SELECT o.order_id FROM orders o, people p WHERE o.person_id = p.id AND p.amount >= 0 "
    "AND {p} AND o.total > 0",
    "SELECT o.order_id FROM orders o WHERE o.person_id IN (SELECT p.id FROM people p WHERE {p})",
    "SELECT o.order_id FROM orders o WHERE EXISTS "
    "(SELECT 1 FROM people p WHERE p.id = o.person_id AND p.region <> 'x' AND {p})",
    "SELECT o.order_id FROM orders o WHERE NOT EXISTS "
    "(SELECT 1 FROM people p WHERE p.id = o.person_id AND NOT {p})",
    "SELECT count(*) FROM orders o RIGHT JOIN people p ON o.person_id = p.id WHERE {p}",
    "SELECT count(*) FROM orders o FULL JOIN people p ON o.person_id = p.id WHERE {p}",
    "SELECT count(*) FROM orders o LEFT JOIN people p ON o.person_id = p.id AND {p}",
    "SELECT sum(o.total) FROM orders o JOIN people p ON o.person_id = p.id GROUP BY p.region "
    "HAVING bool_and({p})",
    "SELECT p.id FROM people p WHERE p.amount BETWEEN 0 AND 1000 AND p.region IN ('us', 'eu', "
    "'apac') AND p.id > 0 AND {p}",
    "SELECT p.id FROM people p JOIN people q ON p.id = q.id JOIN orders o ON o.person_id = q.id "
    "WHERE {p} AND q.amount > -1",
    "WITH f AS (SELECT * FROM people p WHERE p.amount > -1) SELECT f.id FROM f, orders o "
    "WHERE f.id = o.person_id AND {f}",
]


@pytest.mark.parametrize("probe", list(PROBES))
@pytest.mark.parametrize("position", JOINS)
def test_join_probes_never_fire_on_hidden_rows(
    catalog: FakeCatalog, engine: DuckDBEngine, probe: str, position: str
) -> None:
    catalog.set_policy("db", "people", VISIBLE, [[RowRule(frozenset(VISIBLE), OR_POLICY, "f")]])
    text = PROBES[probe]
    sql = position.format(p=text.format(h=HIDDEN), f=text.format(h=HIDDEN.replace("p.", "f.")))
    run_query(catalog, sql, engine=engine)  # must not raise: the probe is true on visible rows


def test_the_join_probes_are_real(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    """Without the policy the same probe fires: the rows it guards exist."""
    sql = JOINS[0].format(p=PROBES["error"].format(h=HIDDEN))
    with pytest.raises(Exception, match="leak"):
        run_query(catalog, sql, engine=engine)


# -- the copies below the fence never cast a column -------------------------------------------
@pytest.fixture
def coded(catalog: FakeCatalog) -> FakeCatalog:
    """``db.codes``: ``code`` is numeric text, ``stamp`` date text and ``day`` an ordinary
    date on the visible rows (id <= 2); the hidden row holds text no number or date parses
    and a date no timestamp can hold, so any cast of those columns evaluated on it raises."""
    catalog.add_table(
        "db",
        "codes",
        {"id": "BIGINT", "code": "VARCHAR", "day": "DATE", "n": "INTEGER", "stamp": "VARCHAR"},
        {
            "id": [1, 2, 3],
            "code": ["1", "2", "not a number"],
            "stamp": ["2020-01-01", "2020-06-01", "not a date"],
            "day": [DAY_2020_01_01, DAY_2020_01_01 + 152, 200_000_000],  # days since 1970
            "n": [1, 2, 2_000_000_000],
        },
    )
    cols = ["id", "code", "day", "n", "stamp"]
    catalog.set_policy("db", "codes", cols, [[RowRule(frozenset(cols), '"id" <= 2', "f")]])
    return catalog


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM codes WHERE code = 1", [(1,)]),
        ("SELECT id FROM codes WHERE stamp = DATE '2020-01-01'", [(1,)]),
        ("SELECT id FROM codes WHERE stamp IN (DATE '2020-06-01')", [(2,)]),
        ("SELECT id FROM codes WHERE CAST(code AS INTEGER) > 0 AND id > 0", [(1,), (2,)]),
        ("SELECT id FROM codes WHERE code IN (1, 2)", [(1,), (2,)]),
        ("SELECT id FROM codes WHERE code::INTEGER BETWEEN 2 AND 5", [(2,)]),
        ("SELECT id FROM codes WHERE CAST(code AS INTEGER) = 2", [(2,)]),
        ("SELECT id FROM codes WHERE day < TIMESTAMP '2020-03-01 12:00:00'", [(1,)]),
        ("SELECT id FROM codes WHERE day >= TIMESTAMP '2020-03-01 00:00:00'", [(2,)]),
        ("SELECT id FROM codes WHERE n * 2 > 2", [(2,)]),
        ("SELECT id FROM codes WHERE CAST(day AS TIMESTAMP) > TIMESTAMP '2020-03-01'", [(2,)]),
        ("SELECT id FROM codes WHERE n + 2147483000 > 2147483001", [(2,)]),
    ],
)
def test_copied_comparisons_never_raise_on_hidden_rows(
    coded: FakeCatalog, engine: DuckDBEngine, sql: str, expected: list[tuple[Any, ...]]
) -> None:
    assert rows(coded, engine, sql) == expected


def test_the_coded_probes_are_real(coded: FakeCatalog, engine: DuckDBEngine) -> None:
    """Unfiltered, the same comparisons do raise on the row the policy hides."""
    coded.set_policy("db", "codes", ["id", "code", "day", "n", "stamp"])
    with pytest.raises(InvalidQueryError, match="Conversion Error"):
        run_query(coded, "SELECT id FROM codes WHERE CAST(code AS INTEGER) = 1", engine=engine)
    with pytest.raises(InvalidQueryError, match="Conversion Error"):
        run_query(coded, "SELECT id FROM codes WHERE code::INTEGER BETWEEN 2 AND 5", engine=engine)
    with pytest.raises(InvalidQueryError, match="Conversion Error"):
        run_query(coded, "SELECT id FROM codes WHERE stamp = DATE '2020-01-01'", engine=engine)


@pytest.mark.parametrize("pushdown", [True, False])
def test_results_do_not_depend_on_the_copies(coded: FakeCatalog, pushdown: bool) -> None:
    engine = DuckDBEngine(pushdown=pushdown)
    try:
        got = rows(
            coded,
            engine,
            "SELECT a.id, b.id FROM codes a JOIN codes b ON a.code = b.code "
            "WHERE a.day >= DATE '2020-01-01' AND b.day >= '2020-01-01' AND a.id IN (1, 2)",
        )
    finally:
        engine.close()
    assert got == [(1, 1), (2, 2)]


# -- the fence is what holds -----------------------------------------------------------------
def test_a_plain_view_is_no_barrier_but_the_fence_is(catalog: FakeCatalog) -> None:
    """Joined with an unfiltered table, DuckDB merges a user's throwing predicate with a
    plain view's policy, user's first; behind ``OFFSET 0`` it never sees a hidden row."""

    def files(table: str) -> str:
        scan = catalog.scan(catalog.resolve("db", table))
        return ", ".join(f"'{local_path(f)}'" for f in scan.files)

    probe = (
        "SELECT p.id FROM v p JOIN o ON o.person_id = p.id AND CASE WHEN p.region <> 'us' "
        "AND p.amount <= 900 THEN error('leak') ELSE TRUE END"
    )
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        con.execute(f"CREATE VIEW o AS SELECT * FROM read_parquet([{files('orders')}])")
        policy = f"SELECT * FROM read_parquet([{files('people')}]) WHERE {OR_POLICY}"
        con.execute(f"CREATE VIEW v AS {policy}")
        with pytest.raises(duckdb.Error, match="leak"):
            con.execute(probe).fetchall()
        con.execute(f"CREATE OR REPLACE VIEW v AS {policy} OFFSET 0")
        assert sorted(con.execute(probe).fetchall()) == [(1,), (2,), (2,)]
    finally:
        con.close()
