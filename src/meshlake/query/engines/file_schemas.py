"""What each Parquet data file holds: its top-level columns' names, field ids and types.

The governed views read files by Iceberg field id (``read_parquet(..., schema=MAP {...})``)
so that renamed columns keep their values and older files give NULL for newer columns. That
mapping has a price in DuckDB: it binds slower, and it hides the string statistics DuckDB
uses to plan joins (a 10M x 100k join ran ~1.8x slower through it). When every file of a scan
already has the current schema, names, ids and types alike, reading by name gives exactly
the same values, so the engine asks this cache which case applies.

Data files are immutable (Iceberg never rewrites one in place), so each file's footer is
read once, through DuckDB's ``parquet_schema``, and kept (least recently used first out).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import duckdb

from meshlake.query.context import ScanColumn

__all__ = ["FileColumns", "FileSchemas"]

FileColumns = tuple[tuple[str, int | None, str | None], ...]
"""A file's top-level columns: (name, field id, DuckDB type); nested columns give type None."""


class FileSchemas:
    """Top-level columns of Parquet files, read once per file.

    Args:
        size: how many files to remember.
    """

    def __init__(self, size: int = 65536) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._files: OrderedDict[str, FileColumns] = OrderedDict()
        self._conn: duckdb.DuckDBPyConnection | None = None

    def columns(self, paths: Sequence[str]) -> list[FileColumns]:
        """The top-level columns of each file (local absolute paths), in order.

        Raises:
            duckdb.Error: a file is missing or not Parquet.
        """
        with self._lock:
            missing = [p for p in dict.fromkeys(paths) if p not in self._files]
            if missing:
                self._read(missing)
            for p in paths:
                self._files.move_to_end(p)
            return [self._files[p] for p in paths]

    def _read(self, paths: list[str]) -> None:
        if self._conn is None:
            self._conn = duckdb.connect(
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
            )
        rows = self._conn.execute(
            "SELECT file_name, name, num_children, field_id, duckdb_type FROM parquet_schema(?)",
            [paths],
        ).fetchall()
        by_file: dict[str, list[tuple[str, int | None, int | None, str | None]]] = {}
        for file_name, name, children, field_id, duckdb_type in rows:
            by_file.setdefault(file_name, []).append((name, children, field_id, duckdb_type))
        for path in paths:
            self._files[path] = _top_level(by_file.get(path, []))
        while len(self._files) > self._size:
            self._files.popitem(last=False)


def _top_level(
    rows: list[tuple[str, int | None, int | None, str | None]],
) -> FileColumns:
    """The root's children from ``parquet_schema``'s depth-first rows."""
    if not rows:
        return ()
    out = []
    i = 1
    for _ in range(rows[0][1] or 0):
        name, children, field_id, duckdb_type = rows[i]
        out.append((name, field_id, None if children else duckdb_type))
        i += _subtree(rows, i)
    return tuple(out)


def _subtree(rows: list[tuple[str, int | None, int | None, str | None]], i: int) -> int:
    """How many rows the element at ``i`` and its descendants take."""
    size, pending = 0, 1
    while pending:
        pending += (rows[i + size][1] or 0) - 1
        size += 1
    return size


def readable_by_name(columns: Sequence[ScanColumn], files: Sequence[FileColumns]) -> bool:
    """True when reading ``files`` by column name gives what reading by field id would.

    Every file must have the same top-level columns, and each current column must be there
    with its field id and its exact type (no rename, no type promotion, no missing column).
    """
    if not files or any(f != files[0] for f in files[1:]):
        return False
    held = {name: (field_id, kind) for name, field_id, kind in files[0]}
    return all(held.get(c.name) == (c.field_id, c.type) for c in columns)
