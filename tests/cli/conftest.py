"""Fixtures of the CLI tests: a CliRunner bound to a temporary mesh home."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from .runner import Cli


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
