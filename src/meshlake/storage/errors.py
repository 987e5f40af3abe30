"""pyiceberg, pyarrow file system and OS errors -> the meshlake error tree.

The table store's one translation point: every call into pyiceberg (and the files it
reads and writes) runs inside :func:`table_errors`, which re-raises foreign errors as a
:class:`~meshlake.errors.MeshError` naming the user's table and what to do next, with the
original error as the cause. SQLAlchemy errors of pyiceberg's catalog tables go through the
catalog store's translation (:mod:`meshlake.catalog.errors`).
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError as PydanticValidationError
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from sqlalchemy.exc import SQLAlchemyError

from meshlake.catalog.errors import translate_store_error
from meshlake.errors import ConflictError, MeshError, NotFoundError, StorageError

__all__ = ["os_error", "table_errors", "translate_table_error"]

_ERRNO_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"'((?:/|[a-z]+://)[^']+)'")


def _errno(exc: OSError) -> int | None:
    """The error number, also when pyarrow only wrote it into the message."""
    if exc.errno is not None:
        return exc.errno
    match = _ERRNO_TEXT.search(str(exc))
    return int(match.group(1)) if match else None


def _path(exc: OSError, fallback: str | None) -> str:
    """The file named by ``exc`` (pyarrow quotes it in its message), else ``fallback``."""
    if exc.filename:
        return str(exc.filename)
    match = _QUOTED_PATH.search(str(exc))
    return match.group(1) if match else (fallback or "the warehouse")


def os_error(exc: OSError, what: str, path: str | None = None) -> StorageError:
    """A file system error while working on ``what`` (e.g. ``"table sales.orders"``).

    Args:
        exc: the OS (or pyarrow file system) error.
        what: the object being read or written, as the user knows it.
        path: the folder or file concerned, when ``exc`` does not name one.

    Returns:
        A StorageError saying what failed where and what to check.

    >>> os_error(PermissionError(13, "Permission denied", "/w/t"), "table s.t").message
    'cannot write the files of table s.t at /w/t: permission denied; make the folder writable \
for the meshlake process'
    """
    code = _errno(exc)
    where = _path(exc, path)
    if code in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return StorageError(
            f"cannot write the files of {what} at {where}: permission denied; make the "
            "folder writable for the meshlake process",
            reason="permission_denied",
        )
    if code == errno.EROFS:
        return StorageError(
            f"cannot write the files of {what} at {where}: the file system is read-only; "
            "remount it writable or move the warehouse",
            reason="read_only",
        )
    if code in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(
            f"cannot write the files of {what} at {where}: the disk is full; free space and retry",
            reason="full",
        )
    if code in (errno.ENOTDIR, errno.EEXIST) or isinstance(
        exc, NotADirectoryError | FileExistsError
    ):
        return StorageError(
            f"cannot write the files of {what} at {where}: a file stands where a folder is "
            "expected; move it away",
            reason="not_a_folder",
        )
    if code == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return StorageError(
            f"a file of {what} is missing ({where}): its files were moved or deleted; restore "
            "them from a backup, or drop the table and create it again",
            reason="missing_file",
        )
    text = str(exc).strip()
    reason = exc.strerror or (text.splitlines()[0] if text else "I/O error")
    return StorageError(f"cannot read or write the files of {what} at {where}: {reason}")


def translate_table_error(
    exc: BaseException, table: str, *, location: str | None = None, catalog_url: str = ""
) -> MeshError | None:
    """The meshlake error for an error raised while working on ``table``.

    Args:
        exc: what pyiceberg, pyarrow or the OS raised.
        table: the table as the user names it (``database.table``).
        location: the table's folder, for messages.
        catalog_url: the store URL pyiceberg's catalog tables live in.

    Returns:
        The error to raise ``from exc``, or None when ``exc`` is not a storage error.

    >>> from pyiceberg.exceptions import TableAlreadyExistsError
    >>> translate_table_error(TableAlreadyExistsError("Table db1.t already exists"), "s.t")
    ConflictError('table s.t already exists: choose another name, or drop it first')
    """
    if isinstance(exc, MeshError):
        return None
    name = f"table {table}"
    if isinstance(exc, TableAlreadyExistsError | NamespaceAlreadyExistsError):
        return ConflictError(f"{name} already exists: choose another name, or drop it first")
    if isinstance(exc, NoSuchTableError | NoSuchNamespaceError):
        return NotFoundError(f"{name} not found (it was dropped while the request ran)")
    if isinstance(exc, CommitFailedException):
        return ConflictError(
            f"{name} was changed by other writers at the same time and this change could not "
            "be committed: retry the request"
        )
    if isinstance(exc, IcebergValidationError | PydanticValidationError | json.JSONDecodeError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        folder = f" {location}" if location else ""
        return StorageError(
            f"the metadata file of {name} is damaged ({first}): restore the table's "
            f"folder{folder} from a backup, or drop the table and create it again",
            reason="damaged_metadata",
        )
    if isinstance(exc, SQLAlchemyError):
        return translate_store_error(exc, catalog_url)
    if isinstance(exc, OSError):
        return os_error(exc, name, location)
    return None


@contextmanager
def table_errors(
    table: str, *, location: str | None = None, catalog_url: str = ""
) -> Iterator[None]:
    """Translate the storage errors of the block (see :func:`translate_table_error`).

    Args:
        table: the table as the user names it (``database.table``).
        location: the table's folder, for messages.
        catalog_url: the store URL pyiceberg's catalog tables live in.

    Raises:
        ConflictError: the table exists already, or a concurrent commit won.
        NotFoundError: the table's Iceberg entry went away.
        StorageError: damaged metadata, missing files, or a folder that cannot be written.
    """
    try:
        yield
    except Exception as exc:
        translated = translate_table_error(exc, table, location=location, catalog_url=catalog_url)
        if translated is None:
            raise
        raise translated from exc
