"""``meshlake worker`` processes: killed mid-delivery, nothing is lost; several workers on
PostgreSQL never send one event twice to one endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.events.conftest import Receiver, setup_accounts

import meshlake
from meshlake.catalog.event_models import DeliveryRow, EventRow
from meshlake.service.events import DISPATCH_ENV, dispatcher

SRC = str(Path(meshlake.__file__).resolve().parents[1])


def _worker(home: Path, url: str | None, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC, DISPATCH_ENV: "worker"}
    if url:
        env["MESHLAKE_CATALOG_URL"] = url
    cmd = [sys.executable, "-c", "from meshlake.cli import main; main()"]
    return subprocess.Popen(
        [*cmd, "--home", str(home), "--json", "worker", "--poll", "0.1", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait(cond: Callable[[], bool], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def _emit(mesh: meshlake.Mesh, n: int, *urls: str) -> list[str]:
    owner = setup_accounts(mesh)["owner"]
    for url in urls:
        owner.events.subscribe(type="tag.*", url=url)
    for i in range(n):
        owner.tags.create(f"t{i}", ["a"])
    with mesh.runtime.store.read() as session:
        return list(
            session.scalars(select(EventRow.event_id).where(EventRow.type == "tag.created"))
        )


def test_a_killed_worker_loses_nothing(tmp_path: Path, receivers: Callable[[], Receiver]) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    rec = receivers()
    rec.delay = 0.15
    ids = _emit(mesh, 12, rec.url)
    proc = _worker(home, None, "--lease", "1.5")
    try:
        _wait(lambda: len(rec.posts) >= 3, 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(rec.posts) < len(ids)  # killed mid-way
    time.sleep(1.6)  # the dead worker's lease runs out
    dispatcher(mesh.runtime).drain()
    got = Counter(p["id"] for p in rec.posts)
    assert set(got) == set(ids)  # nothing lost
    assert set(rec.processed) == set(ids) and all(v == 1 for v in rec.processed.values())
    assert sum(got.values()) - len(ids) <= 1  # at most the one in flight was sent again
    with mesh.runtime.store.read() as session:
        assert set(session.scalars(select(DeliveryRow.state))) == {"delivered"}
    mesh.close()


@pytest.mark.usefixtures("pg_databases")
def test_two_workers_on_postgresql_share_without_duplicates(
    tmp_path: Path, pg_databases: object, receivers: Callable[[], Receiver]
) -> None:
    url = pg_databases.create()  # type: ignore[attr-defined]
    home = tmp_path / "home"
    mesh = meshlake.connect(home, catalog_url=url)
    a, b = receivers(), receivers()
    a.delay = b.delay = 0.05
    ids = _emit(mesh, 15, a.url, b.url)
    procs = [_worker(home, url, "--batch", "2", "--duration", "60") for _ in range(2)]
    try:
        _wait(lambda: len(a.posts) >= len(ids) and len(b.posts) >= len(ids), 90)
        time.sleep(0.3)  # room for a duplicate to show up, if there were one
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=30)[0] for p in procs]
    for rec in (a, b):
        got = Counter(p["id"] for p in rec.posts)
        assert set(got) == set(ids) and set(got.values()) == {1}  # each exactly once
    claimed = [json.loads(out)["deliveries_claimed"] for out in outs]
    assert sum(claimed) == 2 * len(ids)
    mesh.close()


def test_worker_once_delivers_and_reports(
    tmp_path: Path, receivers: Callable[[], Receiver]
) -> None:
    from typer.testing import CliRunner

    from meshlake.cli import app

    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    rec = receivers()
    ids = _emit(mesh, 2, rec.url)
    mesh.close()
    result = CliRunner().invoke(app, ["--home", str(home), "--json", "worker", "--once"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["deliveries_claimed"] == 2 and summary["trigger_runs"] == 0
    assert summary["results_expired"] == 0
    assert sorted(p["id"] for p in rec.posts) == sorted(ids)
