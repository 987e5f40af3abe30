"""``meshlake serve --workers 2`` on PostgreSQL: a change made through one worker process is
decided on at once by the other (each holds its own governance state), and a token revoked
through one worker is refused at once by both."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import meshlake
from meshlake.client import RemoteMesh, RemoteSession
from meshlake.testing import PostgresDatabases

from .serving import healthy, serve_process
from .world import build_world

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def _workers(parent: int) -> list[int]:
    """The worker processes of the uvicorn parent (children started by multiprocessing's
    spawn; not its resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _established(pid: int, port: int) -> int:
    """How many established TCP connections to ``port`` process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_two_workers_see_each_others_changes_at_once(
    tmp_path: Path, pg_databases: PostgresDatabases
) -> None:
    url = pg_databases.create()
    home = tmp_path / "home"
    mesh = meshlake.connect(home, catalog_url=url)
    build_world(mesh)
    admin_token = mesh.session("p/admin").tokens.create("p/admin", "1h").token
    user_token = mesh.session("p/admin").tokens.create("p/u", "1h").token
    mesh.close()
    remotes: list[RemoteMesh] = []
    sessions: list[RemoteSession] = []
    with serve_process(
        home,
        args=["--workers", "2"],
        env={"MESHLAKE_CATALOG_URL": url},
        ready=lambda proc, base: len(_workers(proc.pid)) >= 2 and healthy(base),
        timeout=90,
    ) as (base, proc):
        try:
            _check_workers(base, proc, remotes, sessions, admin_token, user_token)
        finally:
            for remote in remotes:
                remote.close()


def _check_workers(
    base: str,
    proc: subprocess.Popen[bytes],
    remotes: list[RemoteMesh],
    sessions: list[RemoteSession],
    admin_token: str,
    user_token: str,
) -> None:
    port = int(base.rsplit(":", 1)[1])
    workers = _workers(proc.pid)
    ssn = meshlake.Table("sales", "orders", columns=["ssn"])
    # one keep-alive connection per client, each to a worker the kernel picks: open them
    # until both workers hold some, each having decided once (its state is loaded)
    while len(sessions) < 40 and not all(_established(w, port) for w in workers):
        remotes.append(meshlake.connect(base, token=user_token))
        session = remotes[-1].session()
        assert not session.decide("SELECT", ssn).allowed
        sessions.append(session)
    assert all(_established(w, port) for w in workers)
    remotes.append(meshlake.connect(base, token=admin_token))
    admin = remotes[-1].session()
    admin.grant("p/u", meshlake.Table("sales", "orders"), ["SELECT"])
    assert all(s.decide("SELECT", ssn).allowed for s in sessions)
    admin.revoke("p/u", meshlake.Table("sales", "orders"), ["SELECT"])
    assert not any(s.decide("SELECT", ssn).allowed for s in sessions)
    admin.catalog.drop_table("sales", "orders")
    for s in sessions:
        with pytest.raises(meshlake.NotFoundError):
            s.query("SELECT id FROM sales.orders")
    assert all(s.query("SELECT 1 AS one").num_rows == 1 for s in sessions)  # token still good
    admin.tokens.revoke(user_token.split("_")[1])  # mlk_<id>_<secret>, through one worker
    for s in sessions:  # every connection, on either worker, is refused from the next call
        with pytest.raises(meshlake.AuthenticationError):
            s.query("SELECT 1 AS one")
