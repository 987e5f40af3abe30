"""Fixtures of the CLI tests: a CliRunner bound to a temporary mesh home."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from meshlake.cli import app

#: Wide enough that rich never folds the values the tests look for.
WIDTH = "200"


@dataclass
class Cli:
    """Runs ``meshlake`` in-process against one home."""

    runner: CliRunner
    home: Path

    def __call__(self, *args: str, as_: str | None = None, json_mode: bool = False,
                 input: str | None = None, code: int | None = 0) -> Result:
        """Invoke ``meshlake [--home H] [--as P] [--json] args``; check the exit code."""
        argv = ["--home", str(self.home)]
        if as_ is not None:
            argv += ["--as", as_]
        if json_mode:
            argv.append("--json")
        result = self.runner.invoke(app, [*argv, *args], input=input,
                                    env={"COLUMNS": WIDTH, "MESHLAKE_PRINCIPAL": None,
                                         "MESHLAKE_HOME": None, "NO_COLOR": "1"})
        if code is not None:
            assert result.exit_code == code, (
                f"meshlake {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, as_: str | None = None, code: int | None = 0) -> Any:
        """Invoke with ``--json`` and parse stdout."""
        return json.loads(self(*args, as_=as_, json_mode=True, code=code).stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI on a fresh (not yet initialised) home."""
    return Cli(CliRunner(), tmp_path / "home")


@pytest.fixture(scope="session")
def accounts_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home made once through the CLI: accounts central (admin central/owner) and
    consumer (admin consumer/admin, user consumer/analyst); no databases yet."""
    cli = Cli(CliRunner(), tmp_path_factory.mktemp("template") / "home")
    cli("init")
    for account, admin in (("central", "owner"), ("consumer", "admin")):
        cli("account", "create", account)
        cli("principal", "create", f"{account}/{admin}")
        cli("account", "set-admins", account, f"{account}/{admin}")
    cli("principal", "create", "consumer/analyst", "--kind", "user")
    return cli.home


@pytest.fixture
def mesh_cli(cli: Cli, accounts_home: Path) -> Cli:
    """The CLI on a private copy of :func:`accounts_home` (it holds no table data, so the
    copy shares no paths with the original)."""
    shutil.copytree(accounts_home, cli.home)
    return cli
