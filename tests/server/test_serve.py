"""``meshlake serve`` as a real process on 127.0.0.1, used through the SDK."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import meshlake

from .serving import serve_process
from .world import build_world


def test_serve_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    build_world(mesh)
    token = mesh.session("p/admin").tokens.create("p/u", "1h").token
    mesh.close()
    with serve_process(home, env={"MESHLAKE_ALLOWED_ROOTS": None}) as (url, _):
        remote = meshlake.connect(url, token=token)
        analyst = remote.session()
        assert analyst.principal == "p/u"
        result = analyst.query("SELECT id, amount FROM sales.orders ORDER BY id")
        assert result.rows() == [(1, 10.0), (3, 30.0)]
        with pytest.raises(meshlake.NotFoundError):
            analyst.query("SELECT ssn FROM sales.orders")
        with pytest.raises(meshlake.InvalidInputError):  # the server allows no folder
            remote.session().catalog.create_database("x", location=str(tmp_path))
        remote.close()
        with pytest.raises(meshlake.AuthenticationError):
            meshlake.connect(url, token="mlk_0000000000000000_" + "x" * 43).session()
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "meshlake"
