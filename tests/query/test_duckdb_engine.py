"""The DuckDB engine: governed views over Parquet files read by field id."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from query_fakes import FakeCatalog

from meshlake.errors import InvalidInputError, InvalidQueryError, NotFoundError, StorageError
from meshlake.governance.policy import RowRule, TablePolicy, TableRef
from meshlake.query.context import ScanColumn, TableScan
from meshlake.query.engines import GovernedScan, load_engine
from meshlake.query.engines.duckdb import DuckDBEngine, local_path, needs_barrier, view_sql

REF = TableRef("a", "db", "t")
COLUMNS = (
    ScanColumn("id", 1, "BIGINT"),
    ScanColumn("name", 2, "VARCHAR"),
    ScanColumn("ssn", 3, "VARCHAR"),
)


def governed(
    catalog: FakeCatalog, table: str = "people", view: str = "__meshlake_scan_0"
) -> GovernedScan:
    resolved = catalog.resolve("db", table)
    visible = tuple(c for c in resolved.columns if c.name in resolved.policy.columns)
    return GovernedScan(view, catalog.scan(resolved), resolved.policy, visible)


def test_view_sql_fences_a_filtered_scan_read_by_field_ids() -> None:
    policy = TablePolicy(
        REF,
        ("id", "name"),
        (
            (
                RowRule(frozenset({"id", "name"}), '"id" > 1', "f"),
                RowRule(frozenset({"id"}), '"id" = 0', "g"),
            ),
        ),
    )
    scan = TableScan(REF, 7, ("file:///w/t/data/a.parquet", "/w/t/data/it's.parquet"), COLUMNS)
    gs = GovernedScan("__meshlake_scan_0", scan, policy, COLUMNS[:2])
    body = (
        'AS SELECT "id", CASE WHEN (("id" > 1)) THEN "name" END AS "name" '
        "FROM read_parquet(['/w/t/data/a.parquet', '/w/t/data/it''s.parquet'], schema=MAP {"
        "1: {name: 'id', type: 'BIGINT', default_value: NULL}, "
        "2: {name: 'name', type: 'VARCHAR', default_value: NULL}, "
        "3: {name: 'ssn', type: 'VARCHAR', default_value: NULL}}, hive_partitioning=false) "
        'WHERE (("id" = 0) OR ("id" > 1))'
    )
    assert view_sql(gs) == f'CREATE TEMP VIEW "__meshlake_scan_0" {body} OFFSET 0'
    assert view_sql(gs, pushed=['"id" < CAST(9 AS BIGINT)']) == (
        f'CREATE TEMP VIEW "__meshlake_scan_0" {body} AND ("id" < CAST(9 AS BIGINT)) OFFSET 0'
    )
    assert view_sql(gs, barrier="secure", pushed=['"id" < 9']) == (
        f'CREATE TEMP SECURE VIEW "__meshlake_scan_0" {body}'
    )


def test_view_sql_of_an_unrestricted_scan_is_a_plain_view() -> None:
    policy = TablePolicy(REF, ("id", "name"), ((RowRule(frozenset({"id", "name"})),),))
    gs = GovernedScan("v", TableScan(REF, 7, ("/w/a.parquet",), COLUMNS), policy, COLUMNS[:2])
    assert needs_barrier(gs) is False
    assert view_sql(gs, by_name=True, pushed=['"id" = 1']) == (
        'CREATE TEMP VIEW "v" AS SELECT "id", "name" FROM '
        "read_parquet(['/w/a.parquet'], hive_partitioning=false, union_by_name=false)"
    )


def test_view_sql_of_an_empty_table_is_typed_and_empty() -> None:
    policy = TablePolicy(REF, ("id", "name"), ((RowRule(frozenset({"id", "name"})),),))
    sql = view_sql(GovernedScan("v", TableScan(REF, None, (), COLUMNS), policy, COLUMNS[:2]))
    assert sql == (
        'CREATE TEMP VIEW "v" AS SELECT CAST(NULL AS BIGINT) AS "id", '
        'CAST(NULL AS VARCHAR) AS "name" WHERE FALSE'
    )


def test_never_visible_cells_are_typed_nulls() -> None:
    policy = TablePolicy(REF, ("id", "name"), ((RowRule(frozenset({"id"}), '"id" > 1', "f"),),))
    sql = view_sql(
        GovernedScan("v", TableScan(REF, 1, ("/w/a.parquet",), COLUMNS), policy, COLUMNS[:2])
    )
    assert 'CAST(NULL AS VARCHAR) AS "name"' in sql


def test_local_paths() -> None:
    assert local_path("/w/x.parquet") == "/w/x.parquet"
    assert local_path("file:///w/a%20b.parquet") == "/w/a b.parquet"
    with pytest.raises(StorageError, match="local files only"):
        local_path("s3://bucket/x.parquet")


def test_renamed_columns_keep_their_values(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.rename_column("db", "people", "name", "full_name")
    table = engine.execute(
        'SELECT id, full_name FROM "__meshlake_scan_0" ORDER BY id', [governed(catalog)]
    )
    assert table.column("full_name").to_pylist() == ["ann", "bob", "cid", "dan", "eve", "fay"]


def test_files_without_a_column_give_null(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    people = catalog.tables[("db", "people")]
    people.columns.append(ScanColumn("score", 99, "DOUBLE"))
    catalog.append("db", "people", {"id": [7], "name": ["gus"], "score": [1.5]})
    table = engine.execute(
        'SELECT id, score, region FROM "__meshlake_scan_0" ORDER BY id', [governed(catalog)]
    )
    assert table.column("score").to_pylist() == [None] * 6 + [1.5]
    assert table.column("region").to_pylist()[-1] is None


def test_types_survive_the_view(tmp_path: Path, engine: DuckDBEngine) -> None:
    import datetime as dt
    from decimal import Decimal

    cat = FakeCatalog(tmp_path)
    types = {"d": "DATE", "ts": "TIMESTAMP", "dec": "DECIMAL(10,2)", "b": "BOOLEAN", "i": "INTEGER"}
    values: dict[str, list[Any]] = {
        "d": [dt.date(2024, 2, 29)],
        "ts": [dt.datetime(2024, 2, 29, 12, 30)],
        "dec": [Decimal("12.34")],
        "b": [True],
        "i": [7],
    }
    cat.add_table("db", "typed", types, values)
    table = engine.execute('SELECT * FROM "__meshlake_scan_0"', [governed(cat, "typed")])
    assert table.to_pylist() == [{k: v[0] for k, v in values.items()}]
    assert table.schema.field("dec").type == pa.decimal128(10, 2)


def test_queries_do_not_see_each_others_views(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    first = governed(catalog)
    catalog.set_policy("db", "people", ["id"], [[RowRule(frozenset({"id"}), '"id" = 1', "one")]])
    second = governed(catalog)
    sql = 'SELECT * FROM "__meshlake_scan_0" ORDER BY 1'
    assert engine.execute(sql, [second]).to_pylist() == [{"id": 1}]
    assert engine.execute(sql, [first]).num_rows == 6
    with pytest.raises(InvalidQueryError):
        engine.execute(sql, [])


def test_concurrent_queries_with_different_policies(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    scans = []
    for region in ("us", "eu", "apac"):
        catalog.set_policy(
            "db", "people", None, [[RowRule(frozenset({"id"}), f"\"region\" = '{region}'", region)]]
        )
        scans.append((region, governed(catalog)))
    expected = {"us": 3, "eu": 2, "apac": 1}
    errors: list[BaseException] = []

    def run(region: str, gs: GovernedScan) -> None:
        try:
            for _ in range(10):
                got = engine.execute('SELECT count(*) AS n FROM "__meshlake_scan_0"', [gs])
                assert got.column("n").to_pylist() == [expected[region]]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in scans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_streaming(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    reader = engine.stream(
        'SELECT id FROM "__meshlake_scan_0" ORDER BY id', [governed(catalog)], batch_size=2
    )
    assert reader.read_all().column("id").to_pylist() == [1, 2, 3, 4, 5, 6]
    with pytest.raises(NotFoundError):
        engine.stream('SELECT nope FROM "__meshlake_scan_0"', [governed(catalog)])


def test_errors_are_translated_without_view_names(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    gs = governed(catalog)
    with pytest.raises(NotFoundError, match=r"^column nope not found$"):
        engine.execute('SELECT nope FROM "__meshlake_scan_0"', [gs])
    with pytest.raises(InvalidQueryError) as info:
        engine.execute('SELECT CAST(name AS INTEGER) FROM "__meshlake_scan_0"', [gs])
    assert "Conversion Error" in info.value.message
    with pytest.raises(InvalidQueryError) as info:
        engine.execute('SELECT * FROM "__meshlake_scan_0" JOIN "__meshlake_scan_0" ON 1', [gs])
    assert "__meshlake" not in info.value.message


def test_unreadable_data_is_a_storage_error(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    gs = governed(catalog)
    missing = TableScan(gs.scan.table, 1, (gs.scan.files[0] + ".gone",), gs.scan.columns)
    with pytest.raises(StorageError):
        engine.execute(
            'SELECT * FROM "__meshlake_scan_0"',
            [GovernedScan(gs.view, missing, gs.policy, gs.visible)],
        )


def test_more_data_directories_than_cached_databases(tmp_path: Path) -> None:
    small = DuckDBEngine(databases=1, threads=1, memory_limit="256MB")
    scans = []
    for name in ("a", "b"):
        cat = FakeCatalog(tmp_path)
        cat.add_table("db", name, {"x": "BIGINT"}, {"x": [1, 2]})
        scans.append(governed(cat, name))
    for _ in range(2):
        for gs in scans:
            assert small.execute(
                'SELECT sum(x) AS s FROM "__meshlake_scan_0"', [gs]
            ).to_pylist() == [{"s": 3}]
    small.close()
    assert small.execute('SELECT sum(x) AS s FROM "__meshlake_scan_0"', [scans[0]]).num_rows == 1


def test_load_engine() -> None:
    assert isinstance(load_engine("duckdb"), DuckDBEngine)
    with pytest.raises(Exception, match="unknown query engine"):
        load_engine("oracle")


def _idle(engine: DuckDBEngine) -> int:
    return engine._databases._idle_count


def test_repeated_queries_reuse_their_built_views(
    catalog: FakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DuckDBEngine(idle_cursors=2)
    fresh: list[bool] = []
    checkout = engine._databases.checkout

    def spy(key: Any) -> Any:
        cursor, new = checkout(key)
        fresh.append(new)
        return cursor, new

    monkeypatch.setattr(engine._databases, "checkout", spy)
    sql = 'SELECT count(*) AS n FROM "__meshlake_scan_0"'
    for _ in range(3):
        assert engine.execute(sql, [governed(catalog)]).to_pylist() == [{"n": 6}]
    assert fresh == [True, False, False]
    catalog.set_policy("db", "people", ["id"], [[RowRule(frozenset({"id"}), '"id" < 3', "lt3")]])
    assert engine.execute(sql, [governed(catalog)]).to_pylist() == [{"n": 2}]
    assert fresh[-1] is True  # another policy: other views, another cursor
    assert _idle(engine) == 2
    engine.close()
    assert _idle(engine) == 0


def test_a_failed_or_abandoned_query_never_returns_its_cursor(catalog: FakeCatalog) -> None:
    engine = DuckDBEngine(idle_cursors=8)
    gs = governed(catalog)
    with pytest.raises(InvalidQueryError):
        engine.execute('SELECT CAST(name AS INTEGER) FROM "__meshlake_scan_0"', [gs])
    with pytest.raises(NotFoundError):
        engine.execute('SELECT nope FROM "__meshlake_scan_0"', [gs])
    assert _idle(engine) == 0
    reader = engine.stream('SELECT id FROM "__meshlake_scan_0"', [gs], batch_size=1)
    next(iter(reader))
    reader.close()
    del reader
    assert _idle(engine) == 0
    engine.stream('SELECT id FROM "__meshlake_scan_0"', [gs], batch_size=1).read_all()
    assert _idle(engine) == 1


def test_idle_cursors_are_bounded(tmp_path: Path) -> None:
    engine = DuckDBEngine(idle_cursors=2)
    cat = FakeCatalog(tmp_path)
    cat.add_table("db", "t", {"x": "BIGINT"}, {"x": [1, 2, 3]})
    for bound in range(5):
        cat.set_policy("db", "t", None, [[RowRule(frozenset({"x"}), f'"x" > {bound}', "f")]])
        got = engine.execute('SELECT count(*) AS n FROM "__meshlake_scan_0"', [governed(cat, "t")])
        assert got.to_pylist() == [{"n": max(0, 3 - bound)}]
    assert _idle(engine) == 2
    assert DuckDBEngine(idle_cursors=0).execute(
        'SELECT count(*) AS n FROM "__meshlake_scan_0"', [governed(cat, "t")]
    ).to_pylist() == [{"n": 0}]


def test_query_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshlake.config import ENV_QUERY_THREADS, query_threads
    from meshlake.query import service

    assert query_threads({}) is None and query_threads({ENV_QUERY_THREADS: " "}) is None
    assert query_threads({ENV_QUERY_THREADS: "3"}) == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(InvalidInputError, match=ENV_QUERY_THREADS):
            query_threads({ENV_QUERY_THREADS: bad})
    monkeypatch.setattr(service, "_ENGINE", None)  # the process's engine, made anew
    monkeypatch.setenv(ENV_QUERY_THREADS, "1")
    engine = service._default_engine()
    root = engine._databases._open((frozenset(), None))  # type: ignore[attr-defined]
    assert root.execute("SELECT current_setting('threads')").fetchone() == (1,)
    root.close()
    engine.close()
