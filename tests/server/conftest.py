"""Fixtures of the server tests: the small world on SQLite, its app and HTTP clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import meshlake
from meshlake.server import create_app

from .world import build_world, token_for


@pytest.fixture
def world(tmp_path: Path) -> Iterator[meshlake.Mesh]:
    """The small world (see ``world.build_world``) on SQLite, as a server holds it."""
    mesh = meshlake.connect(tmp_path / "home", allowed_roots=[])
    build_world(mesh)
    yield mesh
    mesh.close()


@pytest.fixture
def app(world: meshlake.Mesh) -> FastAPI:
    """The REST API over the world."""
    return create_app(world)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """An HTTP client without a token."""
    return TestClient(app)


def bearer(mesh: meshlake.Mesh, principal: str) -> dict[str, str]:
    """The Authorization header of a fresh token of ``principal``."""
    return {"Authorization": f"Bearer {token_for(mesh, principal)}"}
