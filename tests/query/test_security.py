"""The governed query layer against attempts to read more than the policy allows.

Policy used throughout (unless a test says otherwise): ``db.people`` shows ``id, name, region,
amount`` (``ssn`` is hidden) of the rows with ``region = 'us'`` (ids 1, 3, 6). Every attempt
must be refused or return only those cells.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from query_fakes import FakeCatalog

from meshlake.errors import AccessDeniedError, InvalidQueryError, MeshError, NotFoundError
from meshlake.governance.policy import RowRule
from meshlake.query import run_query
from meshlake.query.engines.duckdb import DuckDBEngine

VISIBLE = ["id", "name", "region", "amount"]
US_IDS = [1, 3, 6]


@pytest.fixture
def cat(catalog: FakeCatalog) -> FakeCatalog:
    catalog.set_policy(
        "db", "people", VISIBLE, [[RowRule(frozenset(VISIBLE), "\"region\" = 'us'", "us_only")]]
    )
    return catalog


def rows(cat: FakeCatalog, engine: DuckDBEngine, sql: str) -> list[tuple[object, ...]]:
    outcome = run_query(cat, sql, engine=engine)
    assert outcome.result is not None
    return outcome.result.rows()


# -- statements that are not one SELECT ---------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE x AS SELECT * FROM people",
        "DROP TABLE people",
        "INSERT INTO people SELECT * FROM people",
        "UPDATE people SET name = 'x'",
        "DELETE FROM people",
        "COPY people TO '/tmp/out.csv'",
        "COPY (SELECT * FROM people) TO '/tmp/out.parquet'",
        "ATTACH '/tmp/x.db' AS x",
        "DETACH x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA disable_optimizer",
        "CALL pragma_version()",
        "EXPORT DATABASE '/tmp/x'",
        "USE db",
        "EXPLAIN SELECT * FROM people",
        "DESCRIBE people",
        "SUMMARIZE people",
        "SHOW TABLES",
        "CHECKPOINT",
        "CREATE MACRO m(x) AS x",
        "PIVOT people ON region USING sum(amount)",
        "SELECT * FROM people; SELECT * FROM orders",
        "SELECT 1; DROP TABLE people",
        "SELECT 1 -- hidden\n; DROP TABLE people",
        "SELECT * INTO copy FROM people",
        "",
        "/* nothing */",
    ],
)
def test_non_select_statements_are_refused(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str
) -> None:
    with pytest.raises(InvalidQueryError):
        run_query(cat, sql, engine=engine)
    assert cat.resolved == [], "refused from the text alone, before any catalog lookup"


def test_comments_cannot_hide_a_statement(cat: FakeCatalog, engine: DuckDBEngine) -> None:
    outcome = run_query(
        cat, "SELECT id /* ; DROP TABLE people */ FROM people -- ; DROP", engine=engine
    )
    assert outcome.result is not None and outcome.result.rows() == [(i,) for i in US_IDS]
    assert "DROP" not in outcome.rewritten_sql and "/*" not in outcome.rewritten_sql


# -- files, table functions, system catalogs, settings ------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM 'people.parquet'",
        "SELECT * FROM '/etc/passwd'",
        "FROM '/tmp/*.parquet'",
        "SELECT * FROM read_parquet('/tmp/x.parquet')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('/etc/passwd')",
        "SELECT * FROM read_json('/tmp/x.json')",
        "SELECT * FROM parquet_metadata('/tmp/x.parquet')",
        "SELECT * FROM glob('/tmp/*')",
        "SELECT * FROM query('SELECT * FROM people')",
        "SELECT * FROM query_table('people')",
        "SELECT * FROM people, read_csv('/etc/passwd')",
        "SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))",
        "SELECT * FROM information_schema.columns",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pg_catalog.pg_settings",
        "SELECT * FROM pg_settings",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_views()",
        "SELECT * FROM duckdb_views",
        "SELECT * FROM duckdb_tables",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM pragma_table_info('people')",
        "SELECT * FROM system.main.duckdb_tables",
        "SELECT * FROM temp.main.people",
        "SELECT * FROM memory.db.people",
        'SELECT * FROM "__meshlake_scan_0"',
        "SELECT * FROM people AS __meshlake_scan_1",
        "SELECT getenv('HOME')",
        "SELECT current_setting('allowed_directories')",
        "SELECT getvariable('x')",
        "SELECT current_user",
        "SELECT current_database()",
        "SELECT version()",
        "SELECT stats(amount) FROM people",
        "SELECT name FROM people WHERE getenv('HOME') IS NOT NULL",
        "SELECT list_transform([1], x -> getenv('HOME'))",
        "SELECT id FROM people WHERE $1",
    ],
)
def test_files_functions_and_system_catalogs_are_refused(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str
) -> None:
    with pytest.raises(InvalidQueryError):
        run_query(cat, sql, engine=engine)


# -- hidden columns anywhere ---------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ssn FROM people",
        "SELECT people.ssn FROM people",
        "SELECT p.ssn FROM people p",
        "SELECT db.people.ssn FROM db.people",
        'SELECT "ssn" FROM people',
        'SELECT "SSN" FROM people',
        "SELECT SsN FROM PEOPLE",
        "SELECT id FROM people WHERE ssn = '111'",
        "SELECT id FROM people WHERE CAST(ssn AS INT) = 1",
        "SELECT id FROM people ORDER BY ssn",
        "SELECT count(*) FROM people GROUP BY ssn",
        "SELECT region FROM people GROUP BY region HAVING max(ssn) > '0'",
        "SELECT row_number() OVER (PARTITION BY ssn) FROM people",
        "SELECT id FROM people QUALIFY row_number() OVER (ORDER BY ssn) = 1",
        "SELECT p.id FROM people p JOIN orders o ON o.person_id = p.id AND p.ssn = '111'",
        "SELECT * FROM people JOIN people AS q USING (ssn)",
        "SELECT id FROM people WHERE id IN (SELECT id FROM people WHERE ssn = '111')",
        "SELECT id FROM people p WHERE EXISTS (SELECT 1 FROM people q WHERE q.ssn = '1')",
        "SELECT (SELECT max(ssn) FROM people)",
        "WITH x AS (SELECT ssn FROM people) SELECT 1",
        "WITH x AS (SELECT * FROM people) SELECT ssn FROM x",
        "SELECT name FROM people UNION SELECT ssn FROM people",
        "SELECT * FROM people p, LATERAL (SELECT p.ssn AS s) l",
        "SELECT * REPLACE (ssn AS name) FROM people",
        "SELECT * EXCLUDE (ssn) FROM people",
        "SELECT sum(amount) FILTER (WHERE ssn = '1') FROM people",
        "SELECT list_transform([1], x -> ssn) FROM people",
        "SELECT {'s': ssn} FROM people",
        "SELECT id FROM people WHERE rowid = 1",
        "SELECT filename FROM people",
        "SELECT current_role",
        "SELECT user FROM people, range(2)",
        'SELECT "CURRENT_SCHEMA" FROM range(1)',
    ],
)
@pytest.mark.parametrize("rows", ["filtered", "all rows"])
def test_hidden_columns_are_not_found(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str, rows: str
) -> None:
    if rows == "all rows":  # no row filter, no mask: read through a plain view
        cat.set_policy("db", "people", VISIBLE)
    with pytest.raises(NotFoundError, match=r"^column .*not found$"):
        run_query(cat, sql, engine=engine)


def test_hidden_and_missing_columns_get_the_same_error(
    cat: FakeCatalog, engine: DuckDBEngine
) -> None:
    errors = []
    for column in ("ssn", "nope"):
        for template in (
            "SELECT {c} FROM people",
            "SELECT id FROM people WHERE {c} = 1",
            "SELECT p.{c} FROM people p",
        ):
            with pytest.raises(NotFoundError) as info:
                run_query(cat, template.format(c=column), engine=engine)
            errors.append(
                info.value.to_dict() | {"message": info.value.message.replace(column, "X")}
            )
    hidden, missing = errors[:3], errors[3:]
    assert hidden == missing


# -- whole-row and star tricks --------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "width"),
    [
        ("SELECT * FROM people", 4),
        ("SELECT people.* FROM people", 4),
        ("SELECT p.* FROM people p", 4),
        ("SELECT * EXCLUDE (name) FROM people", 3),
        ("SELECT COLUMNS(*) FROM people", 4),
        ("SELECT COLUMNS('.*') FROM people", 4),
        ("SELECT * FROM people NATURAL JOIN people AS q", 4),
        ("FROM people", 4),
        ("SELECT * FROM (SELECT * FROM people) s", 4),
        ("SELECT * RENAME (ssn AS s) FROM people", 4),
    ],
)
def test_stars_expand_to_visible_columns(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str, width: int
) -> None:
    outcome = run_query(cat, sql, engine=engine)
    assert outcome.result is not None
    table = outcome.result.to_arrow()
    assert table.num_columns == width and "ssn" not in table.column_names
    assert sorted(table.column("id").to_pylist()) == US_IDS


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT p FROM people p",
        "SELECT people FROM people",
        "SELECT row_to_json(p) FROM people p",
        "SELECT to_json(p) FROM people p",
        "SELECT struct_pack(id, name) AS p FROM people",
    ],
)
def test_whole_row_values_hold_only_visible_columns(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str
) -> None:
    values = [str(r[0]) for r in rows(cat, engine, sql)]
    assert len(values) == 3
    assert not any(s in v for v in values for s in ("111", "222", "333", "ssn"))


def test_positional_references_stop_at_visible_columns(
    cat: FakeCatalog, engine: DuckDBEngine
) -> None:
    assert rows(cat, engine, "SELECT #4 FROM people ORDER BY #1") == [(10.0,), (30.0,), (60.0,)]
    with pytest.raises(MeshError):
        run_query(cat, "SELECT #5 FROM people", engine=engine)


# -- probes that fail only on hidden rows ---------------------------------------------------
ERROR = "CASE WHEN {a}region <> 'us' THEN error('leak') ELSE TRUE END"
CAST = "CAST(CASE WHEN {a}region <> 'us' THEN 'x' ELSE '1' END AS INTEGER) = 1"
DIVIDE = "1 // (CASE WHEN {a}region <> 'us' THEN 0 ELSE 1 END) = 1"
OVERFLOW = "(CASE WHEN {a}region <> 'us' THEN 9223372036854775807 ELSE 0 END) + 1 > 0"
POSITIONS = [
    "SELECT id FROM people WHERE {p}",
    "SELECT id FROM people WHERE {p} AND id > 0",
    "SELECT id FROM people WHERE id > 0 OR {p}",
    "SELECT p.id FROM people p JOIN orders o ON o.person_id = p.id AND {pa}",
    "SELECT p.id FROM orders o LEFT JOIN people p ON o.person_id = p.id WHERE {pa}",
    "SELECT p.id FROM people p JOIN people q ON p.id = q.id WHERE {pa}",
    "SELECT p.id FROM people p, people q WHERE p.id = q.id AND {pa}",
    "SELECT id FROM people ORDER BY {p}",
    "SELECT region FROM people GROUP BY region HAVING bool_and({p})",
    "SELECT count(*) FILTER (WHERE {p}) FROM people",
    "SELECT sum(CASE WHEN {p} THEN 1 END) FROM people",
    "SELECT id FROM people QUALIFY {p} AND row_number() OVER () > 0",
    "SELECT count(*) FILTER (WHERE {p}) OVER (ORDER BY id) FROM people",
    "SELECT sum(CASE WHEN {p} THEN amount END) OVER (PARTITION BY region) FROM people",
    "SELECT id FROM people p WHERE EXISTS (SELECT 1 FROM people q WHERE q.id = p.id AND {qa})",
    "SELECT id FROM people WHERE id IN (SELECT id FROM people WHERE {p})",
    "SELECT id FROM people WHERE id NOT IN (SELECT id FROM people WHERE NOT {p})",
    "SELECT (SELECT count(*) FROM people q WHERE {qa})",
    "WITH c AS (SELECT * FROM people) SELECT id FROM c WHERE {p}",
    "WITH c AS (SELECT * FROM people WHERE {p}) SELECT count(*) FROM c",
    "SELECT id FROM (SELECT * FROM people) s WHERE {p}",
    "SELECT id FROM people WHERE {p} UNION SELECT person_id FROM orders",
    "SELECT id FROM people WHERE {p} INTERSECT SELECT id FROM people",
    "SELECT p.id FROM people p, LATERAL (SELECT p.id AS i WHERE {pa}) l",
    "SELECT DISTINCT ON ({p}) id FROM people",
    "SELECT id FROM people WHERE {p} LIMIT 1",
    "SELECT max(amount) FROM people WHERE {p}",
    "SELECT id FROM people WHERE region LIKE 'u%' AND {p}",
    "SELECT id FROM people WHERE amount > 5 AND {p}",
]


# Row filters DuckDB cannot push into the Parquet scan are the ones a plain view leaks through.
POLICIES = {
    "region": "\"region\" = 'us'",
    "or": '"region" = \'us\' OR "amount" > 900',
    "like": "\"region\" LIKE 'u%' OR \"name\" IN ('bob')",
}


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize(
    "probe", [ERROR, CAST, DIVIDE, OVERFLOW], ids=["error", "cast", "div", "overflow"]
)
@pytest.mark.parametrize("position", POSITIONS)
def test_probes_never_fire_on_hidden_rows(
    catalog: FakeCatalog, engine: DuckDBEngine, probe: str, position: str, policy: str
) -> None:
    row_filter = POLICIES[policy]
    catalog.set_policy("db", "people", VISIBLE, [[RowRule(frozenset(VISIBLE), row_filter, "f")]])
    # The probe's condition holds exactly on the rows the policy hides.
    guard = {
        "region": "{a}region <> 'us'",
        "or": "({a}region <> 'us' AND {a}amount <= 900)",
        "like": "({a}region <> 'us' AND {a}name <> 'bob')",
    }[policy]
    probe = probe.replace("{a}region <> 'us'", guard)
    sql = position.format(p=probe.format(a=""), pa=probe.format(a="p."), qa=probe.format(a="q."))
    run_query(catalog, sql, engine=engine)  # must not raise: the probe is true on visible rows


def test_probe_fires_on_visible_rows(cat: FakeCatalog, engine: DuckDBEngine) -> None:
    """The probes are real: the same expression raises when its row is visible."""
    with pytest.raises(InvalidQueryError, match="leak"):
        run_query(
            cat,
            "SELECT id FROM people WHERE CASE WHEN id = 3 THEN error('leak') END",
            engine=engine,
        )


# -- aggregates and statistics see only visible rows -------------------------------------------
def test_aggregates_count_only_visible_rows(cat: FakeCatalog, engine: DuckDBEngine) -> None:
    assert rows(
        cat, engine, "SELECT count(*), count(id), min(amount), max(amount), sum(amount) FROM people"
    ) == [(3, 3, 10.0, 60.0, 100.0)]
    assert rows(cat, engine, "SELECT max(id), min(id) FROM people") == [(6, 1)]
    assert rows(cat, engine, "SELECT count(*) FROM people WHERE region = 'eu'") == [(0,)]
    assert rows(cat, engine, "SELECT approx_count_distinct(region) FROM people") == [(1,)]


def test_cells_outside_their_rule_are_null(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.set_policy(
        "db",
        "people",
        VISIBLE,
        [
            [
                RowRule(frozenset(VISIBLE), "\"region\" = 'us'", "us"),
                RowRule(frozenset({"id", "region"}), '"amount" > 900', "big"),
            ]
        ],
    )
    got = rows(catalog, engine, "SELECT id, name, region, amount FROM people ORDER BY id")
    assert got == [
        (1, "ann", "us", 10.0),
        (2, None, "eu", None),
        (3, "cid", "us", 30.0),
        (6, "fay", "us", 60.0),
    ]
    # A probe on a hidden cell sees NULL, never the value.
    assert rows(catalog, engine, "SELECT id FROM people WHERE name = 'bob'") == []
    assert rows(catalog, engine, "SELECT max(amount) FROM people") == [(60.0,)]
    run_query(
        catalog,
        "SELECT id FROM people WHERE CASE WHEN name = 'bob' THEN error('leak') END IS NULL",
        engine=engine,
    )


# -- tables ------------------------------------------------------------------------------------
def test_invisible_and_missing_tables_look_the_same(cat: FakeCatalog, engine: DuckDBEngine) -> None:
    cat.tables[("db", "orders")].visible = False
    messages = []
    for table in ("orders", "no_such_table"):
        with pytest.raises(NotFoundError) as info:
            run_query(cat, f"SELECT * FROM {table}", engine=engine)
        messages.append(info.value.message.replace(table, "T"))
    assert messages[0] == messages[1]


def test_not_found_wins_over_access_denied(cat: FakeCatalog, engine: DuckDBEngine) -> None:
    cat.tables[("db", "orders")].select = False
    with pytest.raises(AccessDeniedError):
        run_query(cat, "SELECT * FROM orders", engine=engine)
    with pytest.raises(NotFoundError):
        run_query(cat, "SELECT * FROM orders, nothing_here", engine=engine)


def test_the_engine_cannot_read_other_files(
    cat: FakeCatalog, engine: DuckDBEngine, tmp_path: Path
) -> None:
    """Defense in depth: even SQL that slipped past analysis cannot open other files."""
    from meshlake.query.engines import GovernedScan

    resolved = cat.resolve("db", "people")
    scan = cat.scan(resolved)
    gs = GovernedScan("__meshlake_scan_0", scan, resolved.policy, resolved.columns)
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql in (
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('/etc/hostname')",
        "COPY (SELECT 1) TO '/tmp/meshlake-should-not-exist.csv'",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
    ):
        with pytest.raises(MeshError):
            engine.execute(sql, [gs])


def test_python_variables_are_never_tables(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    """DuckDB's replacement scans (Python variables as tables) are off on engine connections."""
    from meshlake.query.engines import GovernedScan

    resolved = catalog.resolve("db", "people")
    gs = GovernedScan(
        "__meshlake_scan_0", catalog.scan(resolved), resolved.policy, resolved.columns
    )
    secret_frame = __import__("pyarrow").table({"a": [42]})
    assert secret_frame.num_rows == 1
    with pytest.raises(MeshError):
        engine.execute("SELECT * FROM secret_frame", [gs])


def test_storage_errors_do_not_show_paths(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    from meshlake.errors import StorageError
    from meshlake.query.context import TableScan
    from meshlake.query.engines import GovernedScan

    resolved = catalog.resolve("db", "people")
    scan = catalog.scan(resolved)
    gone = TableScan(scan.table, scan.snapshot_id, (scan.files[0] + ".gone",), scan.columns)
    gs = GovernedScan("__meshlake_scan_0", gone, resolved.policy, resolved.columns)
    with pytest.raises(StorageError) as info:
        engine.execute('SELECT * FROM "__meshlake_scan_0"', [gs])
    assert str(catalog.root) not in info.value.message and ".parquet" not in info.value.message
