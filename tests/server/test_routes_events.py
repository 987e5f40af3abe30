"""Events over HTTP: subscriptions, the inbox, webhooks and dead letters, triggers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import meshlake
from meshlake.server import create_app

from .conftest import bearer
from .test_routes_data import error_of
from .world import build_world


@pytest.fixture
def hooks_world(tmp_path: Path) -> Iterator[meshlake.Mesh]:
    """The small world on a server that lets webhooks go to 127.0.0.1 (explicitly: a server
    sends them to public addresses only by default)."""
    mesh = meshlake.connect(
        tmp_path / "home", allowed_roots=[], webhook_allowed_hosts=["127.0.0.1"]
    )
    build_world(mesh)
    yield mesh
    mesh.close()


def inbox(client: TestClient, headers: dict[str, str], n: int, **params: Any) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        items = client.get("/v1/events/inbox", params=params, headers=headers).json()["items"]
        if len(items) >= n or time.monotonic() > deadline:
            return list(items)
        time.sleep(0.05)


def test_subscriptions_and_the_inbox(world: meshlake.Mesh, client: TestClient) -> None:
    u, admin = bearer(world, "p/u"), bearer(world, "p/admin")
    r = client.post("/v1/events/subscriptions", json={"database": "sales"}, headers=u)
    assert r.status_code == 201 and r.json()["target"] == "p/sales" and r.json()["secret"] is None
    sub_id = r.json()["id"]
    listed = client.get("/v1/events/subscriptions", headers=u).json()["items"]
    assert [s["id"] for s in listed] == [sub_id]
    world.session("p/admin").catalog.append("sales", "orders", [[4, "us", 1.0, "dan", "4"]])
    items = inbox(client, u, 1)
    assert items and items[0]["read"] is False and items[0]["event"]["type"] == "table.updated"
    event_id = items[0]["event"]["id"]
    r = client.post("/v1/events/inbox/read", json={"ids": [event_id]}, headers=u)
    assert r.json() == {"changed": 1}
    assert all(i["event"]["id"] != event_id for i in inbox(client, u, 0, unread_only=True))
    # bad input, another's subscription, invisible targets
    two = {"database": "sales", "product": "x"}
    error_of(client.post("/v1/events/subscriptions", json=two, headers=u), 400, "invalid_input")
    error_of(client.post("/v1/events/subscriptions", json={}, headers=u), 400, "invalid_input")
    nobody = bearer(world, "p/nobody")
    hidden = client.post("/v1/events/subscriptions", json={"database": "sales"}, headers=nobody)
    error_of(hidden, 404, "not_found")
    error_of(
        client.post("/v1/events/subscriptions", json={"product": "nope"}, headers=u),
        404,
        "not_found",
    )
    error_of(client.delete(f"/v1/events/subscriptions/{sub_id}", headers=admin), 404, "not_found")
    assert client.delete(f"/v1/events/subscriptions/{sub_id}", headers=u).status_code == 204
    assert client.get("/v1/events/subscriptions", headers=u).json()["items"] == []
    error_of(client.get("/v1/events/inbox", params={"limit": 0}, headers=u), 400, "invalid_input")


def test_webhooks_show_their_secret_once(hooks_world: meshlake.Mesh) -> None:
    world, client = hooks_world, TestClient(create_app(hooks_world))
    u = bearer(world, "p/u")
    body = {"type": "table.*", "url": "http://127.0.0.1:9/hook"}
    r = client.post("/v1/events/subscriptions", json=body, headers=u)
    assert r.status_code == 201 and len(r.json()["secret"]) == 64
    listed = client.get("/v1/events/subscriptions", headers=u).json()["items"]
    assert "secret" not in listed[0] and listed[0]["url"] == body["url"]
    bad = client.post("/v1/events/subscriptions", json={**body, "url": "ftp://x"}, headers=u)
    error_of(bad, 400, "invalid_input")
    assert client.get("/v1/events/dead-letters", headers=u).json()["items"] == []
    assert client.get("/v1/events/deliveries", params={"state": "dead"}, headers=u).json() == {
        "items": []
    }
    assert client.post("/v1/events/dead-letters/replay", json={}, headers=u).json() == {"queued": 0}
    error_of(
        client.get("/v1/events/deliveries", params={"state": "lost"}, headers=u),
        400,
        "invalid_input",
    )


def test_a_server_refuses_webhooks_to_its_own_network(
    world: meshlake.Mesh, client: TestClient
) -> None:
    u = bearer(world, "p/u")
    refused = {
        "http://127.0.0.1:5432/": "loopback",
        "http://169.254.169.254/latest/meta-data": "link-local",
        "http://[::ffff:10.0.0.1]/": "private",
        "http://localhost:8470/": "does not resolve, or resolves to an address",
        "http://0x7f.1/": "non-canonical",
        "http://user:pass@8.8.8.8/": "credentials",
        "file:///etc/passwd": "http:// or https://",
    }
    for url, why in refused.items():
        body = {"type": "table.*", "url": url}
        message = error_of(
            client.post("/v1/events/subscriptions", json=body, headers=u), 400, "invalid_input"
        )
        assert why in message, message
        if url.startswith("http://") and "@" not in url and "0x" not in url:
            # where it leads is refused: the message says how an operator allows it
            assert "MESHLAKE_WEBHOOK_ALLOWED_HOSTS" in message
    assert client.get("/v1/events/subscriptions", headers=u).json()["items"] == []


def test_triggers(world: meshlake.Mesh, client: TestClient) -> None:
    admin, u = bearer(world, "p/admin"), bearer(world, "p/u")
    pipeline = (
        "name: p\nsteps:\n"
        "  - {name: s, type: process, sql: SELECT 1, target: y, output_database: d}\n"
    )
    body = {
        "name": "retrain",
        "on": "product.updated",
        "do": "pipeline",
        "params": {"pipeline": pipeline},
    }
    r = client.post("/v1/events/triggers", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["params"]["pipeline"]["name"] == "p"
    assert [t["name"] for t in client.get("/v1/events/triggers", headers=u).json()["items"]] == [
        "retrain"
    ]
    assert client.get("/v1/events/triggers/runs", headers=admin).json() == {"items": []}
    error_of(
        client.post("/v1/events/triggers", json={**body, "name": "x"}, headers=u),
        403,
        "access_denied",
    )
    error_of(client.post("/v1/events/triggers", json=body, headers=admin), 409, "conflict")
    scripted = {
        **body,
        "name": "s",
        "params": {
            "pipeline": {
                "name": "p",
                "steps": [{"name": "s", "type": "process", "script": "/x.py"}],
            }
        },
    }
    error_of(client.post("/v1/events/triggers", json=scripted, headers=admin), 400, "invalid_input")
    as_file = {**body, "name": "f", "params": {"pipeline": "/srv/pipeline.yaml"}}
    error_of(client.post("/v1/events/triggers", json=as_file, headers=admin), 400, "invalid_input")
    unknown = {**body, "name": "u", "do": "explode"}
    error_of(client.post("/v1/events/triggers", json=unknown, headers=admin), 400, "invalid_input")
    error_of(client.delete("/v1/events/triggers/retrain", headers=u), 403, "access_denied")
    error_of(client.delete("/v1/events/triggers/nope", headers=admin), 404, "not_found")
    assert client.delete("/v1/events/triggers/retrain", headers=admin).status_code == 204
    assert client.get("/v1/events/triggers", headers=u).json()["items"] == []
