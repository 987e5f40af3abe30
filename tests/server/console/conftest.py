"""Fixtures of the console tests: signed-in browsers (TestClient with the console cookie)
over the small world, and the demo's credit world (product published, access approved)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from rich.console import Console

import meshlake
from meshlake.demo.scenario import run
from meshlake.server import create_app

from ..world import token_for

Browser = Callable[[str], TestClient]


def login(client: TestClient, token: str) -> Response:
    """Post ``token`` through the sign-in form (with the form's CSRF value), no redirects."""
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"token": token, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )


def sign_in(app: FastAPI, mesh: meshlake.Mesh, principal: str, **kwargs: object) -> TestClient:
    """A client signed in to the console as ``principal``."""
    client = TestClient(app, **kwargs)  # type: ignore[arg-type]
    r = login(client, token_for(mesh, principal))
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    """The CSRF value of a page's forms."""
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert match, "no form with a CSRF value"
    return match.group(1)


@pytest.fixture
def browser(world: meshlake.Mesh, app: FastAPI) -> Browser:
    """``browser(principal)``: a signed-in client over the small world."""
    return lambda principal: sign_in(app, world, principal)


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[meshlake.Mesh]:
    """The demo's first half: the credit product published, consumer/analyst1 approved."""
    home: Path = tmp_path_factory.mktemp("console") / "home"
    run(home, console=Console(file=io.StringIO()), ml=False)
    mesh = meshlake.connect(home, allowed_roots=[])
    yield mesh
    mesh.close()


@pytest.fixture(scope="module")
def credit_app(credit: meshlake.Mesh) -> FastAPI:
    """The server over the credit world."""
    return create_app(credit)


@pytest.fixture(scope="module")
def credit_browser(credit: meshlake.Mesh, credit_app: FastAPI) -> Browser:
    """``credit_browser(principal)``: a signed-in client over the credit world."""
    return lambda principal: sign_in(credit_app, credit, principal)
