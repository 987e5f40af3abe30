"""Shared fixtures: a fresh embedded mesh, and PostgreSQL databases made per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MESHLAKE_SHARED", str(Path(__file__).resolve().parents[1].parent / "shared"))

import meshlake
from meshlake.testing import PG_DEFAULT, PostgresDatabases, postgres_admin_url


@pytest.fixture
def pg_databases() -> Iterator[PostgresDatabases]:
    """Fresh PostgreSQL databases for one test, dropped afterwards."""
    url = postgres_admin_url()
    assert url is not None
    dbs = PostgresDatabases(url)
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """A catalog store URL on each backend (None = SQLite in the mesh home)."""
    if request.param == "sqlite":
        yield None
        return
    dbs = PostgresDatabases(postgres_admin_url() or PG_DEFAULT)
    yield dbs.create()
    dbs.drop_all()


@pytest.fixture
def mesh(tmp_path: Path, backend_url: str | None) -> Iterator[meshlake.Mesh]:
    """A fresh, bootstrapped mesh on each catalog backend."""
    m = meshlake.connect(tmp_path / "home", catalog_url=backend_url)
    m.bootstrap()
    yield m
    m.close()


@pytest.fixture
def sqlite_mesh(tmp_path: Path) -> Iterator[meshlake.Mesh]:
    """A fresh, bootstrapped embedded mesh (SQLite only)."""
    m = meshlake.connect(tmp_path / "home")
    m.bootstrap()
    yield m
    m.close()
