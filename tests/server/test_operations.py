"""Asynchronous operations: accepted with 202 and a Location, followed to their result or
typed error, private to their principal, bounded, and FAILED once their server stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import meshlake
from meshlake.server import create_app
from meshlake.service.storage import StorageAPI

from .conftest import bearer


@pytest.fixture
def landing(world: meshlake.Mesh) -> Path:
    """A registered location (outside the mesh) with one CSV file."""
    folder = world.home.parent / "landing"
    folder.mkdir()
    (folder / "t.csv").write_text("a,b\n1,x\n2,y\n")
    world.session("p/admin").catalog.register_location(str(folder))
    return folder


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Crawls wait until the event is set (an operation that stays RUNNING)."""
    release = threading.Event()
    started = threading.Event()

    def crawl(self: StorageAPI, *args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(30)
        raise meshlake.ConflictError("released")

    monkeypatch.setattr(StorageAPI, "crawl", crawl)
    release.started = started  # type: ignore[attr-defined]
    yield release
    release.set()


def start_crawl(client: TestClient, headers: dict[str, str], landing: Path) -> Any:
    return client.post(
        "/v1/crawls",
        json={"location": str(landing), "database": "sales", "table": "landed"},
        headers=headers,
    )


def test_an_operation_is_accepted_followed_and_private(
    world: meshlake.Mesh, client: TestClient, landing: Path
) -> None:
    admin = bearer(world, "p/admin")
    r = start_crawl(client, admin, landing)
    assert r.status_code == 202
    op = r.json()
    assert r.headers["location"] == f"/v1/operations/{op['id']}"
    assert op["state"] in ("QUEUED", "RUNNING") and op["kind"] == "crawl"
    assert "location" not in op["request"] and str(landing) not in r.text
    done = client.get(r.headers["location"], params={"wait": 20}, headers=admin).json()
    assert done["state"] == "SUCCEEDED" and done["error"] is None
    assert done["result"]["tables_created"] == ["landed"] and done["result"]["rows_added"] == 2
    assert "location" not in done["result"]
    assert world.session("p/admin").query("SELECT count(*) FROM sales.landed").rows() == [(2,)]
    # private: another principal (even of the same account) gets 404, the root sees it
    other = client.get(r.headers["location"], headers=bearer(world, "p/u"))
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found"
    assert client.get(r.headers["location"], headers=bearer(world, "root")).status_code == 200
    mine = client.get("/v1/operations", headers=admin).json()["items"]
    assert [o["id"] for o in mine] == [op["id"]]
    assert client.get("/v1/operations", headers=bearer(world, "p/u")).json()["items"] == []
    assert client.get("/v1/operations/nope", headers=admin).status_code == 404
    r = client.get(r.headers["location"], params={"wait": 31}, headers=admin)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_input"


def test_a_failed_operation_carries_a_typed_error(
    world: meshlake.Mesh, client: TestClient, landing: Path
) -> None:
    nobody = bearer(world, "p/nobody")
    r = start_crawl(client, nobody, landing)
    assert r.status_code == 202
    done = client.get(r.headers["location"], params={"wait": 20}, headers=nobody).json()
    assert done["state"] == "FAILED" and done["result"] is None
    assert done["error"]["type"] == "access_denied"
    assert str(landing) not in done["error"]["message"]
    assert "DATA_LOCATION_ACCESS" in done["error"]["message"]


def test_an_unexpected_failure_says_only_to_look_at_the_log(
    world: meshlake.Mesh, client: TestClient, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crawl(self: StorageAPI, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"disk full under {world.home}")

    monkeypatch.setattr(StorageAPI, "crawl", crawl)
    admin = bearer(world, "p/admin")
    r = start_crawl(client, admin, landing)
    done = client.get(r.headers["location"], params={"wait": 20}, headers=admin).json()
    assert done["state"] == "FAILED"
    assert done["error"] == {
        "type": "error",
        "message": "internal server error (see the server's log)",
    }


def test_the_pool_is_bounded(world: meshlake.Mesh, landing: Path, blocked: threading.Event) -> None:
    client = TestClient(create_app(world, workers=1, max_pending=1))
    admin = bearer(world, "p/admin")
    first = start_crawl(client, admin, landing)
    assert first.status_code == 202
    r = start_crawl(client, admin, landing)
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"
    blocked.set()
    done = client.get(first.headers["location"], params={"wait": 20}, headers=admin).json()
    assert done["state"] == "FAILED" and done["error"]["message"] == "released"
    assert start_crawl(client, admin, landing).status_code == 202  # room again


def test_an_interrupted_operation_is_failed_after_a_restart(
    world: meshlake.Mesh, landing: Path, blocked: threading.Event
) -> None:
    app = create_app(world, lease_s=0.3)
    client = TestClient(app)
    admin = bearer(world, "p/admin")
    r = start_crawl(client, admin, landing)
    assert blocked.started.wait(10)  # type: ignore[attr-defined]
    location = r.headers["location"]
    running = client.get(location, headers=admin).json()
    assert running["state"] == "RUNNING"
    time.sleep(0.5)  # the heartbeat keeps a live operation RUNNING past its lease
    assert client.get(location, headers=admin).json()["state"] == "RUNNING"
    app.state.operations.close()  # the server stops: no more heartbeats
    time.sleep(0.5)
    # a new server process over the same store
    restarted = meshlake.connect(world.home, allowed_roots=[])
    try:
        again = TestClient(create_app(restarted))
        failed = again.get(location, headers=admin).json()
        assert failed["state"] == "FAILED"
        assert failed["error"]["type"] == "storage_error"
        assert "interrupted" in failed["error"]["message"]
        blocked.set()  # the old worker ends late: the record stays FAILED
        time.sleep(0.3)
        assert again.get(location, headers=admin).json()["error"] == failed["error"]
    finally:
        restarted.close()
