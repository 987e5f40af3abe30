"""``meshlake serve`` as a real process on 127.0.0.1, used through the SDK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import meshlake

from .world import build_world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    build_world(mesh)
    token = mesh.session("p/admin").tokens.create("p/u", "1h").token
    mesh.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("MESHLAKE_ALLOWED_ROOTS", None)
    cmd = [sys.executable, "-c", "from meshlake.cli import main; main()"]
    proc = subprocess.Popen(
        [*cmd, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"meshlake serve did not come up:\n{out}")
            time.sleep(0.2)
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
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
