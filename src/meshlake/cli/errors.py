"""Every failure of a command as one line: its kind, what went wrong, what to do next.

:func:`describe` turns any exception a command lets through into a :class:`CliFailure`
(kind, message, exit code); the root group prints it as one red line, or as the JSON error
document under ``--json``. A traceback is shown only when ``MESHLAKE_DEBUG`` is set.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshlake.config import ENV_CATALOG_URL, ENV_HOME, Settings
from meshlake.errors import MeshError, StorageError

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "ENV_DEBUG",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "CliFailure",
    "RemoteUnavailableError",
    "describe",
]

ENV_DEBUG = "MESHLAKE_DEBUG"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class RemoteUnavailableError(MeshError):
    """A command the server (or its SDK) does not offer yet, or one that only works on a mesh
    home (``init``, ``serve``, ``worker``, ``repair``)."""

    status = 501
    kind = "not_available_remotely"


@dataclass(frozen=True)
class CliFailure:
    """How one failure is reported: ``error (kind): message`` and the exit code."""

    kind: str
    message: str
    code: int = EXIT_ERROR
    details: dict[str, Any] = field(default_factory=dict)


def describe(exc: BaseException, settings: Settings | None) -> CliFailure:
    """The one-line report of ``exc``.

    Args:
        exc: what a command raised (a :class:`MeshError` or anything else).
        settings: where the mesh was (for hints), when the global options were read.

    >>> describe(KeyboardInterrupt(), None).code
    130
    >>> describe(PermissionError(13, "Permission denied", "/m/catalog.db"), None).kind
    'permission_denied'
    """
    if isinstance(exc, KeyboardInterrupt):
        return CliFailure(
            "interrupted",
            "interrupted: the command stopped, and a change it had not committed was rolled "
            "back (`meshlake audit list` shows what was done)",
            EXIT_INTERRUPTED,
        )
    store_error = _sqlalchemy_error(exc)
    if isinstance(exc, StorageError) and store_error is not None:
        return _store_failure(store_error, settings)
    unreachable = _http_failure(exc)
    if unreachable is not None:
        return unreachable
    if isinstance(exc, MeshError):
        data = exc.to_dict()
        kind, message = data.pop("type"), data.pop("message")
        return CliFailure(kind, message, details=data)
    if store_error is not None:
        return _store_failure(store_error, settings)
    if isinstance(exc, PermissionError):
        where = exc.filename or (settings.home if settings else "the mesh home")
        return CliFailure(
            "permission_denied",
            f"permission denied: {where}: give yourself access to it, or point --home "
            f"(or {ENV_HOME}) at a folder you may write",
        )
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return CliFailure(
            "os_error",
            f"{exc.strerror or exc}{where}: check the path, free space and permissions",
        )
    return CliFailure(
        "internal",
        f"unexpected {type(exc).__name__}: {_first_line(exc)}. This is a meshlake bug: "
        f"please report it with the command you ran (set {ENV_DEBUG}=1 to see the traceback)",
    )


def _sqlalchemy_error(exc: BaseException) -> SQLAlchemyError | None:
    """``exc`` itself when it is an SQLAlchemy error, or (for a :class:`StorageError`) its
    database cause; SQLAlchemy is looked at only when something imported it."""
    if "sqlalchemy" not in sys.modules:  # nothing opened a store: not a store failure
        return None
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if isinstance(exc, StorageError):
        return exc.__cause__ if isinstance(exc.__cause__, DBAPIError) else None
    return exc if isinstance(exc, SQLAlchemyError) else None


def _http_failure(exc: BaseException) -> CliFailure | None:
    """A server that cannot be reached (refused, timed out, a bad address): the SDK's
    :class:`StorageError` with reason ``unreachable``."""
    if not isinstance(exc, StorageError) or "server" not in exc.details:
        return None
    if exc.details.get("reason") != "unreachable":
        return None
    return CliFailure(
        "unreachable",
        f"{_first_line(exc)}; check --url (or MESHLAKE_URL, or the profile's URL) and that "
        "`meshlake serve` runs there",
    )


def _store_failure(exc: SQLAlchemyError, settings: Settings | None) -> CliFailure:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    reason = _first_line(cause)
    if settings is None:
        return CliFailure(
            "storage_error", f"the catalog store failed: {reason}: check --home and the store"
        )
    url = make_url(settings.catalog_url)
    shown = url.render_as_string(hide_password=True)
    if url.drivername.startswith("sqlite"):
        hint = (
            f"check that {settings.home} and its files are writable by you (SQLite writes "
            f"beside its file even to read), or point --home (or {ENV_HOME}) elsewhere"
        )
    else:
        hint = (
            "check that the database server is running and reachable, and that "
            f"{ENV_CATALOG_URL} names the right host, port, user and database"
        )
    return CliFailure("storage_error", f"cannot use the catalog store {shown}: {reason}; {hint}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def debugging() -> bool:
    """True when ``MESHLAKE_DEBUG`` asks for tracebacks."""
    return os.environ.get(ENV_DEBUG, "") not in ("", "0", "false", "no")
