"""The crawl state contract, on memory and on SQLAlchemy (SQLite), and crawls recorded in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from meshlake.errors import NotFoundError
from meshlake.storage.crawler import (
    CRAWLER_METADATA,
    CrawlRun,
    FileError,
    FileRecord,
    MemoryCrawlState,
    RunState,
    SchemaChange,
    SqlCrawlState,
    crawl,
)

LOC = "file:///landing"


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryCrawlState()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    CRAWLER_METADATA.create_all(engine)
    return SqlCrawlState(engine)


def _record(path: str, table: str = "t", rows: int = 3) -> FileRecord:
    return FileRecord(table, path, 10, 123_456_789_000, "ab" * 32, rows, "run1")


def test_metadata_has_the_three_tables():
    assert set(CRAWLER_METADATA.tables) == {"crawl_runs", "crawl_files", "crawl_tables"}
    assert {"location", "table", "path", "size", "mtime", "sha256", "rows", "run_id"} <= set(
        CRAWLER_METADATA.tables["crawl_files"].c.keys()
    )


def test_files_upsert_remove_and_forget(store):
    store.save_files(LOC, [_record("a.csv"), _record("b.csv", "u")])
    store.save_files(LOC, [_record("a.csv", rows=7)])
    store.save_files("file:///other", [_record("a.csv")])
    files = store.files(LOC)
    assert sorted(files) == ["a.csv", "b.csv"] and files["a.csv"].rows == 7
    assert files["b.csv"] == _record("b.csv", "u")
    store.remove_files(LOC, ["a.csv"])
    assert sorted(store.files(LOC)) == ["b.csv"]
    store.set_deprecated(LOC, "u", True, "run2")
    assert store.deprecated_tables(LOC) == {"u"} and store.deprecated_tables("file:///x") == set()
    store.remove_table(LOC, "u")
    assert store.files(LOC) == {} and store.deprecated_tables(LOC) == set()
    assert sorted(store.files("file:///other")) == ["a.csv"]


def test_runs_round_trip_newest_first(store):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    first = CrawlRun("r1", LOC, RunState.RUNNING, start, principal="producer/steward")
    store.save_run(first)
    done = CrawlRun(
        "r1",
        LOC,
        RunState.PARTIAL,
        start,
        start + timedelta(seconds=2),
        "credit-card",
        "producer/steward",
        ("t",),
        ("u",),
        ("v",),
        ("w",),
        10,
        2,
        1,
        (FileError("bad.csv", "broken", "t"),),
        (SchemaChange("u", "add_column", "new column x", True, "x"),),
        {"total": 2.0},
    )
    store.save_run(done)
    store.save_run(CrawlRun("r2", "file:///y", RunState.SUCCEEDED, start + timedelta(hours=1)))
    assert store.get_run("r1") == done
    assert [r.id for r in store.list_runs()] == ["r2", "r1"]
    assert [r.id for r in store.list_runs(LOC)] == ["r1"]
    with pytest.raises(NotFoundError):
        store.get_run("nope")


def test_crawl_records_its_run_and_files(store, target, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id,v\n1,x\n")
    run = crawl(target, str(tmp_path / "t"), state=store, database="db", principal="p/crawler")
    assert store.get_run(run.id) == run
    assert run.database == "db" and run.principal == "p/crawler"
    record = store.files(run.location)["a.csv"]
    assert record.rows == 1 and record.table == "t" and record.run_id == run.id
    assert run.to_dict()["state"] == "SUCCEEDED"
