"""Trigger runs hold leases: a runner killed mid-action (kill -9) leaves its run ``running``
only until the lease runs out; then another runner takes it back and runs it again. A live
runner's heartbeat keeps its lease, and a runner that lost its lease records nothing."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.events.conftest import setup_accounts
from tests.events.test_trigger_runs import _publish

import meshlake
from meshlake.events.triggers import TriggerCall, TriggerRunner
from meshlake.service.events import DISPATCH_ENV, make_can_see
from meshlake.service.triggers import run_action

CHILD = """
import sys, time
import meshlake
from meshlake.events.triggers import TriggerRunner
from meshlake.service.events import make_can_see

mesh = meshlake.connect(sys.argv[1], catalog_url=sys.argv[2])
rt = mesh.runtime

def hang(call):
    print("acting", flush=True)
    time.sleep(600)

TriggerRunner(rt.store, make_can_see(rt), hang, lease_s=float(sys.argv[3])).run_once()
"""


def _fired(
    mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> meshlake.Session:
    """A recrawl trigger and one event it matches, left to the runners this test makes (no
    after-commit runner in this process); returns the trigger's owner."""
    monkeypatch.setenv(DISPATCH_ENV, "worker")
    owner = setup_accounts(mesh)["owner"]
    _publish(owner, 0.0, 1)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "part.csv").write_text("id,name\n1,a\n")
    owner.events.triggers.create(
        "recrawl",
        on="product.updated",
        do="recrawl",
        params={"location": str(landing), "database": "sales", "table": "landing"},
    )
    _publish(owner, 0.0, 2)
    return owner


def test_a_killed_runners_run_is_taken_back_and_run_again(
    mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and PostgreSQL: a real process claims the run and is killed mid-action."""
    owner = _fired(mesh, tmp_path, monkeypatch)
    lease_s = 1.0
    child = subprocess.Popen(
        [
            *(sys.executable, "-c", CHILD, str(mesh.settings.home)),
            *(mesh.settings.catalog_url, str(lease_s)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "acting"
        (run,) = owner.events.triggers.runs()
        assert run["state"] == "running"
        rt = mesh.runtime
        other = TriggerRunner(
            rt.store, make_can_see(rt), lambda call: run_action(rt, call), lease_s=lease_s
        )
        time.sleep(lease_s * 2)  # the child renews its lease while it lives
        assert other.reclaim() == 0 and owner.events.triggers.runs()[0]["state"] == "running"
        child.kill()  # kill -9 mid-action
        child.wait()
        deadline = time.monotonic() + 30
        while owner.events.triggers.runs()[0]["state"] == "running":
            assert time.monotonic() < deadline, "the killed runner's run was never taken back"
            time.sleep(0.1)
            other.run_once()
        other.drain()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    (run,) = owner.events.triggers.runs()
    assert run["state"] == "succeeded" and run["attempts"] == 2, run
    assert owner.catalog.get_table("sales", "landing").column_names == ["id", "name"]
    assert not other.busy()


def test_a_runner_that_lost_its_lease_records_nothing(
    sqlite_mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = _fired(sqlite_mesh, tmp_path, monkeypatch)
    rt = sqlite_mesh.runtime
    release = threading.Event()
    acting = threading.Event()

    def stalled(call: TriggerCall) -> dict[str, str]:
        acting.set()
        release.wait(30)
        return {"from": "the stalled runner"}

    stuck = TriggerRunner(rt.store, make_can_see(rt), stalled, lease_s=0.3)
    monkeypatch.setattr(stuck, "_leased", _no_heartbeat)  # a runner paused past its lease
    thread = threading.Thread(target=stuck.run_once)
    thread.start()
    try:
        assert acting.wait(30)
        time.sleep(0.5)
        other = TriggerRunner(rt.store, make_can_see(rt), lambda call: run_action(rt, call))
        assert other.run_once() == 1  # takes it back and runs it (an immediate retry)
        (run,) = owner.events.triggers.runs()
        assert run["state"] == "succeeded" and run["attempts"] == 2
        assert run["result"] != {"from": "the stalled runner"}
    finally:
        release.set()
        thread.join()
    (after,) = owner.events.triggers.runs()
    assert after == run  # the stalled runner's late outcome was not recorded


def test_a_long_action_keeps_its_lease(
    sqlite_mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = _fired(sqlite_mesh, tmp_path, monkeypatch)
    rt = sqlite_mesh.runtime

    def slow(call: TriggerCall) -> dict[str, object]:
        time.sleep(1.5)  # five leases long
        return run_action(rt, call)

    runner = TriggerRunner(rt.store, make_can_see(rt), slow, lease_s=0.3)
    thread = threading.Thread(target=runner.run_once)
    thread.start()
    watcher = TriggerRunner(rt.store, make_can_see(rt), lambda call: {}, lease_s=0.3)
    taken = 0
    while thread.is_alive():
        taken += watcher.reclaim()
        time.sleep(0.05)
    thread.join()
    (run,) = owner.events.triggers.runs()
    assert taken == 0 and run["state"] == "succeeded" and run["attempts"] == 1, run


def _no_heartbeat(*_key: object) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()
