"""Failures that are not the user's mistake (a read-only home, a store that is down, Ctrl-C,
a bug) still end in one line, or one JSON document, and a non-zero exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import meshlake
from meshlake.cli import app
from meshlake.cli.state import CliState

from .runner import Cli

SRC = Path(meshlake.__file__).resolve().parents[1]
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/meshlake"


def _one_line(text: str) -> str:
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _read_only_prefix(home: Path) -> list[str]:
    """A command prefix that runs what follows with ``home`` read-only: for a normal user,
    its permission bits; for root (who ignores them), a read-only bind mount in a private
    mount namespace."""
    if os.geteuid() != 0:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    unshare = shutil.which("unshare")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    prefix = [unshare or "unshare", "--mount", "sh", "-c", script, str(home)]
    probe = subprocess.run([*prefix, "sh", "-c", f"! touch '{home}/probe'"], capture_output=True)
    if unshare is None or probe.returncode != 0:
        pytest.skip("running as root without mount namespaces: no way to make a folder read-only")
    return prefix


def _run(
    prefix: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    code = "from meshlake.cli import main; main()"
    full_env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "300", "NO_COLOR": "1"}
    full_env.pop("MESHLAKE_CATALOG_URL", None)
    full_env.pop("MESHLAKE_DEBUG", None)
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**full_env, **(env or {})},
        timeout=120,
    )


def test_a_read_only_home_is_one_line_with_what_to_do(mesh_cli: Cli) -> None:
    home = mesh_cli.home
    prefix = _read_only_prefix(home)
    try:
        result = _run(prefix, "--home", str(home), "account", "list")
        assert result.returncode == 1, result.stderr
        line = _one_line(result.stderr)
        assert line.startswith("error (storage_error): cannot use the catalog store"), line
        assert "writable" in line and "--home" in line
        result = _run(prefix, "--home", str(home), "--json", "account", "create", "newone")
        assert result.returncode == 1 and result.stdout == ""
        error = json.loads(result.stderr)["error"]
        assert error["type"] == "storage_error" and "writable" in error["message"]
    finally:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_an_unreachable_postgresql_is_one_line_with_what_to_do(cli: Cli) -> None:
    env = {"MESHLAKE_CATALOG_URL": CLOSED_PORT_URL, "COLUMNS": "300", "MESHLAKE_HOME": None}
    for json_mode in (False, True):
        argv = ["--home", str(cli.home), *(["--json"] if json_mode else []), "init"]
        result = cli.runner.invoke(app, argv, env=env)
        assert result.exit_code == 1 and result.stdout == ""
        if json_mode:
            error = json.loads(result.stderr)["error"]
            assert set(error) == {"type", "message"} and error["type"] == "storage_error"
            line = error["message"]
        else:
            line = _one_line(result.stderr)
        assert "127.0.0.1:1" in line and "MESHLAKE_CATALOG_URL" in line
        assert "running" in line


def test_a_home_that_cannot_be_created_is_one_line(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = cli.runner.invoke(app, ["--home", str(blocker / "home"), "init"])
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    # the mesh translates the OS error into a StorageError that names the folder and the fix
    assert line.startswith("error (storage_error): cannot write the files of the mesh home")
    assert "a file stands where a folder is expected" in line


def test_ctrl_c_is_one_line_and_exit_130(mesh_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: CliState) -> meshlake.Session:
        raise KeyboardInterrupt

    monkeypatch.setattr(CliState, "session", interrupted)
    result = mesh_cli("account", "list", code=130)
    assert _one_line(result.stderr).startswith("error (interrupted): interrupted")
    result = mesh_cli("account", "list", json_mode=True, code=130)
    assert json.loads(result.stderr)["error"]["type"] == "interrupted"


def test_a_bug_is_one_line_that_says_how_to_see_more(
    mesh_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: CliState) -> meshlake.Session:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(CliState, "session", broken)
    line = _one_line(mesh_cli("account", "list", code=1).stderr)
    assert line.startswith("error (internal): unexpected ZeroDivisionError: division by zero")
    assert "MESHLAKE_DEBUG=1" in line
    error = json.loads(mesh_cli("account", "list", json_mode=True, code=1).stderr)["error"]
    assert error["type"] == "internal"
