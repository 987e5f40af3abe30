"""How trigger runs happen: in the embedded after-commit runner (once per trigger and event,
even with a worker running beside it), with conditions beyond equality, and retried with
backoff until they fail for good (then listed and re-runnable by hand)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.events.conftest import setup_accounts
from tests.events.test_outbox import CONTRACT
from tests.events.test_triggers import _orders

import meshlake
from meshlake.catalog.event_models import EventRow, TriggerRunRow
from meshlake.errors import AccessDeniedError, InvalidInputError, NotFoundError
from meshlake.events.triggers import TriggerRunner
from meshlake.service.events import DISPATCH_ENV, make_can_see
from meshlake.service.triggers import run_action, trigger_runner


def _publish(owner: meshlake.Session, shift: float, seed: int) -> int:
    if seed == 1:
        owner.catalog.create_table("sales", "orders", data=_orders(shift, seed))
    else:
        owner.catalog.overwrite("sales", "orders", data=_orders(shift, seed))
    return owner.products.publish(CONTRACT.format(quality=""), database="sales").version


def _count(mesh: meshlake.Mesh, type_: str) -> int:
    with mesh.runtime.store.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(EventRow).where(EventRow.type == type_))
            or 0
        )


def test_embedded_runner_fires_after_commit_once_beside_a_worker(
    mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and PostgreSQL (claims: a unique row; retries: a conditional update)."""
    monkeypatch.setenv(DISPATCH_ENV, "embedded")
    owner = setup_accounts(mesh)["owner"]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "part1.csv").write_text("id,name\n1,a\n")
    _publish(owner, 0.0, 1)
    triggers = owner.events.triggers
    triggers.create(
        "recrawl",
        on="product.*",
        where="product = 'orders' AND data.version >= 2 AND type != 'schema.changed'",
        do="recrawl",
        params={"location": str(landing), "database": "sales", "table": "landing"},
    )
    _publish(owner, 0.0, 2)  # nobody calls run(): the after-commit runner does
    assert triggers.settle(timeout_s=60)
    (run,) = triggers.runs()
    assert run["state"] == "succeeded", run["error"]
    assert owner.catalog.get_table("sales", "landing").column_names == ["id", "name"]

    # a worker (another runner, as another process would have) races the embedded one
    rt = mesh.runtime
    worker = TriggerRunner(rt.store, make_can_see(rt), lambda call: run_action(rt, call))
    stop = threading.Event()
    made: list[int] = []

    def work() -> None:
        while not stop.is_set():
            made.append(worker.run_once())
            time.sleep(0.01)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        for seed in range(3, 7):
            _publish(owner, 0.0, seed)
        assert triggers.settle(timeout_s=120)
    finally:
        stop.set()
        thread.join()
    runs = triggers.runs("recrawl")
    assert len(runs) == 5 and all(r["state"] == "succeeded" for r in runs)
    assert len({r["event_position"] for r in runs}) == 5  # one run per event
    assert _count(mesh, "crawl.finished") == 5  # each action ran exactly once
    assert triggers.run() == 0


def test_where_conditions_choose_the_events(sqlite_mesh: meshlake.Mesh, tmp_path: Path) -> None:
    mesh = sqlite_mesh
    s = setup_accounts(mesh)
    owner = s["owner"]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text("id\n1\n")
    _publish(owner, 0.0, 1)
    triggers = owner.events.triggers
    for bad in ("version > 2", "data.version > ", "upper(product) = 'ORDERS'", "1; select 1"):
        with pytest.raises(InvalidInputError):
            triggers.create(
                "bad", on="product.updated", where=bad, do="pipeline", params={"pipeline": {}}
            )
    assert triggers.list() == []
    triggers.create(
        "odd",
        on="product.updated",
        where="product IN ('orders', 'x') AND (data.version = 3 OR data.version = 5)",
        do="recrawl",
        params={"location": str(landing), "database": "sales", "table": "odd"},
    )
    listed = triggers.list()[0]
    assert listed.where.startswith("product IN") and listed.owner == "central/admin"
    for seed in range(2, 6):
        _publish(owner, 0.0, seed)
    assert triggers.run() == 2
    fired = [r["event_position"] for r in triggers.runs("odd")]
    with mesh.runtime.store.read() as session:
        versions = [session.get(EventRow, pk).data["version"] for pk in fired]  # type: ignore[union-attr]
    assert versions == [3, 5]
    with pytest.raises(InvalidInputError):  # run_as outside the account
        triggers.create(
            "x", on="*", do="pipeline", params={"pipeline": {}}, run_as="consumer/analyst"
        )
    with pytest.raises(AccessDeniedError):
        s["analyst"].events.triggers.create(
            "y", on="*", where="TRUE", do="pipeline", params={"pipeline": {}}
        )


