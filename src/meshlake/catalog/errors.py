"""SQLAlchemy errors -> the meshlake error tree (the catalog store's one translation point).

Every SQLAlchemy (and DB-API) error that crosses the store's boundary becomes a
:class:`~meshlake.errors.MeshError` whose message names the store and what to check, with
the original error as its cause (``raise ... from exc``):

* a store that cannot be reached or opened (PostgreSQL down, wrong host or port, bad
  credentials, a SQLite file that cannot be opened) -> :class:`StorageError` "unreachable";
* a read-only or full store -> :class:`StorageError` saying so;
* a lock, serialization or deadlock failure, or a unique/foreign-key violation raised by a
  concurrent change -> :class:`ConflictError` saying to retry;
* anything else from the database -> :class:`StorageError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from meshlake.errors import ConflictError, InvalidInputError, MeshError, StorageError

__all__ = [
    "describe_url",
    "guarded_version",
    "store_errors",
    "translate_store_error",
]

T = TypeVar("T")

_BUSY = re.compile(
    r"database is locked|database table is locked|could not serialize|deadlock detected|"
    r"lock timeout|could not obtain lock",
    re.IGNORECASE,
)
_READ_ONLY = re.compile(r"readonly database|read-only|read only", re.IGNORECASE)
_FULL = re.compile(r"database or disk is full|no space left|disk full", re.IGNORECASE)
_CANNOT_OPEN = re.compile(r"unable to open database file", re.IGNORECASE)
_UNREACHABLE = re.compile(
    r"connection (?:failed|refused|timed out)|could not connect|could not translate host|"
    r"server closed the connection|terminating connection|password authentication failed|"
    r"no password supplied|does not exist|no such host|name or service not known|"
    r"the database system is (?:starting up|shutting down)|connection is closed",
    re.IGNORECASE,
)
#: PostgreSQL SQLSTATEs that mean "a concurrent transaction won: retry".
_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})


def describe_url(url: str) -> str:
    """The store URL as it can be shown to a user (password hidden).

    >>> describe_url("postgresql+psycopg://u:secret@db:5432/mesh")
    'postgresql+psycopg://u:***@db:5432/mesh'
    >>> describe_url("sqlite:////home/m/catalog.db")
    'sqlite:////home/m/catalog.db'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the configured catalog URL"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def _sqlite_folder_read_only(url: str) -> bool:
    """A SQLite store whose folder exists but cannot be written (SQLite then cannot even
    open a database in WAL mode)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return False
    folder = os.path.dirname(os.path.abspath(parsed.database))
    return os.path.isdir(folder) and not os.access(folder, os.W_OK)


def _where(url: str) -> str:
    """What to check for an unreachable store."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "check the catalog URL"
    if parsed.get_backend_name() == "sqlite":
        return (
            f"check that the folder of {parsed.database} exists and that the meshlake process "
            "may read and write it"
        )
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    return (
        f"check that PostgreSQL is running and accepts connections at {host}:{port}, and that "
        f"the URL's user, password and database ({parsed.database or '?'}) are right"
    )


def translate_store_error(exc: BaseException, url: str) -> MeshError | None:
    """The meshlake error for a SQLAlchemy error raised by the store at ``url``.

    Args:
        exc: the error SQLAlchemy (or its driver) raised.
        url: the store's URL (shown with the password hidden).

    Returns:
        The error to raise ``from exc``, or None when ``exc`` is not a database error.

    >>> from sqlalchemy.exc import OperationalError
    >>> err = translate_store_error(
    ...     OperationalError("SELECT 1", {}, Exception("attempt to write a readonly database")),
    ...     "sqlite:////m/catalog.db")
    >>> type(err).__name__, err.message.split(":")[0]
    ('StorageError', 'the catalog store sqlite')
    """
    if isinstance(exc, OverflowError):  # the driver refuses a number before SQL runs
        return InvalidInputError(
            "a number in the request is out of range for the catalog store (at most a "
            "signed 64-bit integer): check the ids and values given"
        )
    if isinstance(exc, MeshError) or not isinstance(exc, SQLAlchemyError):
        return None
    shown = describe_url(url)
    detail = _first_line(exc)
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return InvalidInputError(
            f"the catalog URL {shown} cannot be used ({detail}): write sqlite:///path or "
            "postgresql://user@host:port/database"
        )
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate in _RETRY_STATES or _BUSY.search(detail):
        return ConflictError(
            f"the catalog store {shown} is busy with a concurrent change ({detail}): "
            "retry the request"
        )
    if isinstance(exc, IntegrityError):
        return ConflictError(
            f"the change conflicts with one made at the same time ({detail}): retry the request"
        )
    if _READ_ONLY.search(detail) or (_CANNOT_OPEN.search(detail) and _sqlite_folder_read_only(url)):
        return StorageError(
            f"the catalog store {shown} is read-only ({detail}): make the mesh home (or the "
            "database) writable for the meshlake process",
            reason="read_only",
        )
    if _FULL.search(detail):
        return StorageError(
            f"the catalog store {shown} is out of space ({detail}): free disk space and retry",
            reason="full",
        )
    if isinstance(exc, OperationalError) and (
        _UNREACHABLE.search(detail) or _CANNOT_OPEN.search(detail)
    ):
        return StorageError(
            f"the catalog store {shown} is unreachable ({detail}): {_where(url)}",
            reason="unreachable",
        )
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return StorageError(
            f"the catalog store {shown} is unreachable (the connection was lost: {detail}): "
            f"{_where(url)}",
            reason="unreachable",
        )
    return StorageError(f"the catalog store {shown} failed: {detail}")


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Translate the SQLAlchemy errors of the block (see :func:`translate_store_error`).

    Args:
        url: the store's URL (named in messages, password hidden).

    Raises:
        StorageError: the store is unreachable, read-only, full or failed.
        ConflictError: a concurrent change won; retrying may succeed.
        InvalidInputError: the URL names no usable database driver.
    """
    try:
        yield
    except SQLAlchemyError as exc:
        translated = translate_store_error(exc, url)
        if translated is None:
            raise
        raise translated from exc


def guarded_version(version: Callable[[], T], url: str) -> Callable[[], T]:
    """``version`` whose store errors are translated (asked before every decision: a plain
    ``try``, no context manager, on the hot path)."""

    def guarded() -> T:
        try:
            return version()
        except SQLAlchemyError as exc:
            translated = translate_store_error(exc, url)
            if translated is None:
                raise
            raise translated from exc

    return guarded
