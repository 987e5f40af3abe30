"""Webhooks: signed deliveries, retries with backoff, dead letters, replay, isolation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from tests.events.conftest import Receiver, setup_accounts

import meshlake
from meshlake import Database
from meshlake.service.events import DISPATCH_ENV, dispatcher


def _fast(mesh: meshlake.Mesh, **options: float) -> None:
    dispatcher(
        mesh.runtime, **{"base_delay_s": 0.0, "max_attempts": 3, "timeout_s": 2.0, **options}
    )


def test_signed_delivery_dead_letters_and_replay(
    sqlite_mesh: meshlake.Mesh, receivers: Callable[[], Receiver]
) -> None:
    mesh = sqlite_mesh
    _fast(mesh)
    s = setup_accounts(mesh)
    owner = s["owner"]
    good, bad = receivers(), receivers()
    sub = owner.events.subscribe(type="grant.*", url=good.url)
    assert sub.secret and len(sub.secret) == 64
    good.secret = sub.secret
    owner.events.subscribe(type="grant.*", url=bad.url, secret="s3cret")
    bad.fail = True
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.grant("consumer/admin", Database("sales"), ["DESCRIBE"])
    owner.events.deliver()
    assert good.bad_signatures == 0
    assert [p["data"]["grantee"] for p in good.posts] == ["consumer/analyst", "consumer/admin"]
    assert [p["sequence"] for p in good.posts] == ["1", "2"]
    assert good.posts[0]["specversion"] == "1.0"
    # the failing endpoint: retried (max_attempts=3), then dead letters
    for _ in range(5):
        owner.events.deliver()
    dead = owner.events.dead_letters()
    assert len(dead) == 2 and {d["attempts"] for d in dead} == {3}
    assert all(d["last_error"] == "HTTP 500" for d in dead)
    bad.fail, bad.secret = False, "s3cret"
    assert owner.events.replay() == 2
    owner.events.deliver()
    assert owner.events.dead_letters() == []
    assert [p["data"]["grantee"] for p in bad.posts] == ["consumer/analyst", "consumer/admin"]
    assert bad.bad_signatures == 0
    assert len(good.posts) == 2  # nothing sent twice to the healthy endpoint


def test_a_slow_endpoint_does_not_delay_others(
    sqlite_mesh: meshlake.Mesh, receivers: Callable[[], Receiver]
) -> None:
    mesh = sqlite_mesh
    _fast(mesh, timeout_s=5.0)
    s = setup_accounts(mesh)
    owner = s["owner"]
    slow, fast = receivers(), receivers()
    slow.delay = 1.5
    owner.events.subscribe(type="grant.*", url=slow.url)
    owner.events.subscribe(type="grant.*", url=fast.url)
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.grant("consumer/admin", Database("sales"), ["DESCRIBE"])
    hooks = dispatcher(mesh.runtime)
    t0 = time.perf_counter()
    assert hooks.run_once(wait=False) == 4
    while len(fast.posts) < 2 and time.perf_counter() - t0 < 5:
        time.sleep(0.02)
    fast_done = time.perf_counter() - t0
    assert len(fast.posts) == 2 and fast_done < 1.5  # not behind the slow one's 2 x 1.5 s
    owner.events.deliver()  # waits for the slow endpoint's task
    while len(slow.posts) < 2 and time.perf_counter() - t0 < 10:
        time.sleep(0.05)
    assert len(slow.posts) == 2


def test_a_subscriber_that_lost_access_is_skipped(
    sqlite_mesh: meshlake.Mesh, receivers: Callable[[], Receiver]
) -> None:
    s = setup_accounts(sqlite_mesh)
    _fast(sqlite_mesh)
    owner, analyst = s["owner"], s["analyst"]
    rec = receivers()
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    analyst.events.subscribe(database="sales", account="central", url=rec.url)
    owner.grant("consumer/analyst", Database("sales"), ["CREATE_TABLE"])
    owner.revoke("consumer/analyst", Database("sales"), ["DESCRIBE", "CREATE_TABLE"])
    analyst.events.deliver()
    assert rec.posts == []  # decided at delivery time: no longer visible
    assert {d["state"] for d in analyst.events.deliveries()} == {"skipped"}


def test_embedded_dispatch_sends_after_commit_without_waiting(
    sqlite_mesh: meshlake.Mesh,
    receivers: Callable[[], Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DISPATCH_ENV, "embedded")
    s = setup_accounts(sqlite_mesh)
    owner = s["owner"]
    rec = receivers()
    rec.delay = 0.5
    owner.events.subscribe(type="grant.*", url=rec.url)
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    assert rec.posts == []  # the grant returned without waiting for the endpoint
    end = time.monotonic() + 10
    while not rec.posts and time.monotonic() < end:
        time.sleep(0.05)
    assert [p["type"] for p in rec.posts] == ["grant.created"]
