"""Crawls end to end against the in-memory target: the issue's Done-when bullets and policies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meshlake.errors import AccessDeniedError, NotFoundError, StorageError
from meshlake.storage.crawler import (
    PROP_DEPRECATED,
    DeleteBehavior,
    MemoryCrawlState,
    RunState,
    SchemaChangePolicy,
    UpdateBehavior,
    crawl,
)

DATA = Path("/work/shared/data")
SOUTH = DATA / "SouthGermanCredit.asc"
STATLOG = DATA / "statlog-german.data"
SOUTH_HEADER = [
    "laufkont", "laufzeit", "moral", "verw", "hoehe", "sparkont", "beszeit", "rate", "famges",
    "buerge", "wohnzeit", "verm", "alter", "weitkred", "wohn", "bishkred", "beruf", "pers",
    "telef", "gastarb", "kredit",
]  # fmt: skip


def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_south_german_credit_without_hints(target, state):
    run = crawl(target, str(SOUTH), state=state)
    assert run.state is RunState.SUCCEEDED
    assert run.tables_created == ("southgermancredit",)
    table = target.tables["southgermancredit"]
    assert table.num_rows == 1000 and run.rows_added == 1000
    assert table.column_names == SOUTH_HEADER
    assert all(t == pa.int64() for t in table.schema.types)
    assert table["kredit"].to_pylist().count(1) == 700  # 700 good, 300 bad
    props = target.properties["southgermancredit"]
    assert props["classification"] == "csv" and props["skip.header.line.count"] == "1"
    assert props["recordCount"] == "1000"


def test_statlog_headerless_gets_positional_names_and_types(target, state):
    run = crawl(target, STATLOG.as_uri(), table="statlog", state=state)
    table = target.tables["statlog"]
    assert run.state is RunState.SUCCEEDED and table.num_rows == 1000
    assert table.column_names == [f"col{i}" for i in range(21)]
    numeric = {1, 4, 7, 10, 12, 15, 17, 20}  # duration, amount, rate, ..., label
    for i, t in enumerate(table.schema.types):
        assert t == (pa.int64() if i in numeric else pa.string()), i
    assert table["col0"][0].as_py() == "A11" and table["col20"].to_pylist().count(2) == 300


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "credit"
    folder.mkdir()
    lines = SOUTH.read_text().splitlines()
    (folder / "part1.asc").write_text("\n".join(lines[:501]) + "\n")
    return folder


def test_recrawl_ingests_only_new_files(target, state, landing):
    first = crawl(target, str(landing), state=state)
    assert first.tables_created == ("credit",) and first.rows_added == 500
    again = crawl(target, str(landing), state=state)
    assert again.rows_added == 0 and again.files_skipped == 1 and again.tables_updated == ()
    lines = SOUTH.read_text().splitlines()
    (landing / "part2.asc").write_text("\n".join([lines[0], *lines[501:]]) + "\n\n")
    third = crawl(target, str(landing), state=state)
    assert third.rows_added == 500 and third.files_read == 1 and third.files_skipped == 1
    assert third.tables_updated == ("credit",)
    assert target.tables["credit"].num_rows == 1000
    assert target.tables["credit"].column_names == SOUTH_HEADER


def test_touched_file_is_not_reingested(target, state, landing):
    crawl(target, str(landing), state=state)
    _touch_later(landing / "part1.asc")
    run = crawl(target, str(landing), state=state)
    assert run.rows_added == 0 and run.files_skipped == 1
    assert target.tables["credit"].num_rows == 500


def test_added_column_is_a_new_schema_and_old_rows_read_null(target, state, tmp_path):
    folder = tmp_path / "loans"
    folder.mkdir()
    (folder / "a.csv").write_text("id,amount\n1,100\n2,200\n")
    crawl(target, str(folder), state=state)
    (folder / "b.csv").write_text("id,amount,region\n3,300,eu\n4,400,us\n")
    run = crawl(target, str(folder), state=state)
    assert run.tables_updated == ("loans",)
    assert [(c.kind, c.column, c.applied) for c in run.schema_changes] == [
        ("add_column", "region", True)
    ]
    assert [s.names for s in target.schemas["loans"]] == [
        ["id", "amount"],
        ["id", "amount", "region"],
    ]
    table = target.tables["loans"]
    assert table.to_pydict() == {
        "id": [1, 2, 3, 4],
        "amount": [100, 200, 300, 400],
        "region": [None, None, "eu", "us"],
    }


def test_log_policy_keeps_schema_and_holds_files_back(target, state, tmp_path):
    folder = tmp_path / "loans"
    folder.mkdir()
    (folder / "a.csv").write_text("id,amount\n1,100\n")
    crawl(target, str(folder), state=state)
    (folder / "b.csv").write_text("id,amount,region\n3,300,eu\n")
    (folder / "c.csv").write_text("id,amount\n5,500\n")
    log = SchemaChangePolicy(update_behavior=UpdateBehavior.LOG)
    run = crawl(target, str(folder), state=state, policy=log)
    assert [(c.column, c.applied) for c in run.schema_changes] == [("region", False)]
    assert target.tables["loans"].column_names == ["id", "amount"]
    assert target.tables["loans"]["id"].to_pylist() == [1, 5]
    assert run.files_skipped == 2 and run.files_read == 1
    later = crawl(target, str(folder), state=state)  # the default policy applies it
    assert target.tables["loans"]["region"].to_pylist() == [None, None, "eu"]
    assert later.rows_added == 1


def test_deleting_the_files_deprecates_then_restores(target, state, landing):
    crawl(target, str(landing), state=state)
    moved = landing.parent / "kept.asc"
    shutil.move(landing / "part1.asc", moved)
    run = crawl(target, str(landing), state=state)
    assert run.tables_deprecated == ("credit",) and run.state is RunState.SUCCEEDED
    assert target.properties["credit"][PROP_DEPRECATED] == "true"
    assert [c.kind for c in run.schema_changes] == ["no_files"]
    assert crawl(target, str(landing), state=state).tables_deprecated == ()  # once only
    shutil.move(moved, landing / "part1.asc")
    back = crawl(target, str(landing), state=state)
    assert target.properties["credit"][PROP_DEPRECATED] == "false"
    assert back.rows_added == 0 and "restored" in [c.kind for c in back.schema_changes]


@pytest.mark.parametrize(
    ("behavior", "exists", "deleted"),
    [
        (DeleteBehavior.DELETE_FROM_DATABASE, False, ("credit",)),
        (DeleteBehavior.LOG, True, ()),
    ],
)
def test_delete_behaviors(target, state, landing, behavior, exists, deleted):
    crawl(target, str(landing), state=state)
    (landing / "part1.asc").unlink()
    run = crawl(
        target, str(landing), state=state, policy=SchemaChangePolicy(delete_behavior=behavior)
    )
    assert ("credit" in target.tables) is exists
    assert run.tables_deleted == deleted and run.tables_deprecated == ()
    assert PROP_DEPRECATED not in target.properties["credit"]
    assert run.schema_changes[0].applied is (behavior is not DeleteBehavior.LOG)


def test_location_removed_entirely_deprecates_and_unknown_location_fails(target, state, landing):
    crawl(target, str(landing), state=state)
    shutil.rmtree(landing)
    assert crawl(target, str(landing), state=state).tables_deprecated == ("credit",)
    with pytest.raises(NotFoundError):
        crawl(target, str(landing.parent / "never"), state=state)
    assert state.list_runs()[0].state is RunState.FAILED


def test_unparseable_file_is_reported_not_fatal(target, state, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.csv").write_text("a,b\n1,x\n2,y\n")
    (folder / "bad.parquet").write_bytes(b"this is not parquet at all")
    (folder / "blob.csv").write_bytes(b"\x00\x01\x02binary")
    (folder / "empty.csv").write_text("")
    run = crawl(target, str(folder), state=state)
    assert run.state is RunState.PARTIAL
    assert sorted(e.path for e in run.errors) == ["bad.parquet", "blob.csv"]
    assert run.files_read == 1 and run.files_skipped == 1
    assert target.tables["mixed"].num_rows == 2
    assert state.get_run(run.id).errors == run.errors


def test_every_file_failing_is_a_failed_run(target, state, tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"nope")
    run = crawl(target, str(tmp_path / "x.parquet"), state=state)
    assert run.state is RunState.FAILED and not target.tables


def test_file_grown_in_place_adds_only_new_rows_rewritten_is_an_error(target, state, tmp_path):
    log = tmp_path / "events.csv"
    log.write_text("id,v\n1,a\n2,b\n")
    crawl(target, str(log), state=state)
    with log.open("a") as f:
        f.write("3,c\n")
    _touch_later(log)
    run = crawl(target, str(log), state=state)
    assert run.rows_added == 1 and target.tables["events"]["id"].to_pylist() == [1, 2, 3]
    log.write_text("id,v\n9,z\n8,y\n7,x\n6,w\n")
    _touch_later(log)
    bad = crawl(target, str(log), state=state)
    assert bad.state is RunState.FAILED and "changed since it was ingested" in bad.errors[0].message
    assert target.tables["events"].num_rows == 3


def test_moved_file_is_not_reingested(target, state, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id\n1\n2\n")
    crawl(target, str(tmp_path / "t"), state=state)
    (tmp_path / "t" / "a.csv").rename(tmp_path / "t" / "renamed.csv")
    run = crawl(target, str(tmp_path / "t"), state=state)
    assert run.rows_added == 0 and run.schema_changes == () and run.tables_deprecated == ()
    assert sorted(state.files(run.location)) == ["renamed.csv"]


def test_table_dropped_outside_is_rebuilt(target, state, landing):
    crawl(target, str(landing), state=state)
    target.drop_table("credit")
    run = crawl(target, str(landing), state=state)
    assert run.tables_created == ("credit",) and target.tables["credit"].num_rows == 500


def test_folders_tables_partitions_and_incompatible_files(target, state, tmp_path):
    root = tmp_path / "lake"
    for year, rows in (("2023", "1,a\n2,b\n"), ("2024", "3,c\n")):
        (root / "sales" / f"year={year}").mkdir(parents=True)
        (root / "sales" / f"year={year}" / "s.csv").write_text("id,item\n" + rows)
    (root / "users").mkdir()
    pq.write_table(pa.table({"uid": [1, 2], "name": ["x", "y"]}), root / "users" / "u.parquet")
    (root / "users" / "x_events.jsonl").write_text('{"kind": "click", "at": 1}\n')
    run = crawl(target, str(root), state=state)
    assert sorted(run.tables_created) == ["sales", "users", "users_x_events"]
    sales = target.tables["sales"]
    assert sales.column_names == ["id", "item", "year"]
    assert sales.schema.field("year").type == pa.int64()
    assert sorted(zip(sales["id"].to_pylist(), sales["year"].to_pylist(), strict=True)) == [
        (1, 2023),
        (2, 2023),
        (3, 2024),
    ]
    assert target.properties["sales"]["crawler.partition_keys"] == "year"
    assert target.properties["users"]["classification"] == "parquet"
    assert target.tables["users_x_events"].to_pylist() == [{"kind": "click", "at": 1}]


def test_type_conflict_with_existing_table_is_a_file_error(target, state, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("id,n\n1,10\n")
    crawl(target, str(tmp_path / "t"), state=state)
    (tmp_path / "t" / "b.csv").write_text("id,n\n2,ten\n")
    (tmp_path / "t" / "c.csv").write_text("id,n\n3,30\n")
    run = crawl(target, str(tmp_path / "t"), state=state)
    assert [e.path for e in run.errors] == ["b.csv"] and "'n'" in run.errors[0].message
    assert target.tables["t"]["n"].to_pylist() == [10, 30]


def test_progress_callback_and_batches(target, state, tmp_path):
    (tmp_path / "t").mkdir()
    for i in range(4):
        (tmp_path / "t" / f"{i}.csv").write_text(f"id\n{i}\n")
    seen: list[tuple[str, int, int]] = []
    run = crawl(
        target,
        str(tmp_path / "t"),
        state=state,
        batch_bytes=1,
        progress=lambda p, d, t: seen.append((p, d, t)),
    )
    assert seen == [(f"{i}.csv", i + 1, 4) for i in range(4)]
    assert [k for _, k in target.commits].count("append") == 3  # one commit per batch
    assert run.rows_added == 4 and set(run.timings) >= {"list", "sniff", "read", "write", "total"}


class _Refusing:
    def __init__(self, target, exc) -> None:
        self._target, self._exc = target, exc

    def __getattr__(self, name):
        return getattr(self._target, name)

    def create_table(self, table, data):
        raise self._exc


def test_access_denied_stops_the_crawl_other_target_errors_fail_the_table(target, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("id\n1\n")
    state = MemoryCrawlState()
    with pytest.raises(AccessDeniedError):
        crawl(_Refusing(target, AccessDeniedError("no CREATE_TABLE")), str(tmp_path), state=state)
    assert state.list_runs()[0].state is RunState.FAILED
    run = crawl(_Refusing(target, StorageError("disk full")), str(tmp_path), state=state)
    assert run.state is RunState.FAILED and "disk full" in run.errors[0].message
    assert state.files(run.location) == {}  # nothing recorded: the next crawl retries
    assert crawl(target, str(tmp_path), state=state).rows_added == 1


def test_memory_filesystem_location(target, state):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/landing/orders/o.csv", b"id,total\n1,9.5\n2,3\n")
    try:
        run = crawl(target, "memory://landing/orders", state=state)
        assert run.location == "memory://landing/orders"
        assert target.tables["orders"]["total"].to_pylist() == [9.5, 3.0]
        assert crawl(target, "memory://landing/orders", state=state).rows_added == 0
    finally:
        fs.rm("/landing", recursive=True)


def test_derived_name_taken_by_another_table_gets_a_suffix_given_name_appends(
    target, state, landing
):
    target.create_table("credit", pa.table({"other": ["x"]}))
    run = crawl(target, str(landing), state=state)
    [name] = run.tables_created
    assert name.startswith("credit_") and len(name) == len("credit_") + 8
    assert target.tables["credit"].num_rows == 1  # untouched
    assert crawl(target, str(landing), state=state).tables_created == ()  # stable name
    named = crawl(target, str(landing), table="credit", state=MemoryCrawlState())
    assert named.tables_updated == ("credit",) and target.tables["credit"].num_rows == 501
