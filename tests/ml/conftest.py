"""A mesh with the demo's published credit product and the ML CoE's roles, per test module."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

import meshlake
from meshlake.demo.ml import grant_ml_roles
from meshlake.demo.scenario import run


@pytest.fixture(scope="module")
def ml_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[meshlake.Mesh]:
    """The demo's first half (credit product published, analyst granted) plus the
    SageMaker execution role with SELECT on the product and a ``credit_ml`` database."""
    home: Path = tmp_path_factory.mktemp("ml") / "home"
    run(home, console=Console(file=io.StringIO()), ml=False)
    mesh = meshlake.connect(home)
    grant_ml_roles(mesh)
    yield mesh
    mesh.close()


@pytest.fixture(scope="module")
def processed(ml_mesh: meshlake.Mesh) -> meshlake.Session:
    """The scientist's session (one processing job already run with seed 7)."""
    return ml_mesh.session("consumer/SageMakerExecutionRole")
