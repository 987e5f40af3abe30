"""Several processes changing one catalog at once (issue: lost grants under concurrency).

Each worker grants and revokes its own permissions to one grantee on one table. At the end
the grantee's permissions must be exactly what the successful calls imply, every committed
change must have exactly one audit event, no audit ``after`` may drop a permission another
worker holds, and no untyped error may escape.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

import meshlake
from meshlake import MeshError, Table

PERMS = ["SELECT", "INSERT", "DELETE", "ALTER", "DROP", "DESCRIBE"]
ROUNDS = 6


def _worker(home: str, url: str | None, perm: str, out: Any) -> None:
    mesh = meshlake.connect(home, catalog_url=url)
    admin = mesh.session("p/admin")
    held = False
    events = 0
    try:
        for i in range(ROUNDS):
            if i % 2 == 0:
                admin.grant("p/u", Table("sales", "orders"), [perm])
                held = True
            else:
                admin.revoke("p/u", Table("sales", "orders"), [perm])
                held = False
            events += 1
        if perm in ("SELECT", "DESCRIBE"):  # end holding it
            admin.grant("p/u", Table("sales", "orders"), [perm])
            held, events = True, events + 1
        out.put((perm, held, events, None))
    except MeshError as exc:  # a typed error is acceptable, an untyped one is not
        out.put((perm, held, events, f"{type(exc).__name__}: {exc}"))
    except BaseException as exc:
        out.put((perm, held, events, f"UNTYPED {type(exc).__name__}: {exc}"))
    finally:
        mesh.close()


@pytest.mark.xdist_group("concurrency")
def test_concurrent_grants_and_revokes_lose_nothing(
    tmp_path: Path, backend_url: str | None
) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home, catalog_url=backend_url)
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    root.principals.create("p/u")
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table("sales", "orders", {"id": "bigint"}, [[1]])
    seq0 = max((e.seq for e in admin.audit()), default=0)

    ctx = mp.get_context("forkserver")  # one process imports meshlake; workers fork from it
    ctx.set_forkserver_preload(["meshlake"])
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(home), backend_url, perm, out)) for perm in PERMS
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r[3] for r in results if r[3]]
    assert not errors, errors

    expected = {perm for perm, held, _, _ in results if held}
    grants = admin.list_permissions(principal="p/u")
    actual = set().union(*(set(g.permissions) for g in grants)) if grants else set()
    assert actual == expected

    changes = [
        e for e in mesh.session("root").audit() if e.seq > seq0 and e.action in ("grant", "revoke")
    ]
    assert len(changes) == sum(r[2] for r in results)  # one event per committed change
    # replaying the audit trail reproduces the final state: no `after` dropped a permission
    state: set[str] = set()
    for e in changes:
        after = e.data.get("after") or {}
        before_state = set(state)
        state = set(after.get("permissions") or [])
        changed = state ^ before_state
        assert len(changed) <= 1, (e.action, before_state, state)
    assert state == expected
    assert mesh.session("root").verify_audit().ok
    mesh.close()
