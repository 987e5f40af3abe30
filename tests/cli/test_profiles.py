"""Saved server profiles and how a command picks its server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshlake.cli.profiles import Profile, load_profiles, remove_profile, save_profile
from meshlake.cli.state import resolve_connection
from meshlake.errors import AuthenticationError, InvalidInputError, NotFoundError

URL = "http://127.0.0.1:8470"


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "meshlake"


def test_profiles_are_private_and_round_trip(config: Path) -> None:
    assert load_profiles() == {}
    path = save_profile(Profile("default", URL, "mlk_secret", "p/u"))
    assert path == config / "profiles.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o700
    save_profile(Profile("prod", "https://mesh.example.com", "mlk_other"))
    assert sorted(load_profiles()) == ["default", "prod"]
    assert load_profiles()["default"].to_public() == {
        "profile": "default",
        "url": URL,
        "principal": "p/u",
    }
    assert remove_profile("prod") and not remove_profile("prod")
    assert list(load_profiles()) == ["default"]
    assert [p.name for p in config.iterdir()] == ["profiles.json"]  # no temporary left


def test_bad_profiles_are_refused(config: Path) -> None:
    with pytest.raises(InvalidInputError, match="profile name"):
        save_profile(Profile("no spaces", URL, "t"))
    with pytest.raises(InvalidInputError, match="not a server URL"):
        save_profile(Profile("x", "localhost:8470", "t"))
    config.mkdir(parents=True)
    (config / "profiles.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="meshlake login"):
        load_profiles()


def test_which_server() -> None:
    env: dict[str, str] = {}
    assert not resolve_connection(url=None, profile=None, home_named=False, environ=env).remote
    save_profile(Profile("default", URL, "mlk_saved"))
    save_profile(Profile("prod", "https://mesh.example.com", "mlk_prod"))
    # no home named: the default profile
    conn = resolve_connection(url=None, profile=None, home_named=False, environ=env)
    assert (conn.url, conn.token, conn.profile) == (URL, "mlk_saved", "default")
    # a home named: the embedded mesh
    assert not resolve_connection(url=None, profile=None, home_named=True, environ=env).remote
    # a named profile; $MESHLAKE_TOKEN wins over its token
    conn = resolve_connection(url=None, profile="prod", home_named=False, environ=env)
    assert (conn.url, conn.token) == ("https://mesh.example.com", "mlk_prod")
    conn = resolve_connection(
        url=None, profile="prod", home_named=False, environ={"MESHLAKE_TOKEN": "mlk_env"}
    )
    assert conn.token == "mlk_env"
    # a URL alone takes the token of the default profile only when it names the same server
    assert resolve_connection(url=URL + "/", profile=None, home_named=False, environ=env).token
    with pytest.raises(AuthenticationError, match="meshlake login --url http://other:1"):
        resolve_connection(url="http://other:1", profile=None, home_named=False, environ=env)
    with pytest.raises(NotFoundError, match="saved: default, prod"):
        resolve_connection(url=None, profile="nope", home_named=False, environ=env)
    assert "mlk_saved" not in repr(
        resolve_connection(url=None, profile=None, home_named=False, environ=env)
    )
