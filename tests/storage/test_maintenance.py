"""Iceberg maintenance mechanics: compaction, snapshot expiry, orphan files."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table as IcebergTable

from meshlake.errors import InvalidInputError
from meshlake.storage import maintenance as mt
from meshlake.storage.iceberg import TableStore, local_path

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
ALL = mt.MaintenancePolicy(keep_last=1, max_snapshot_age=timedelta(0))


def _rows(ids: range) -> pa.Table:
    return pa.table(
        {"id": pa.array(list(ids), pa.int64()), "name": [f"n{i}" for i in ids]}, schema=SCHEMA
    )


@pytest.fixture
def tables(tmp_path: Path) -> TableStore:
    return TableStore(f"sqlite:///{tmp_path / 'catalog.db'}", (tmp_path / "wh").as_uri())


def _table(tables: TableStore, tmp_path: Path, appends: int = 4) -> tuple[str, list[int]]:
    """A table created with rows 0..9, then ``appends`` appends of 10 rows each."""
    iceberg_id, table = tables.create(
        "db1", "t", SCHEMA, (tmp_path / "wh" / "t").as_uri(), _rows(range(10))
    )
    snaps = [table.current_snapshot().snapshot_id]  # type: ignore[union-attr]
    for i in range(1, appends + 1):
        snap = tables.append(iceberg_id, _rows(range(10 * i, 10 * i + 10)))
        assert snap is not None
        snaps.append(snap)
    return iceberg_id, snaps


def _read(table: IcebergTable, snapshot_id: int | None = None) -> Counter[tuple[int, str]]:
    rows = table.scan(snapshot_id=snapshot_id).to_arrow().to_pylist()
    return Counter((r["id"], r["name"]) for r in rows)


def test_compaction_rewrites_small_files_into_one_commit_with_the_same_rows(
    tables: TableStore, tmp_path: Path
) -> None:
    iceberg_id, snaps = _table(tables, tmp_path, appends=5)
    before = tables.load(iceberg_id)
    rows_before = _read(before)
    assert len(list(before.scan().plan_files())) == 6
    policy = mt.MaintenancePolicy(compact_min_files=3)
    done = mt.compact(tables, iceberg_id, policy, {"meshlake.intent": "x"})
    assert done is not None and done.files_before == 6 and done.files_after == 1
    assert done.rows == 60
    after = tables.load(iceberg_id)
    assert _read(after) == rows_before  # exactly the same rows
    assert len(list(after.scan().plan_files())) == 1
    current = after.current_snapshot()
    assert current is not None and current.snapshot_id == done.snapshot_id
    assert current.parent_snapshot_id == snaps[-1]  # one commit on top of the last
    assert current.summary is not None
    assert current.summary.operation.value == "overwrite"
    assert current.summary["meshlake.intent"] == "x"
    assert current.summary[mt.LIFECYCLE_PROPERTY] == "compaction"
    assert _read(after, snaps[2]) == Counter((i, f"n{i}") for i in range(30))  # history intact
    assert mt.compact(tables, iceberg_id, policy, {}) is None  # nothing left to compact


def test_compaction_leaves_large_files_and_small_tables_alone(
    tables: TableStore, tmp_path: Path
) -> None:
    iceberg_id, _ = _table(tables, tmp_path, appends=3)
    table = tables.load(iceberg_id)
    assert mt.plan_compaction(table, mt.MaintenancePolicy(compact_min_files=4)) is None
    assert mt.plan_compaction(table, mt.MaintenancePolicy(small_file_bytes=1)) is None
    planned = mt.plan_compaction(table, mt.MaintenancePolicy(compact_min_files=3))
    assert planned is not None and planned.files_before == 4 and planned.snapshot_id is None


def test_expiry_keeps_the_newest_the_young_and_the_pinned(
    tables: TableStore, tmp_path: Path
) -> None:
    iceberg_id, snaps = _table(tables, tmp_path, appends=4)
    table = tables.load(iceberg_id)
    now = datetime.now(UTC)
    plan = mt.plan_expiry(table, ALL, mt.Pins(), now)
    assert plan.expire == tuple(snaps[:-1]) and plan.retain == (snaps[-1],)
    keep2 = mt.plan_expiry(
        table, mt.MaintenancePolicy(keep_last=2, max_snapshot_age=timedelta(0)), mt.Pins(), now
    )
    assert keep2.expire == tuple(snaps[:-2])
    young = mt.plan_expiry(table, mt.MaintenancePolicy(keep_last=1), mt.Pins(), now)
    assert young.expire == ()  # all younger than five days
    pins = mt.Pins(frozenset({snaps[1]}), reasons={snaps[1]: "a product version"})
    pinned = mt.plan_expiry(table, ALL, pins, now)
    assert snaps[1] not in pinned.expire and pinned.pinned == {snaps[1]: "a product version"}
    chained = mt.plan_expiry(
        table,
        ALL,
        mt.Pins(frozenset({snaps[3]}), chains=frozenset({snaps[3]}), anchors=frozenset({snaps[1]})),
        now,
    )
    assert chained.expire == (snaps[0],)  # snaps[3] back to its anchor snaps[1]
    no_anchor = mt.plan_expiry(
        table, ALL, mt.Pins(frozenset({snaps[3]}), chains=frozenset({snaps[3]})), now
    )
    assert no_anchor.expire == (snaps[0], snaps[1], snaps[2])


def test_running_query_pins_what_it_may_read(tables: TableStore, tmp_path: Path) -> None:
    iceberg_id, snaps = _table(tables, tmp_path, appends=3)
    table = tables.load(iceberg_id)
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    submitted = datetime.fromtimestamp(by_id[snaps[1]].timestamp_ms / 1000 + 0.0005, UTC)
    plan = mt.plan_expiry(table, ALL, mt.Pins(since=submitted), datetime.now(UTC))
    assert plan.expire == (snaps[0],)  # the one current at submission and every later one
    travel = datetime.fromtimestamp(by_id[snaps[0]].timestamp_ms / 1000, UTC)
    plan = mt.plan_expiry(table, ALL, mt.Pins(as_of=(travel,)), datetime.now(UTC))
    assert plan.expire == (snaps[1], snaps[2])


def test_expiry_commits_through_pyiceberg_and_frees_only_unreached_files(
    tables: TableStore, tmp_path: Path
) -> None:
    iceberg_id, table = tables.create(
        "db1", "t", SCHEMA, (tmp_path / "wh" / "t").as_uri(), _rows(range(10))
    )
    first = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    replaced = tables.overwrite(iceberg_id, _rows(range(100, 105)))  # first's file unreached
    assert replaced is not None
    tables.append(iceberg_id, _rows(range(200, 203)))
    table = tables.load(iceberg_id)
    current = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
    old_files = {local_path(t.file.file_path) for t in table.scan(snapshot_id=first).plan_files()}
    pins = mt.Pins(frozenset({replaced}))
    done = mt.expire_snapshots(
        tables, iceberg_id, lambda t: mt.plan_expiry(t, ALL, pins, datetime.now(UTC))
    )
    # first, and the delete snapshot pyiceberg's overwrite commits before its append
    expected = {s.snapshot_id for s in table.snapshots()} - {replaced, current}
    assert first in expected and set(done.expire) == expected
    assert old_files <= set(done.files)  # the overwritten data file, only first reached it
    removed, freed = mt.delete_files(done.files, table.location())
    assert removed == len(done.files) and freed > 0
    assert not any(os.path.exists(p) for p in old_files)
    after = tables.load(iceberg_id)
    assert {s.snapshot_id for s in after.snapshots()} == {replaced, current}
    assert after.snapshot_by_id(first) is None  # gone from the metadata
    assert _read(after, replaced) == Counter((i, f"n{i}") for i in range(100, 105))
    assert len(_read(after)) == 8


def test_delete_files_never_leaves_the_table_folder(tmp_path: Path) -> None:
    outside = tmp_path / "precious.parquet"
    outside.write_bytes(b"x")
    inside = tmp_path / "t" / "data" / "a.parquet"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"yy")
    assert mt.delete_files([str(outside), str(inside)], (tmp_path / "t").as_uri()) == (1, 2)
    assert outside.exists() and not inside.exists()


def test_orphans_are_old_unreached_files_only(tables: TableStore, tmp_path: Path) -> None:
    iceberg_id, _ = _table(tables, tmp_path, appends=1)
    table = tables.load(iceberg_id)
    data = Path(local_path(table.location())) / "data"
    old, young = data / "old-orphan.parquet", data / "young-orphan.parquet"
    for path in (old, young):
        pq.write_table(_rows(range(3)), path)
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    reachable = mt.reachable_files(table, [s.snapshot_id for s in table.snapshots()])
    found = mt.orphan_files(table, reachable, datetime.now(UTC) - timedelta(minutes=10))
    assert set(found) == {str(old)}  # not the young one, nor any referenced file
    metadata = Path(local_path(table.metadata_location))
    assert str(metadata) not in mt.orphan_files(table, reachable, datetime.now(UTC) + timedelta(1))


def test_policy_reads_the_tables_iceberg_properties() -> None:
    policy = mt.MaintenancePolicy().for_table(
        {mt.MIN_SNAPSHOTS_TO_KEEP: "4", mt.MAX_SNAPSHOT_AGE_MS: "60000"}
    )
    assert policy.keep_last == 4 and policy.max_snapshot_age == timedelta(minutes=1)
    assert (
        mt.MaintenancePolicy().for_table({mt.MIN_SNAPSHOTS_TO_KEEP: "x"}) == mt.MaintenancePolicy()
    )
    with pytest.raises(InvalidInputError):
        mt.MaintenancePolicy(keep_last=0)


def test_compaction_loses_no_row_to_a_concurrent_append(
    tables: TableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iceberg_id, _ = _table(tables, tmp_path, appends=3)
    other = TableStore(tables.catalog_url, tables.warehouse)  # another writer
    raced: list[int | None] = []

    class RacedScan(mt.ArrowScan):  # type: ignore[misc]
        def to_table(self, tasks):  # type: ignore[no-untyped-def]
            if not raced:  # between the compaction's read and its commit
                raced.append(other.append(iceberg_id, _rows(range(900, 905))))
            return super().to_table(tasks)

    monkeypatch.setattr(mt, "ArrowScan", RacedScan)
    done = mt.compact(tables, iceberg_id, mt.MaintenancePolicy(compact_min_files=3), {})
    assert raced[0] is not None and done is not None
    assert done.files_before == 5 and done.rows == 45  # planned again, with the new file
    expected = Counter((i, f"n{i}") for i in [*range(40), *range(900, 905)])
    table = tables.load(iceberg_id)
    assert _read(table) == expected
    current = table.current_snapshot()
    assert current is not None and current.parent_snapshot_id == raced[0]
    # the lost attempt's files were never committed: orphans for the lifecycle to remove
    reachable = mt.reachable_files(table, [s.snapshot_id for s in table.snapshots()])
    assert mt.orphan_files(table, reachable, datetime.now(UTC) + timedelta(days=1))


def test_a_writers_overwrite_racing_a_compaction_succeeds(
    tables: TableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.storage import iceberg

    iceberg_id, _ = _table(tables, tmp_path, appends=3)
    compactor = TableStore(tables.catalog_url, tables.warehouse)
    fit, raced = iceberg._fit, []

    def racing_fit(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not raced:  # the compaction commits while the overwrite is on its way
            raced.append(
                mt.compact(compactor, iceberg_id, mt.MaintenancePolicy(compact_min_files=3), {})
            )
        return fit(*args, **kwargs)

    monkeypatch.setattr(iceberg, "_fit", racing_fit)
    tables.overwrite(iceberg_id, _rows(range(500, 503)))  # pyiceberg refuses it once: retried
    assert raced[0] is not None
    assert _read(tables.load(iceberg_id)) == Counter((i, f"n{i}") for i in range(500, 503))
