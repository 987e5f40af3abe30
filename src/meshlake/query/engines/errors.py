"""DuckDB errors -> the meshlake error tree (the DuckDB engine's one translation point).

DuckDB's messages name the governed views (``__meshlake_scan_N``); the translated messages
name the user's tables instead. File paths and policy text stay in the cause only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from meshlake.errors import InvalidQueryError, MeshError, StorageError
from meshlake.query.columns import column_not_found
from meshlake.query.engines import GovernedScan

__all__ = ["read_failure", "translate_duckdb_error"]

_VIEW_PATTERN = re.compile(r"__meshlake_scan_\d+")
_NOT_FOUND = (
    re.compile(r'Referenced column "(?P<column>[^"]+)" not found'),
    re.compile(r'does not have a column named "(?P<column>[^"]+)"'),
    re.compile(r'Column "(?P<column>[^"]+)" in \w+ list not found'),
    re.compile(r'Column "(?P<column>[^"]+)" does not exist on \w+ side of join'),
    re.compile(r'Referenced table "(?P<table>[^"]+)" not found'),
)


def _first_line(exc: BaseException, scans: Sequence[GovernedScan]) -> str:
    """DuckDB's message, first line only, with view names replaced by table names."""
    names = {gs.view: gs.scan.table.qualified for gs in scans}
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _VIEW_PATTERN.sub(lambda m: names.get(m.group(0), "table"), line)


def read_failure(scans: Sequence[GovernedScan]) -> StorageError:
    """A failure to read the data; DuckDB's message (file paths, policy text) stays in the cause.

    Args:
        scans: the scans the query read.

    Returns:
        A StorageError naming the tables.
    """
    tables = ", ".join(sorted({gs.scan.table.qualified for gs in scans})) or "the tables"
    return StorageError(
        f"could not read the data of {tables}: a data file is missing, damaged or unreadable; "
        "check the table's folder or restore it from a backup (the cause has the details)"
    )


def translate_duckdb_error(exc: duckdb.Error, scans: Sequence[GovernedScan]) -> MeshError:
    """Map a DuckDB error on the user's query to the meshlake error tree.

    Args:
        exc: what DuckDB raised.
        scans: the scans the query read (their view names become table names).

    Returns:
        NotFoundError for an unknown column, StorageError when the data could not be read,
        InvalidQueryError otherwise; raise it ``from exc``.
    """
    message = _first_line(exc, scans)
    if isinstance(exc, duckdb.BinderException | duckdb.CatalogException):
        for pattern in _NOT_FOUND:
            match = pattern.search(str(exc))
            if match and "column" in match.groupdict():
                return column_not_found(match["column"].lower())
            if match:
                return InvalidQueryError(f"table {match['table']} is not in the query")
    if isinstance(exc, duckdb.OutOfMemoryException):
        return InvalidQueryError(f"the query needs more memory than the engine may use: {message}")
    if isinstance(
        exc,
        duckdb.IOException
        | duckdb.PermissionException
        | duckdb.InternalException
        | duckdb.FatalException,
    ):
        return read_failure(scans)
    return InvalidQueryError(f"the query failed: {message}")