def test_failed_runs_are_retried_with_backoff_then_failed_and_rerun(
    sqlite_mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    mesh = sqlite_mesh
    s = setup_accounts(mesh)
    owner = s["owner"]
    runner = trigger_runner(mesh.runtime, base_delay_s=0.02, max_attempts=3)
    landing = tmp_path / "not-yet"
    _publish(owner, 0.0, 1)
    triggers = owner.events.triggers
    triggers.create(
        "recrawl",
        on="product.updated",
        do="recrawl",
        params={"location": str(landing), "database": "sales", "table": "late"},
    )
    _publish(owner, 0.0, 2)
    # the first attempt; full jitter may make its first retry due at once (same call)
    assert runner.run_once() in (1, 2)
    (run,) = triggers.runs()
    assert run["state"] == "retrying" and run["attempts"] in (1, 2) and run["error"]
    deadline = time.monotonic() + 30
    while triggers.runs()[0]["state"] == "retrying" and time.monotonic() < deadline:
        triggers.run()
        time.sleep(0.01)
    (run,) = triggers.runs()
    assert run["state"] == "failed" and run["attempts"] == 3
    assert [r["id"] for r in triggers.failed()] == [run["id"]]
    assert triggers.runs(state="retrying") == []
    with pytest.raises(AccessDeniedError):
        s["analyst"].events.triggers.rerun(run["id"])
    with pytest.raises(NotFoundError):
        s["consumer"].events.triggers.rerun(run["id"])  # not a run of its account
    landing.mkdir()
    (landing / "late.csv").write_text("id\n1\n")
    again = triggers.rerun(run["id"])
    assert again["state"] == "succeeded" and again["attempts"] == 1, again["error"]
    assert owner.catalog.get_table("sales", "late").column_names == ["id"]
    assert triggers.failed() == []
    with pytest.raises(NotFoundError):  # only failed runs are re-run
        triggers.rerun(run["id"])
    with mesh.runtime.store.read() as session:
        assert session.scalar(select(func.count()).select_from(TriggerRunRow)) == 1


def test_backoff_schedule_is_bounded(sqlite_mesh: meshlake.Mesh, tmp_path: Path) -> None:
    mesh = sqlite_mesh
    owner = setup_accounts(mesh)["owner"]
    runner = trigger_runner(mesh.runtime, base_delay_s=600.0, max_delay_s=900.0, max_attempts=4)
    _publish(owner, 0.0, 1)
    owner.events.triggers.create(
        "recrawl",
        on="product.updated",
        do="recrawl",
        params={"location": str(tmp_path / "missing"), "database": "sales"},
    )
    _publish(owner, 0.0, 2)
    before = time.time()
    runner.run_once()
    (run,) = owner.events.triggers.runs()
    assert run["state"] == "retrying"
    wait = run["next_attempt_at"].timestamp() - before
    assert -0.5 <= wait <= 600.0 + 2  # uniform(0, base * 2**0), plus the run's own time
    assert runner.run_once() == 0  # not due yet: nothing runs
    owner.events.triggers.delete("recrawl")  # its pending retry ends with it
    (run,) = owner.events.triggers.runs()
    assert run["state"] == "failed" and run["error"] == "the trigger was deleted"
    assert not runner.busy()


def test_settle_is_for_admins_and_needs_an_active_trigger(
    mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events with no active trigger leave nothing to wait for (the runner never advances
    over them); the answer covers every account, so only admins and the root may ask."""
    monkeypatch.setenv(DISPATCH_ENV, "worker")  # nobody runs the triggers in-process
    sessions = setup_accounts(mesh)
    owner, analyst = sessions["owner"], sessions["analyst"]
    _publish(owner, 0.0, 1)  # events, and no trigger at all
    assert owner.events.triggers.settle(timeout_s=0)
    assert sessions["root"].events.triggers.settle(timeout_s=0)
    with pytest.raises(AccessDeniedError, match="admins"):
        analyst.events.triggers.settle(timeout_s=0)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "part1.csv").write_text("id,name\n1,a\n")
    params = {"location": str(landing), "database": "sales", "table": "landing"}
    owner.events.triggers.create("recrawl", on="product.*", do="recrawl", params=params)
    _publish(owner, 0.0, 2)  # an active trigger and an event the worker has not handled
    assert not owner.events.triggers.settle(timeout_s=0)
    assert owner.events.triggers.run() == 1
    assert owner.events.triggers.settle(timeout_s=0)
    owner.events.triggers.delete("recrawl")
    _publish(owner, 0.0, 3)
    assert owner.events.triggers.settle(timeout_s=0)
