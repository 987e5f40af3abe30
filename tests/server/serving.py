"""``meshlake serve`` as a real process for the tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-c", "from meshlake.cli import main; main()"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers its health check."""
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve_process(
    home: Path,
    *,
    args: Sequence[str] = (),
    env: dict[str, str | None] | None = None,
    ready: Callable[[subprocess.Popen[bytes], str], bool] | None = None,
    timeout: float = 60,
    scheme: str = "http",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``meshlake --home HOME serve`` on a free port; yield (base URL, process) once
    ``ready`` (default: the health check answers); stop it afterwards.

    Args:
        env: variables to set (a value of None removes the variable).
        scheme: ``https`` when ``args`` give a certificate (the yielded URL's scheme).
    """
    port = free_port()
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    proc = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"{scheme}://127.0.0.1:{port}"
    check = ready or (lambda _proc, base: healthy(base))
    try:
        deadline = time.monotonic() + timeout
        while not check(proc, url):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"meshlake serve {' '.join(args)} did not come up:\n{out}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
