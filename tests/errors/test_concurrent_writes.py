"""Concurrent writers of one table: lost commits are retried with backoff for a bounded time,
then reported as ConflictError; no untyped error escapes and no committed row is lost."""

from __future__ import annotations

import threading
import time

import pytest
from pyiceberg.exceptions import CommitFailedException

import meshlake
from meshlake.storage import iceberg

WRITERS = 6
APPENDS = 3


def test_concurrent_appends(world: meshlake.Mesh) -> None:
    """Each writer has a mesh of its own (as separate processes would)."""
    meshes = [
        meshlake.connect(world.home, catalog_url=world.settings.catalog_url) for _ in range(WRITERS)
    ]
    sessions = [m.session("p/admin") for m in meshes]
    barrier = threading.Barrier(WRITERS)
    committed: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def write(w: int) -> None:
        barrier.wait()
        for a in range(APPENDS):
            first = 1000 * (w + 1) + 10 * a
            rows = [[first + i, f"w{w}"] for i in range(3)]
            try:
                sessions[w].catalog.append("db", "t", rows)
            except BaseException as exc:  # every outcome is checked below
                with lock:
                    failures.append(exc)
            else:
                with lock:
                    committed.extend(r[0] for r in rows)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in meshes:
        m.close()
    for exc in failures:  # only a typed conflict saying to retry may come back
        assert isinstance(exc, meshlake.ConflictError), repr(exc)
        assert "retry" in str(exc)
    ids = [r[0] for r in world.session("p/admin").query("SELECT id FROM db.t").rows()]
    assert sorted(ids) == sorted([1, *committed])  # every committed row, nothing else
    assert len(committed) >= 3  # some writer got through


def test_commit_retry_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iceberg, "COMMIT_RETRY_SECONDS", 0.3)
    attempts = 0

    def always_loses() -> None:
        nonlocal attempts
        attempts += 1
        raise CommitFailedException("Table has been updated by another process")

    start = time.monotonic()
    with pytest.raises(meshlake.ConflictError, match=r"table db\.t .*retry") as err:
        iceberg._retry(always_loses, lambda: "db.t")
    assert time.monotonic() - start < 0.3 + iceberg.COMMIT_MAX_DELAY
    assert attempts > 2
    assert isinstance(err.value.__cause__, CommitFailedException)


def test_commit_retry_returns_once_a_commit_wins() -> None:
    outcomes = iter([CommitFailedException("lost"), CommitFailedException("lost"), 7])

    def sometimes() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert iceberg._retry(sometimes, lambda: "db.t") == 7
