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
    unset = {"MESHLAKE_ALLOWED_ROOTS": None, "MESHLAKE_WEBHOOK_ALLOWED_HOSTS": None}
    with serve_process(home, env=unset) as (url, _):
        remote = meshlake.connect(url, token=token)
        analyst = remote.session()
        assert analyst.principal == "p/u"
        result = analyst.query("SELECT id, amount FROM sales.orders ORDER BY id")
        assert result.rows() == [(1, 10.0), (3, 30.0)]
        with pytest.raises(meshlake.NotFoundError):
            analyst.query("SELECT ssn FROM sales.orders")
        with pytest.raises(meshlake.InvalidInputError):  # the server allows no folder
            remote.session().catalog.create_database("x", location=str(tmp_path))
        with pytest.raises(meshlake.InvalidInputError, match="public addresses only"):
            analyst.events.subscribe(type="table.*", url=f"{url}/v1/session")  # its own port
        assert analyst.events.subscriptions() == []
        remote.close()
        with pytest.raises(meshlake.AuthenticationError):
            meshlake.connect(url, token="mlk_0000000000000000_" + "x" * 43).session()
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "meshlake"
