"""Workgroup query limits, execution states, and cancelling queries (Athena's controls)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import meshlake

# A cross join of a 3,000-row table with itself twice: 2.7e10 rows, far longer than any test.
ENDLESS = "SELECT sum(a.id * b.id + c.id) AS s FROM big.t AS a, big.t AS b, big.t AS c"


@pytest.fixture
def world(mesh: meshlake.Mesh) -> meshlake.Mesh:
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.accounts.create("q")
    for p in ("p/admin", "p/u", "p/v", "q/admin"):
        root.principals.create(p)
    root.accounts.set_admins("p", ["p/admin"])
    root.accounts.set_admins("q", ["q/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("big")
    admin.catalog.create_table("big", "t", {"id": "bigint"}, [[i] for i in range(3000)])
    for who in ("p/u", "p/v"):
        admin.grant(who, meshlake.Table("big", "t"), ["SELECT"])
    return mesh


def _result_files(mesh: meshlake.Mesh) -> list[Path]:
    return list(Path(mesh.runtime.settings.results_dir).rglob("*.parquet"))


def _reads(mesh: meshlake.Mesh, query_id: str) -> list[dict[str, object]]:
    events = mesh.session("p/admin").audit(category="read")
    return [e.to_dict() for e in events if e.to_dict().get("query_id") == query_id]


def _wait_running(u: meshlake.Session, query_id: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if u.queries.get(query_id).state == "RUNNING":
                return
        except meshlake.NotFoundError:  # the other thread has not recorded it yet
            pass
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.01)


def test_limits_are_set_at_creation_and_changed_by_admins(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    wg = admin.queries.create_workgroup(
        "etl", max_runtime_s=60, memory_limit="512MB", max_bytes_scanned=10**9
    )
    assert (wg.max_runtime_s, wg.memory_limit, wg.max_bytes_scanned) == (60, "512MB", 10**9)
    assert admin.queries.workgroup("primary").max_runtime_s == 300  # the default
    changed = admin.queries.update_workgroup("etl", max_runtime_s=5, memory_limit=None)
    assert (changed.max_runtime_s, changed.memory_limit, changed.max_bytes_scanned) == (
        5,
        None,
        10**9,
    )
    assert admin.queries.workgroup("etl") == changed
    with pytest.raises(meshlake.AccessDeniedError):
        world.session("p/u").queries.update_workgroup("etl", max_runtime_s=600)
    for bad in ({"max_runtime_s": 0}, {"memory_limit": "lots"}, {"max_bytes_scanned": -1}):
        with pytest.raises(meshlake.InvalidInputError):
            admin.queries.update_workgroup("etl", **bad)  # type: ignore[arg-type]
    assert admin.queries.workgroup("etl") == changed  # refused changes changed nothing
    actions = [e.action for e in admin.audit(category="change")]
    assert "update_workgroup" in actions


def test_a_query_over_max_runtime_fails_with_a_timeout_and_leaves_no_result(
    world: meshlake.Mesh,
) -> None:
    world.session("p/admin").queries.create_workgroup("short", max_runtime_s=1)
    u = world.session("p/u")
    start = time.monotonic()
    with pytest.raises(meshlake.QueryTimeoutError, match="max_runtime_s"):
        u.query(ENDLESS, workgroup="short", query_id="q-timeout")
    assert time.monotonic() - start < 15
    ex = u.queries.get("q-timeout")
    assert ex.state == "FAILED" and (ex.error or "").startswith("query_timeout")
    assert ex.result_path is None and ex.finished_at is not None
    assert not _result_files(world)
    (event,) = _reads(world, "q-timeout")
    assert event["rows"] == 0 and event["table"] == "big.t" and event["state"] == "FAILED"


def test_cancel_from_another_thread_ends_cancelled_with_reads_audited(
    world: meshlake.Mesh,
) -> None:
    u = world.session("p/u")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            u.query(ENDLESS, query_id="q-cancel")
        except meshlake.MeshError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    _wait_running(u, "q-cancel")
    time.sleep(0.2)  # let the engine start
    seen = world.session("p/admin").queries.get("q-cancel")
    assert seen.state == "RUNNING" and seen.finished_at is None  # visible while running
    u.queries.cancel("q-cancel")
    runner.join(15)
    assert not runner.is_alive()
    assert isinstance(outcome[0], meshlake.QueryCancelledError)
    ex = u.queries.get("q-cancel")
    assert ex.state == "CANCELLED" and ex.cancel_requested_by == "p/u"
    assert ex.tables[0]["table"] == "big.t" and ex.bytes_scanned > 0
    assert not _result_files(world)
    (event,) = _reads(world, "q-cancel")
    assert event["rows"] == 0 and event["state"] == "CANCELLED"
    with pytest.raises(meshlake.NotFoundError, match="no result"):
        u.queries.result("q-cancel")


def test_start_wait_and_cancel_by_an_admin(world: meshlake.Mesh) -> None:
    u = world.session("p/u")
    done = u.queries.start("SELECT count(*) AS n FROM big.t")
    assert done.state in ("QUEUED", "RUNNING", "SUCCEEDED")
    finished = u.queries.wait(done.query_id, timeout=30)
    assert finished.state == "SUCCEEDED" and finished.bytes_scanned > 0
    assert u.queries.result(done.query_id).rows() == [(3000,)]
    assert u.queries.cancel(done.query_id).state == "SUCCEEDED"  # finished: left as it is

    slow = u.queries.start(ENDLESS)
    _wait_running(u, slow.query_id)
    world.session("p/admin").queries.cancel(slow.query_id)
    ex = u.queries.wait(slow.query_id, timeout=30)
    assert ex.state == "CANCELLED" and ex.cancel_requested_by == "p/admin"
    assert "cancelled by p/admin" in (ex.error or "")


def test_who_may_cancel(world: meshlake.Mesh) -> None:
    u = world.session("p/u")
    slow = u.queries.start(ENDLESS)
    try:
        with pytest.raises(meshlake.AccessDeniedError):
            world.session("p/v").queries.cancel(slow.query_id)  # same account, not admin
        with pytest.raises(meshlake.NotFoundError):
            world.session("q/admin").queries.cancel(slow.query_id)  # another account
        with pytest.raises(meshlake.NotFoundError):
            u.queries.cancel("no-such-query")
        assert u.queries.get(slow.query_id).state in ("QUEUED", "RUNNING")
    finally:
        world.session("root").queries.cancel(slow.query_id)  # the mesh root may
    assert u.queries.wait(slow.query_id, timeout=30).state == "CANCELLED"


def test_a_cancel_recorded_by_another_process_stops_the_query(world: meshlake.Mesh) -> None:
    """Another process can only write the request to the store; the watchdog polls it."""
    from sqlalchemy import update

    from meshlake.catalog.models import QueryExecutionRow

    u = world.session("p/u")
    slow = u.queries.start(ENDLESS)
    _wait_running(u, slow.query_id)
    with world.runtime.store.transaction(bump=False) as session:
        session.execute(
            update(QueryExecutionRow)
            .where(QueryExecutionRow.id == slow.query_id)
            .values(cancel_requested_by="p/admin")
        )
    ex = u.queries.wait(slow.query_id, timeout=30)
    assert ex.state == "CANCELLED" and "p/admin" in (ex.error or "")


def test_a_bytes_scanned_limit_refuses_a_big_scan_before_running(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    admin.queries.create_workgroup("tiny", max_bytes_scanned=100)
    u = world.session("p/u")
    before = len(admin.audit(category="read"))
    with pytest.raises(meshlake.QueryLimitError, match="max_bytes_scanned") as info:
        u.query(ENDLESS, workgroup="tiny", query_id="q-big")  # would run for hours
    assert info.value.details["bytes_scanned"] > 100
    ex = u.queries.get("q-big")
    assert ex.state == "FAILED" and ex.error and ex.error.startswith("query_limit")
    assert ex.bytes_scanned > 100 and not _result_files(world)
    assert len(admin.audit(category="read")) == before  # nothing was read
    result = u.query("SELECT count(*) AS n FROM big.t")  # the primary workgroup: no limit
    assert u.queries.get(result.query_id or "").bytes_scanned == ex.bytes_scanned  # one table


def test_a_memory_limit_is_applied(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    admin.queries.create_workgroup("lean", memory_limit="1MB")
    u = world.session("p/u")
    heavy = "SELECT list(a.id * b.id) AS l FROM big.t AS a, big.t AS b"  # 9M values in a list
    with pytest.raises(meshlake.InvalidQueryError, match="more memory"):
        u.query(heavy, workgroup="lean", query_id="q-mem")
    assert u.queries.get("q-mem").state == "FAILED"
    admin.queries.update_workgroup("lean", memory_limit="1GB")
    assert len(u.query(heavy, workgroup="lean").rows()[0][0]) == 9_000_000


def test_a_query_id_is_used_once(world: meshlake.Mesh) -> None:
    u = world.session("p/u")
    u.query("SELECT 1 AS x FROM big.t LIMIT 1", query_id="mine-1")
    with pytest.raises(meshlake.ConflictError):
        u.query("SELECT 1 AS x FROM big.t LIMIT 1", query_id="mine-1")
    with pytest.raises(meshlake.InvalidInputError):
        u.query("SELECT 1 AS x FROM big.t LIMIT 1", query_id="../../etc")


def _store_rows(mesh: meshlake.Mesh) -> list[tuple[str, str]]:
    """(id, state) of every recorded execution, read as another process would."""
    from sqlalchemy import select

    from meshlake.catalog.models import QueryExecutionRow

    with mesh.runtime.store.read() as session:
        return [
            (r.id, r.state)
            for r in session.execute(select(QueryExecutionRow.id, QueryExecutionRow.state))
        ]


def test_a_query_without_an_id_is_recorded_once_it_has_run_a_while(world: meshlake.Mesh) -> None:
    """Nobody can name it before: its RUNNING row appears after RECORD_AFTER_S, so another
    process sees (and can cancel) a long query while a quick one commits a single row."""
    u = world.session("p/u")
    before = set(_store_rows(world))
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            u.query(ENDLESS)
        except meshlake.MeshError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 20
    while not (new := set(_store_rows(world)) - before):
        assert time.monotonic() < deadline, "the long query was never recorded"
        time.sleep(0.02)
    ((query_id, state),) = new
    assert state == "RUNNING"
    world.session("p/admin").queries.cancel(query_id)
    runner.join(15)
    assert isinstance(outcome[0], meshlake.QueryCancelledError)
    assert set(_store_rows(world)) - before == {(query_id, "CANCELLED")}


def test_an_unrecorded_query_is_visible_and_cancellable_in_its_process(
    world: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.service import executions

    monkeypatch.setattr(executions, "RECORD_AFTER_S", 3600.0)  # never recorded while running
    u = world.session("p/u")
    before = set(_store_rows(world))
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            u.query(ENDLESS)
        except meshlake.MeshError as exc:
            outcome.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 20
    while not (running := [ex for ex in u.queries.list() if ex.state == "RUNNING"]):
        assert time.monotonic() < deadline, "the query never showed up"
        time.sleep(0.01)
    (ex,) = running
    entry = executions.running(ex.query_id)
    assert entry is not None
    while not entry.control.executing:  # listed from its start, reading once it executes
        assert time.monotonic() < deadline, "the query never started executing"
        time.sleep(0.01)
    assert u.queries.get(ex.query_id).sql == ENDLESS
    assert world.session("p/admin").queries.get(ex.query_id).state == "RUNNING"
    with pytest.raises(meshlake.NotFoundError):
        world.session("q/admin").queries.get(ex.query_id)  # another account
    assert set(_store_rows(world)) == before  # not written yet
    u.queries.cancel(ex.query_id)
    runner.join(15)
    assert isinstance(outcome[0], meshlake.QueryCancelledError)
    assert set(_store_rows(world)) - before == {(ex.query_id, "CANCELLED")}
    (event,) = _reads(world, ex.query_id)
    assert event["state"] == "CANCELLED"


def test_a_quick_query_writes_one_execution_row(
    world: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event

    from meshlake.service import executions

    # "quick" = done before its RUNNING row is due; a loaded machine may take 0.25 s
    monkeypatch.setattr(executions, "RECORD_AFTER_S", 60.0)

    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "ml_query_executions" in statement:
            statements.append(statement.split()[0].upper())

    engine = world.runtime.store.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        rows = world.session("p/u").query("SELECT count(*) AS n FROM big.t").rows()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert rows == [(3000,)]
    assert statements == ["INSERT"]  # the outcome, whole: no RUNNING row, no update


def test_executions_left_by_a_gone_process_are_ended_by_the_sweep(world: meshlake.Mesh) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from meshlake.catalog.models import QueryExecutionRow

    long_ago = datetime.now(UTC) - timedelta(seconds=300 + 121)
    recent = datetime.now(UTC) - timedelta(seconds=10)
    with world.runtime.store.transaction(bump=False) as session:
        for query_id, state, submitted in (
            ("gone-running", "RUNNING", long_ago),
            ("gone-queued", "QUEUED", long_ago),
            ("young", "RUNNING", recent),
        ):
            session.execute(
                insert(QueryExecutionRow).values(
                    id=query_id,
                    principal="p/u",
                    account="p",
                    workgroup="primary",
                    sql="SELECT 1",
                    state=state,
                    tables=[],
                    rows=0,
                    bytes=0,
                    timings={},
                    submitted_at=submitted,
                )
            )
    u = world.session("p/u")
    u.queries.workgroup()  # the primary workgroup exists (max_runtime_s 300)
    u.queries.sweep()
    assert u.queries.get("gone-running").state == "FAILED"
    assert "abandoned" in (u.queries.get("gone-queued").error or "")
    assert u.queries.get("young").state == "RUNNING"  # may still be running elsewhere


@pytest.mark.parametrize("order", ["running_first", "outcome_first"])
def test_the_lazy_running_row_and_the_outcome_agree_in_either_order(
    world: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """The RUNNING row's background write and the outcome race without a lock between them:
    whichever commits first, the outcome stands (and the finishing thread, which holds the
    store's write lock, never waits for the background writer)."""
    from meshlake.service import executions

    monkeypatch.setattr(executions, "RECORD_AFTER_S", 3600.0)
    u = world.session("p/u")
    captured: list[executions.RunningQuery] = []
    real_register = executions.register

    def register(entry: executions.RunningQuery) -> None:
        captured.append(entry)
        if order == "running_first":
            entry.record_running()  # the background write lands before the outcome
        real_register(entry)

    monkeypatch.setattr(executions, "register", register)
    result = u.query("SELECT count(*) AS n FROM big.t")
    (entry,) = captured
    if order == "outcome_first":
        entry._final = False  # a background write that started before the outcome's claim
        entry.record_running()
    assert result.rows() == [(3000,)]
    ex = u.queries.get(entry.query_id)
    assert ex.state == "SUCCEEDED" and ex.rows == 1
    assert u.queries.result(entry.query_id).rows() == [(3000,)]


def test_finishing_while_the_running_row_waits_for_the_store_lock_does_not_deadlock(
    world: meshlake.Mesh,
) -> None:
    """The finishing thread holds the store's write lock when it writes the outcome; the
    background writer of the RUNNING row waits for that lock. Neither may wait for the
    other."""
    from datetime import UTC, datetime

    from meshlake.query.control import QueryControl
    from meshlake.service import executions

    api = world.session("p/u").queries
    entry = executions.RunningQuery(
        "race-1", QueryControl(), world.runtime.store, time.monotonic() + 60, RuntimeError
    )
    entry.pending = {
        "id": "race-1", "principal": "p/u", "account": "p", "workgroup": "primary",
        "sql": "SELECT 1", "state": "RUNNING", "error": None, "tables": [], "rows": 0,
        "bytes": 0, "bytes_scanned": 0, "timings": {}, "result_path": None,
        "submitted_at": datetime.now(UTC), "finished_at": None, "expires_at": None,
    }  # fmt: skip
    entry.record = api._record_running
    done = threading.Event()

    def finish() -> None:
        with world.runtime.store.transaction(bump=False) as session:
            session.connection()  # the write lock is held from here
            writer = threading.Thread(target=entry.record_running)
            writer.start()
            time.sleep(0.2)  # the writer now waits for the store's lock
            api._write_outcome(session, entry, {"state": "FAILED", "error": "x: y"})
        writer.join(10)
        done.set()

    runner = threading.Thread(target=finish, daemon=True)
    runner.start()
    assert done.wait(20), "the outcome and the RUNNING row deadlocked"
    ex = api.get("race-1")
    assert ex.state == "FAILED"  # the late RUNNING row did not overwrite the outcome
