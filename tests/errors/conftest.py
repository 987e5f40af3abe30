"""Fixtures for the error tests: a small world, and a folder made read-only for real."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

import meshlake


@pytest.fixture
def world(mesh: meshlake.Mesh) -> meshlake.Mesh:
    """Account ``p`` with admin ``p/admin``, database ``db`` and table ``db.t`` (one row)."""
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint", "s": "varchar"}, [[1, "a"]])
    return mesh


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` read-only: a read-only bind mount as root (root ignores modes), else
    ``chmod``. Skips the test when neither can be done here."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("running as root, where modes do not stop writes, and mount is missing")
    done = subprocess.run(
        [mount, "--bind", "-o", "ro", str(path), str(path)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(
            "running as root, where modes do not stop writes, and a read-only bind mount is "
            f"not permitted here: {done.stderr.decode().strip()}"
        )
    try:
        yield
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def read_only() -> Callable[[Path], AbstractContextManager[None]]:
    """``with read_only(folder): ...`` makes the folder read-only for the block."""
    return _read_only


def row_count(mesh: meshlake.Mesh, table: str = "db.t") -> int:
    """Rows of ``table`` as p/admin reads them."""
    return int(mesh.session("p/admin").query(f"SELECT count(*) FROM {table}").rows()[0][0])


def audit_size(mesh: meshlake.Mesh) -> int:
    """How many change events the audit holds (a failed call adds none)."""
    return len(mesh.bootstrap().audit(category="change"))
