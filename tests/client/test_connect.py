"""``meshlake.connect``: embedded for folders, the HTTP SDK for URLs; no web stack on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import meshlake


def test_importing_meshlake_loads_no_web_stack() -> None:
    code = (
        "import sys, meshlake; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'httpx', 'meshlake.client', "
        "'meshlake.server') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=None
    )
    assert out.stdout.strip() == "[]"


def test_urls_need_a_token_and_folders_take_none(tmp_path: object) -> None:
    with pytest.raises(meshlake.InvalidInputError):
        meshlake.connect("http://127.0.0.1:8470")
    with pytest.raises(meshlake.InvalidInputError):
        meshlake.connect(str(tmp_path), token="mlk_x")
    remote = meshlake.connect("http://127.0.0.1:1", token="mlk_x")  # nothing is sent yet
    assert type(remote).__name__ == "RemoteMesh"
    remote.close()
