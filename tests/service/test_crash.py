"""Processes killed at random points: every committed change is audited exactly once, and
no half-created table blocks its name (intents and repair)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import meshlake
from meshlake import ConflictError

TRIALS = 10  # x 2 writers = 20 kills per backend


def _appender(home: str, url: str | None, start: int, ready: Any) -> None:
    mesh = meshlake.connect(home, catalog_url=url)
    admin = mesh.session("p/admin")
    for k in range(10_000):
        admin.catalog.append("sales", "events", [[start + k]])
        ready.set()  # warm: the kill lands among the next writes


def _creator(home: str, url: str | None, start: int, ready: Any) -> None:
    mesh = meshlake.connect(home, catalog_url=url)
    admin = mesh.session("p/admin")
    for k in range(10_000):
        admin.catalog.create_table("sales", f"t{start + k}", {"a": "bigint"}, [[k]])
        ready.set()


def _kill_at_random(ctx: Any, target: object, args: tuple[object, ...]) -> None:
    """Start a writer, let it write for a random while (a few changes), kill -9 it."""
    ready = ctx.Event()
    proc = ctx.Process(target=target, args=(*args, ready))
    proc.start()
    assert ready.wait(timeout=60), "the writer did not start"
    time.sleep(random.uniform(0.0, 0.5))
    if proc.pid is not None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)


@pytest.mark.xdist_group("crash")
def test_killed_writers_leave_every_committed_change_audited(
    tmp_path: Path, backend_url: str | None
) -> None:
    home = str(tmp_path / "home")
    mesh = meshlake.connect(home, catalog_url=backend_url)
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table("sales", "events", {"v": "bigint"}, [])
    admin.grant("p/admin", meshlake.Table("sales", "events"), ["SELECT"])
    mesh.close()

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["meshlake"])
    random.seed(7)
    for trial in range(TRIALS):
        _kill_at_random(ctx, _appender, (home, backend_url, trial * 100_000))
        _kill_at_random(ctx, _creator, (home, backend_url, trial * 1000))

    mesh = meshlake.connect(home, catalog_url=backend_url)  # opening repairs
    admin = mesh.session("p/admin")
    rows = admin.query("SELECT count(*) AS n FROM sales.events").rows()[0][0]
    events = [
        e
        for e in mesh.session("root").audit()
        if e.action == "append" and e.resource == "table:p.sales.events"
    ]
    audited = sum(int((e.data.get("after") or e.data)["rows"]) for e in events)
    assert rows == audited  # every committed append audited exactly once, none invented
    assert rows > 0
    assert mesh.session("root").verify_audit().ok

    # every table name a killed creator tried is either a whole table or free again
    tables = set(admin.catalog.list_tables("sales"))
    for trial in range(TRIALS):
        for k in range(3):
            name = f"t{trial * 1000 + k}"
            if name in tables:
                assert admin.catalog.get_table("sales", name).column_names == ["a"]
                with pytest.raises(ConflictError):
                    admin.catalog.create_table("sales", name, {"a": "bigint"}, [[1]])
            else:
                admin.catalog.create_table("sales", name, {"a": "bigint"}, [[1]])
    assert not [o for o in mesh.repair() if o.outcome != "skipped"]
    mesh.close()
