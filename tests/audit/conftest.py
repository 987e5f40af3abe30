"""Fixtures of the audit tests: a mesh with some history, and SQL to tamper with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

import meshlake
from meshlake.audit.anchor import ENV_AUDIT_KEY
from meshlake.audit.verify import GENESIS, HEAD_KEY, event_hash


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_AUDIT_KEY, raising=False)
    yield


@pytest.fixture
def root(mesh: meshlake.Mesh) -> meshlake.Session:
    """Root of a mesh with a few changes: account p (admin p/admin), database db, tag k."""
    session = mesh.bootstrap()
    session.accounts.create("p")
    session.principals.create("p/admin")
    session.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.tags.create("k", ["a", "b"])
    return session


def seqs(mesh: meshlake.Mesh) -> list[int]:
    """Every event's seq, oldest first."""
    with mesh.runtime.store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT seq FROM ml_audit ORDER BY seq"))]


def rehash_from(mesh: meshlake.Mesh, seq: int) -> None:
    """Recompute ``hash``/``prev_hash`` of every event from ``seq`` on and the head row: what
    someone who can write the database does to hide an edit or a deletion."""
    store = mesh.runtime.store
    with store.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, time, category, principal, action, resource, accounts, data, hash "
                "FROM ml_audit ORDER BY seq"
            )
        ).all()
        # unique columns: move every hash out of the way first
        conn.execute(
            text("UPDATE ml_audit SET hash = 'x' || seq, prev_hash = 'y' || seq WHERE seq >= :s"),
            {"s": seq},
        )
        prev = GENESIS
        for row in rows:
            if row.seq >= seq:
                accounts = row.accounts if isinstance(row.accounts, list) else _json(row.accounts)
                data = row.data if isinstance(row.data, dict) else _json(row.data)
                digest = event_hash(
                    _aware(row.time),
                    row.category,
                    row.principal,
                    row.action,
                    row.resource,
                    accounts,
                    data,
                    prev,
                )
                conn.execute(
                    text("UPDATE ml_audit SET hash = :h, prev_hash = :p WHERE seq = :s"),
                    {"h": digest, "p": prev, "s": row.seq},
                )
                prev = digest
            else:
                prev = row.hash
        conn.execute(
            text("UPDATE ml_meta SET value = :h WHERE key = :k"), {"h": prev, "k": HEAD_KEY}
        )


def _json(value: Any) -> Any:
    return json.loads(str(value))


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
