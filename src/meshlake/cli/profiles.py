"""Server profiles: a URL and a bearer token saved by ``meshlake login``.

They live in ``profiles.json`` of the user's configuration folder (``typer.get_app_dir``:
``$XDG_CONFIG_HOME/meshlake`` or ``~/.config/meshlake`` on Linux), readable by the user
only: the folder is created with mode 0700 and the file is written with mode 0600. The
token is never printed; :meth:`Profile.to_public` is the form commands show.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from meshlake.errors import InvalidInputError
from meshlake.ids import check_name

__all__ = [
    "DEFAULT_PROFILE",
    "ENV_PROFILE",
    "ENV_TOKEN",
    "ENV_URL",
    "Profile",
    "config_dir",
    "load_profiles",
    "remove_profile",
    "save_profile",
]

ENV_PROFILE = "MESHLAKE_PROFILE"
ENV_URL = "MESHLAKE_URL"
ENV_TOKEN = "MESHLAKE_TOKEN"
DEFAULT_PROFILE = "default"
FILE_NAME = "profiles.json"


@dataclass(frozen=True)
class Profile:
    """One saved server connection."""

    name: str
    url: str
    token: str
    principal: str | None = None

    def to_public(self) -> dict[str, Any]:
        """What may be shown: everything but the token."""
        return {"profile": self.name, "url": self.url, "principal": self.principal}


def config_dir() -> Path:
    """The user's meshlake configuration folder."""
    return Path(typer.get_app_dir("meshlake"))


def _file() -> Path:
    return config_dir() / FILE_NAME


def check_url(url: str) -> str:
    """``url`` without a trailing slash.

    Raises:
        InvalidInputError: not an ``http://`` or ``https://`` URL.

    >>> check_url("http://127.0.0.1:8470/")
    'http://127.0.0.1:8470'
    """
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise InvalidInputError(
            f"{url!r} is not a server URL: write http://HOST:PORT or https://HOST (the "
            "address `meshlake serve` listens on)"
        )
    return url.rstrip("/")


def load_profiles() -> dict[str, Profile]:
    """Every saved profile by name (none when the file does not exist).

    Raises:
        InvalidInputError: the file is not a profiles file (it says which file).
    """
    path = _file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot read the profiles in {path}: {exc}; remove the file and run "
            "`meshlake login` again"
        ) from exc
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict):
        raise InvalidInputError(
            f"{path} holds no profiles: remove it and run `meshlake login` again"
        )
    return {
        name: Profile(name, str(p["url"]), str(p["token"]), p.get("principal"))
        for name, p in profiles.items()
        if isinstance(p, dict) and "url" in p and "token" in p
    }


def _write(profiles: dict[str, Profile]) -> Path:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "profiles": {
            p.name: {"url": p.url, "token": p.token, "principal": p.principal}
            for p in sorted(profiles.values(), key=lambda p: p.name)
        }
    }
    # mkstemp creates the file with mode 0600; the rename replaces the old one at once
    fd, tmp = tempfile.mkstemp(prefix=".profiles-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, folder / FILE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / FILE_NAME


def save_profile(profile: Profile) -> Path:
    """Add or replace a profile; returns the file it is in.

    Raises:
        InvalidInputError: a bad profile name or URL.
    """
    check_name("profile", profile.name)
    check_url(profile.url)
    profiles = load_profiles()
    profiles[profile.name] = profile
    return _write(profiles)


def remove_profile(name: str) -> bool:
    """Forget a profile; False when there was none of that name."""
    profiles = load_profiles()
    if profiles.pop(name, None) is None:
        return False
    _write(profiles)
    return True
