"""The storage lifecycle facade: what it removes, what it never removes, who may run it."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import meshlake
from meshlake.catalog.event_models import EventRow
from meshlake.catalog.models import IntentRow
from meshlake.service.intents import INTENT_PROPERTY, open_intent
from meshlake.service.lifecycle import LifecyclePolicy, parse_duration
from meshlake.service.queries import RUNNING, QueryAPI
from meshlake.storage import maintenance as mt
from meshlake.storage.iceberg import local_path

DEAD = f"{socket.gethostname()}:4194303:0"  # this host, a process that is not running
ADMIN = "p/admin"
CONTRACT = textwrap.dedent(
    """
    apiVersion: v3.1.0
    kind: DataContract
    id: loans-contract
    name: loans
    version: 1.0.0
    domain: Lending
    schema:
      - name: loans
        properties:
          - name: id
            logicalType: integer
          - name: amount
            logicalType: number
          - name: purpose
            logicalType: string
          - name: label
            logicalType: integer
    """
)
COLUMNS = {"id": "bigint", "amount": "double", "purpose": "varchar", "label": "bigint"}
#: Expire every unreferenced snapshot at once; compaction and orphans off unless asked.
EXPIRE_ALL = LifecyclePolicy(
    tables=mt.MaintenancePolicy(keep_last=1, max_snapshot_age=timedelta(0)),
    compact=False,
    remove_orphans=False,
)


def _rows(start: int, n: int) -> list[list[Any]]:
    purposes = ("car", "tv", "house")
    return [
        [i, float(100 + 7 * i % 50), purposes[i % 3], int(i % 5 < 2)]
        for i in range(start, start + n)
    ]


def _world(mesh: meshlake.Mesh, rows: int = 6) -> meshlake.Session:
    root = mesh.session("root")
    root.accounts.create("p")
    root.principals.create(ADMIN)
    root.principals.create("p/analyst")
    root.accounts.set_admins("p", [ADMIN])
    admin = mesh.session(ADMIN)
    admin.catalog.create_database("sales")
    admin.catalog.create_table("sales", "loans", COLUMNS, _rows(0, rows))
    admin.grant(ADMIN, meshlake.Table("sales", "loans"), ["SELECT"])
    return admin


def _iceberg_id(mesh: meshlake.Mesh, table: str = "loans") -> str:
    st = mesh.runtime.engine.state()
    db = st.db_by_name[("p", "sales")]
    return st.tables[st.table_by_name[(db, table)]].iceberg_id


def _at(session: meshlake.Session, snapshot: int) -> Counter[tuple[Any, ...]]:
    sql = f"SELECT * FROM sales.loans FOR VERSION AS OF {snapshot}"
    return Counter(tuple(r) for r in session.query(sql).rows())


def _files(mesh: meshlake.Mesh, table: str = "loans") -> set[str]:
    root = local_path(mesh.runtime.tables.load(_iceberg_id(mesh, table)).location())
    return {os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs}


def _changes(session: meshlake.Session, action: str) -> list[Any]:
    return [e for e in session.audit(category="change") if e.action == action]


def test_snapshot_expiry_keeps_every_referenced_snapshot(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh, rows=40)
    cat = admin.catalog
    v1 = admin.products.publish(CONTRACT, database="sales", table="loans")
    s0 = v1.snapshot_id
    assert s0 is not None
    s1 = cat.append("sales", "loans", _rows(40, 40))
    # the lineage read of a model to be trained on s1: the processing job's governed read
    # records the snapshot (a registered version's reads stay pinned: tests/ml)
    job = admin.ml.process(
        "SELECT * FROM sales.loans", target="label", output_database="ml", seed=1
    )
    assert job.inputs[0]["tables"][0]["snapshot_id"] == s1
    s2 = cat.overwrite("sales", "loans", _rows(500, 10))  # files only s2 will reach
    table = mesh.runtime.tables.load(_iceberg_id(mesh))
    s2_files = {local_path(t.file.file_path) for t in table.scan(snapshot_id=s2).plan_files()}
    s3 = cat.overwrite("sales", "loans", _rows(700, 10))
    v2 = admin.products.publish(CONTRACT, database="sales", table="loans")
    assert v2.snapshot_id == s3
    s4 = cat.append("sales", "loans", _rows(800, 5))
    s5 = cat.append("sales", "loans", _rows(900, 5))
    assert s1 and s2 and s3 and s4 and s5
    seen = {s: _at(admin, s) for s in (s0, s1, s3, s5)}
    running = QueryAPI(mesh.runtime, ADMIN)  # another process's query, reading s4 right now
    query_id, _, entry = running._begin(
        f"SELECT count(*) FROM sales.loans FOR VERSION AS OF {s4}", None, None, RUNNING
    )
    try:
        report = admin.lifecycle.run(policy=EXPIRE_ALL)
    finally:
        from meshlake.service import executions

        executions.unregister(entry)
    loans = report.table("p.sales.loans")
    table = mesh.runtime.tables.load(_iceberg_id(mesh))
    left = {s.snapshot_id for s in table.snapshots()}
    assert {s0, s1, s3, s4, s5} <= left  # product versions, the model's read, the running query
    assert s2 in loans.snapshots_expired and s2 not in left
    assert left.isdisjoint(loans.snapshots_expired)
    assert loans.snapshots_pinned[str(s0)] == "a product version"
    assert loans.snapshots_pinned[str(s1)] == f"the reads of processing job {job.id}"
    assert "running query" in loans.snapshots_pinned[str(s4)]
    for s, rows in seen.items():  # time travel on what was kept reads the same rows
        assert _at(admin, s) == rows
    with pytest.raises(meshlake.NotFoundError):
        admin.query(f"SELECT * FROM sales.loans FOR VERSION AS OF {s2}")
    assert s2_files and not any(os.path.exists(p) for p in s2_files)  # its files are gone
    assert loans.files_removed >= len(s2_files) and report.bytes_freed > 0
    event = _changes(admin, "expire_snapshots")[-1]
    assert event.resource == "table:p.sales.loans"
    assert set(event.data["after"]["snapshot_ids"]) == set(loans.snapshots_expired)
    assert _changes(admin, "lifecycle.run")[-1].data["after"]["run_id"] == report.run_id
    with mesh.runtime.store.read() as session:
        finished = session.query(EventRow).filter(EventRow.type == "lifecycle.finished").all()
    assert [e.data["run_id"] for e in finished] == [report.run_id]
    assert finished[0].data["snapshots_expired"] == len(loans.snapshots_expired)
    assert query_id


def test_compaction_preserves_rows_and_governed_results(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh, rows=3)
    for i in range(5):
        admin.catalog.append("sales", "loans", _rows(10 * (i + 1), 3))
    admin.filters.create(
        "sales", "loans", "cars", row_filter="purpose = 'car'", columns=["id", "purpose"]
    )
    admin.grant("p/analyst", meshlake.DataFilter("sales", "loans", "cars"), ["SELECT"])
    analyst = mesh.session("p/analyst")
    sql = "SELECT * FROM sales.loans"
    before_admin = Counter(tuple(r) for r in admin.query(sql).rows())
    before_analyst = Counter(tuple(r) for r in analyst.query(sql).rows())
    assert {r[1] for r in before_analyst} == {"car"} and len(next(iter(before_analyst))) == 2
    policy = LifecyclePolicy(
        tables=mt.MaintenancePolicy(compact_min_files=3), expire_snapshots=False
    )
    report = admin.lifecycle.run(policy=policy)
    compacted = report.table("p.sales.loans").compacted
    assert compacted is not None and compacted["files_before"] == 6
    assert compacted["files_after"] == 1 and compacted["rows"] == 18
    table = mesh.runtime.tables.load(_iceberg_id(mesh))
    assert len(list(table.scan().plan_files())) == 1
    assert Counter(tuple(r) for r in admin.query(sql).rows()) == before_admin
    assert Counter(tuple(r) for r in analyst.query(sql).rows()) == before_analyst
    event = _changes(admin, "compact_table")[-1]
    assert event.data["after"]["snapshot_id"] == compacted["snapshot_id"]
    with mesh.runtime.store.read() as session:
        assert all(r.state == "done" for r in session.query(IntentRow).all())


def test_orphan_removal_leaves_young_and_referenced_files(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh)
    data = Path(local_path(mesh.runtime.tables.load(_iceberg_id(mesh)).location())) / "data"
    old, young = data / "crashed-writer-old.parquet", data / "in-flight.parquet"
    for path in (old, young):
        pq.write_table(pa.table({"id": [1]}), path)
    week_ago = time.time() - 7 * 86400
    os.utime(old, (week_ago, week_ago))
    referenced = _files(mesh) - {str(old), str(young)}
    report = admin.lifecycle.run()  # the default policy: orphans older than three days
    assert report.table("p.sales.loans").orphans_removed == 1
    assert not old.exists() and young.exists()
    assert referenced <= _files(mesh)
    assert len(admin.query("SELECT * FROM sales.loans").rows()) == 6


def test_dry_run_changes_nothing(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh)
    for i in range(4):
        admin.catalog.append("sales", "loans", _rows(100 + i, 1))
    files = _files(mesh)
    snapshots = [s.snapshot_id for s in mesh.runtime.tables.load(_iceberg_id(mesh)).snapshots()]
    audit = len(admin.audit())
    policy = replace_tables(EXPIRE_ALL, compact_min_files=2)
    policy = LifecyclePolicy(tables=policy.tables)
    report = admin.lifecycle.run(dry_run=True, policy=policy)
    loans = report.table("p.sales.loans")
    assert report.dry_run and loans.compacted and len(loans.snapshots_expired) == 4
    assert report.bytes_freed > 0
    assert _files(mesh) == files
    after = [s.snapshot_id for s in mesh.runtime.tables.load(_iceberg_id(mesh)).snapshots()]
    assert after == snapshots
    assert len(admin.audit()) == audit
    assert admin.lifecycle.status().last_run is None
    done = admin.lifecycle.run(policy=policy)  # the plan was what a run does
    assert done.table("p.sales.loans").snapshots_expired[:4] == loans.snapshots_expired
    assert admin.lifecycle.status().last_run["run_id"] == done.run_id  # type: ignore[index]


def replace_tables(policy: LifecyclePolicy, **changes: Any) -> LifecyclePolicy:
    from dataclasses import replace

    return replace(policy, tables=replace(policy.tables, **changes))


def test_a_non_admin_is_refused_and_nothing_changes(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    admin.catalog.append("sales", "loans", _rows(50, 2))
    admin.grant("p/analyst", meshlake.Table("sales", "loans"), ["ALL"])
    files, audit = _files(mesh), len(admin.audit())
    analyst = mesh.session("p/analyst")
    with pytest.raises(meshlake.AccessDeniedError):
        analyst.lifecycle.run(policy=EXPIRE_ALL)
    with pytest.raises(meshlake.AccessDeniedError):
        analyst.lifecycle.status()
    assert _files(mesh) == files and len(admin.audit()) == audit
    assert len(mesh.runtime.tables.load(_iceberg_id(mesh)).snapshots()) == 2


def test_an_admin_keeps_to_its_account_and_root_sees_all(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh)
    root = mesh.session("root")
    root.accounts.create("q")
    root.principals.create("q/admin")
    root.accounts.set_admins("q", ["q/admin"])
    other = mesh.session("q/admin")
    other.catalog.create_database("hr")
    other.catalog.create_table("hr", "staff", {"id": "bigint"}, [[1]])
    other.catalog.append("hr", "staff", [[2]])
    admin.catalog.append("sales", "loans", _rows(50, 2))
    admin.grant("p/analyst", meshlake.Catalog(), ["CREATE_DATABASE"])
    analyst = mesh.session("p/analyst")  # a table the admin holds no ALTER on (rule 2)
    analyst.catalog.create_database("lab")
    analyst.catalog.create_table("lab", "x", {"id": "bigint"}, [[1]])
    analyst.catalog.append("lab", "x", [[2]])
    assert not admin.decide("ALTER", meshlake.Table("lab", "x")).allowed
    mine = admin.lifecycle.run(policy=EXPIRE_ALL)
    assert [t.table for t in mine.tables] == ["p.sales.loans", "p.lab.x"]
    assert mine.table("p.lab.x").snapshots_expired
    everything = root.lifecycle.run(policy=EXPIRE_ALL)
    assert [t.table for t in everything.tables] == ["p.sales.loans", "q.hr.staff", "p.lab.x"]
    assert everything.table("q.hr.staff").snapshots_expired


def test_results_and_job_folders_expire_after_their_retention(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh, rows=40)
    admin.queries.create_workgroup("brief", retention=timedelta(seconds=1))
    kept = admin.query("SELECT * FROM sales.loans")  # the primary workgroup: seven days
    result = admin.query("SELECT * FROM sales.loans", workgroup="brief")
    job = admin.ml.process("SELECT * FROM sales.loans", target="label", output_database="ml")
    folder = mesh.runtime.settings.jobs_dir / job.id
    assert folder.is_dir()
    soon = admin.lifecycle.run(policy=LifecyclePolicy())  # thirty days for jobs
    assert soon.jobs_expired == () and folder.is_dir()
    time.sleep(1.1)
    report = admin.lifecycle.run(policy=LifecyclePolicy(job_retention=timedelta(0)))
    assert report.results_expired == (result.query_id,) and report.jobs_expired == (job.id,)
    assert report.results_bytes > 0 and report.jobs_bytes > 0
    assert not folder.exists()
    assert len(admin.queries.result(kept.query_id).rows()) == 40  # type: ignore[arg-type]
    with pytest.raises(meshlake.ExpiredError):
        admin.queries.result(result.query_id)  # type: ignore[arg-type]
    assert admin.ml.job(job.id).state == "EXPIRED"
    with pytest.raises(meshlake.ExpiredError):  # its featurizer is gone: not trainable
        admin.ml.train(job, estimator="logistic_regression")
    again = admin.ml.process(
        "SELECT * FROM sales.loans", target="label", output_database="ml", cache=True
    )
    assert not again.cached and again.id != job.id  # no longer a cached step
    assert {e.action for e in admin.audit(category="change")} >= {
        "expire_results",
        "expire_job_files",
    }


def test_a_crash_in_the_middle_leaves_a_readable_table(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh, rows=2)
    for i in range(4):
        admin.catalog.append("sales", "loans", _rows(10 * (i + 1), 2))
    iceberg_id = _iceberg_id(mesh)
    rows = Counter(tuple(r) for r in admin.query("SELECT * FROM sales.loans").rows())

    def intent(kind: str, detail: dict[str, Any]) -> str:
        with mesh.runtime.store.transaction(bump=False) as session:
            made = open_intent(
                session, kind, iceberg_id, ADMIN, {"label": "table:p.sales.loans", **detail}
            )
            session.flush()
            session.get(IntentRow, made).owner = DEAD  # type: ignore[union-attr]
        return made

    # killed after the compaction's Iceberg commit, before its store step
    compact = intent("compact_table", {"rows": 10})
    done = mt.compact(
        mesh.runtime.tables,
        iceberg_id,
        mt.MaintenancePolicy(compact_min_files=2),
        {INTENT_PROPERTY: compact},
    )
    assert done is not None
    # killed after the expiry's commit, before deleting the files and auditing
    table = mesh.runtime.tables.load(iceberg_id)
    plan = mt.plan_expiry(table, EXPIRE_ALL.tables, mt.Pins(), datetime.now(UTC))
    expire = intent("expire_snapshots", {"snapshot_ids": list(plan.expire)})
    mt.expire_snapshots(mesh.runtime.tables, iceberg_id, lambda t: plan)
    assert admin.lifecycle.run(policy=EXPIRE_ALL).table("p.sales.loans").skipped  # in flight
    outcomes = {o.intent: o.outcome for o in mesh.repair()}
    assert outcomes == {compact: "completed", expire: "completed"}
    assert Counter(tuple(r) for r in admin.query("SELECT * FROM sales.loans").rows()) == rows
    repaired = [e for e in admin.audit() if e.data.get("repaired")]
    assert {e.action for e in repaired} == {"compact_table", "expire_snapshots"}
    # the next run removes what the killed one left: its expired snapshots' files
    policy = replace_tables(
        LifecyclePolicy(compact=False),
        keep_last=1,
        max_snapshot_age=timedelta(0),
        orphan_age=timedelta(0),
    )
    report = admin.lifecycle.run(policy=policy)
    assert report.table("p.sales.loans").orphans_removed >= 1
    assert Counter(tuple(r) for r in admin.query("SELECT * FROM sales.loans").rows()) == rows


def test_a_killed_compaction_before_its_commit_is_rolled_back(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    admin = _world(mesh, rows=2)
    iceberg_id = _iceberg_id(mesh)
    with mesh.runtime.store.transaction(bump=False) as session:
        made = open_intent(
            session, "compact_table", iceberg_id, ADMIN, {"label": "table:p.sales.loans"}
        )
        session.flush()
        session.get(IntentRow, made).owner = DEAD  # type: ignore[union-attr]
    data = Path(local_path(mesh.runtime.tables.load(iceberg_id).location())) / "data"
    written = data / "00000-0-compaction.parquet"  # written, never committed
    pq.write_table(pa.table({"id": [1]}), written)
    assert [o.outcome for o in mesh.repair()] == ["rolled_back"]
    assert not written.exists()
    assert len(admin.query("SELECT * FROM sales.loans").rows()) == 2


def test_policy_from_the_environment() -> None:
    policy = LifecyclePolicy.from_env(
        {
            "MESHLAKE_JOB_RETENTION": "7d",
            "MESHLAKE_KEEP_SNAPSHOTS": "3",
            "MESHLAKE_SNAPSHOT_MAX_AGE": "12h",
            "MESHLAKE_ORPHAN_AGE": "1d",
        }
    )
    assert policy.job_retention == timedelta(days=7) and policy.tables.keep_last == 3
    assert policy.tables.max_snapshot_age == timedelta(hours=12)
    assert policy.tables.orphan_age == timedelta(days=1)
    assert LifecyclePolicy.from_env({}) == LifecyclePolicy()
    assert parse_duration("0") == timedelta(0)
    with pytest.raises(meshlake.InvalidInputError):
        LifecyclePolicy.from_env({"MESHLAKE_KEEP_SNAPSHOTS": "many"})
    with pytest.raises(meshlake.InvalidInputError):
        parse_duration("soon")


def _maintainer(home: str, start: int, ready: Any) -> None:
    """Append a few rows, then run the lifecycle (compacting and expiring), over and over."""
    mesh = meshlake.connect(home)
    admin = mesh.session(ADMIN)
    policy = replace_tables(
        LifecyclePolicy(), keep_last=1, max_snapshot_age=timedelta(0), compact_min_files=2
    )
    for k in range(10_000):
        for j in range(3):
            admin.catalog.append("sales", "loans", _rows(start + 3 * k + j, 1))
        ready.set()
        admin.lifecycle.run(policy=policy)


def test_a_killed_lifecycle_run_leaves_every_row_readable(tmp_path: Path) -> None:
    import multiprocessing as mp
    import random
    import signal

    home = str(tmp_path / "home")
    mesh = meshlake.connect(home)
    mesh.bootstrap()
    _world(mesh, rows=0)
    mesh.close()
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["meshlake"])
    random.seed(11)
    for trial in range(3):
        ready = ctx.Event()
        proc = ctx.Process(target=_maintainer, args=(home, trial * 100_000, ready))
        proc.start()
        assert ready.wait(timeout=60), "the maintainer did not start"
        time.sleep(random.uniform(0.1, 1.5))  # somewhere in a run (or between appends)
        os.kill(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        proc.join(timeout=30)
    mesh = meshlake.connect(home)  # opening repairs
    admin = mesh.session(ADMIN)
    ids = [r[0] for r in admin.query("SELECT id FROM sales.loans").rows()]
    appended = [
        e
        for e in mesh.session("root").audit()
        if e.action == "append" and not e.data.get("repaired")
    ]
    repaired = [
        e for e in mesh.session("root").audit() if e.action == "append" and e.data.get("repaired")
    ]
    assert len(ids) == len(set(ids)) == len(appended) + sum(e.data["rows"] for e in repaired)
    actions = {e.action for e in mesh.session("root").audit()}
    assert actions & {"compact_table", "compact_table_rolled_back"}  # the runs compacted
    assert not [o for o in mesh.repair() if o.outcome != "skipped"]
    assert mesh.session("root").verify_audit().ok
    mesh.close()


def test_a_query_started_during_the_run_keeps_its_snapshot(
    sqlite_mesh: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.service import executions, lifecycle

    mesh = sqlite_mesh
    admin = _world(mesh)
    old = admin.catalog.overwrite("sales", "loans", _rows(100, 3))
    admin.catalog.overwrite("sales", "loans", _rows(200, 3))
    rows = _at(admin, old)  # type: ignore[arg-type]
    started: list[Any] = []
    gather = lifecycle.gather_pins

    def late_query(rt: Any) -> Any:
        pins = gather(rt)  # the run's references are taken; then a query starts
        sql = f"SELECT * FROM sales.loans FOR VERSION AS OF {old}"
        started.append(QueryAPI(mesh.runtime, ADMIN)._begin(sql, None, None, RUNNING)[2])
        return pins

    monkeypatch.setattr(lifecycle, "gather_pins", late_query)
    try:
        report = admin.lifecycle.run(policy=EXPIRE_ALL)
    finally:
        executions.unregister(started[0])
    loans = report.table("p.sales.loans")
    assert old not in loans.snapshots_expired and loans.snapshots_expired  # others went
    assert _at(admin, old) == rows  # type: ignore[arg-type]


def test_a_snapshot_current_a_moment_ago_is_kept_for_queries_not_recorded_yet(
    sqlite_mesh: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's quick query has no execution row for its first moments; the
    snapshot it reads was current when it started, so expiry keeps what was current within
    the last UNRECORDED_WINDOW (at most the policy's max_snapshot_age)."""
    from meshlake.service import lifecycle_tables

    assert timedelta(seconds=1) <= lifecycle_tables.UNRECORDED_WINDOW
    # a window wide enough for a loaded machine between the overwrite and the run
    age = timedelta(seconds=3)
    monkeypatch.setattr(lifecycle_tables, "UNRECORDED_WINDOW", age)
    mesh = sqlite_mesh
    admin = _world(mesh)
    old = admin.catalog.overwrite("sales", "loans", _rows(100, 3))
    rows = _at(admin, old)  # type: ignore[arg-type]
    time.sleep(age.total_seconds() + 0.2)  # old is now older than the policy's age
    admin.catalog.overwrite("sales", "loans", _rows(200, 3))  # old stops being current
    replaced = time.monotonic()
    policy = LifecyclePolicy(
        tables=mt.MaintenancePolicy(keep_last=1, max_snapshot_age=age),
        compact=False,
        remove_orphans=False,
    )
    first = admin.lifecycle.run(policy=policy).table("p.sales.loans")
    assert time.monotonic() - replaced < age.total_seconds(), "too slow to tell"
    assert old not in first.snapshots_expired  # current less than the window ago
    assert _at(admin, old) == rows  # type: ignore[arg-type]
    time.sleep(age.total_seconds() + 0.2)
    second = admin.lifecycle.run(policy=policy).table("p.sales.loans")
    assert old in second.snapshots_expired
