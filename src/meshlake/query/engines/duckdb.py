"""The DuckDB engine: governed views over Parquet files, in process.

Enforcement (ARCHITECTURE.md §5, measured on DuckDB 2.0.0):

* Each table reference becomes ``CREATE TEMP VIEW <v> AS SELECT <visible columns, cells
  wrapped in CASE WHEN <cell predicate> THEN col END> FROM read_parquet([<planned files>],
  schema=MAP{<field id>: {name, type, default_value}}) WHERE <row predicate>``. Files are
  read by Iceberg field id, so renamed columns keep their values and older files lacking a
  column yield NULL. When every file of a scan already holds the current schema (names,
  field ids and types: the usual case), the files are read by name instead, which gives the
  same values and lets DuckDB use the files' statistics to plan (see ``file_schemas``).
* A view whose policy hides rows or masks cells (:func:`needs_barrier`) is a security
  barrier: it ends in ``OFFSET 0``, which no filter crosses, so the user's predicates never
  run on hidden rows, while the files' statistics still reach the optimizer (a ``SECURE``
  view, the earlier form, hides them and many-table joins were planned badly: see
  docs/querying.md). The query's comparisons that cannot raise are copied below the fence
  (:mod:`~meshlake.query.engines.fence`) so the scan still prunes. A fenced plan uses a
  streaming limit, which runs on one thread while insertion order is preserved, so the
  databases set ``preserve_insertion_order=false``. Because the fence does not hide
  statistics, ``stats()`` and ``EXPLAIN`` must stay refused by the analysis. A view whose
  policy admits every row and masks no cell needs no barrier: a plain view.
* The query runs on a connection of its own: a cursor (a separate DuckDB connection with
  its own temporary catalog) of a cached in-memory database. Opening a new database costs
  ~25 ms, a cursor ~0.01 ms; temporary views are private to their connection. Creating the
  views (binding each ``read_parquet``) costs ~2 ms, so a cursor whose query succeeded is
  kept, with its views, for the next query needing exactly the same views (same policy,
  same files).
* The cached databases are locked down before any query runs: ``enable_external_access=false``
  with ``allowed_directories`` set to the directories of the planned data files (reads and
  writes anywhere else fail), ``python_enable_replacements=false`` (no Python variables as
  tables), no extension auto-install or auto-load, ``preserve_insertion_order=false``, then
  ``lock_configuration=true``. One database is kept per set of data directories (least
  recently used first out).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from meshlake.errors import StorageError
from meshlake.query.control import QueryControl
from meshlake.query.engines import Engine, GovernedScan
from meshlake.query.engines.errors import read_failure, translate_duckdb_error
from meshlake.query.engines.fence import pushable_predicates
from meshlake.query.engines.file_schemas import FileSchemas, readable_by_name

__all__ = ["BARRIERS", "DuckDBEngine", "needs_barrier", "view_sql"]

_BASE_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=65536)
def local_path(uri: str) -> str:
    """A data file's local absolute path (``file://`` URIs are decoded; cached: every query
    maps each of its files for the allowed directories, the schema check and the view).

    Raises:
        StorageError: a remote URI (the DuckDB engine loads no extensions).

    >>> local_path("file:///data/t/a%20b.parquet")
    '/data/t/a b.parquet'
    """
    if "://" not in uri:
        return os.path.abspath(uri)
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise StorageError(f"the DuckDB engine reads local files only, not {parsed.scheme}://")
    return os.path.abspath(unquote(parsed.path))


def _projection(gs: GovernedScan) -> str:
    items = []
    for column in gs.visible:
        name = _ident(column.name)
        cell = gs.policy.cell_predicate(column.name)
        if cell is None:
            items.append(name)
        elif cell.strip().upper() == "FALSE":
            items.append(f"CAST(NULL AS {column.type}) AS {name}")
        else:
            items.append(f"CASE WHEN {cell} THEN {name} END AS {name}")
    return ", ".join(items)


def needs_barrier(gs: GovernedScan) -> bool:
    """Does reading this scan need a security barrier?

    Only when the policy hides rows (a row predicate) or cells (a cell predicate on a visible
    column): then a user's predicate evaluated before the policy could reveal a hidden row or
    cell. A policy admitting every row and masking no cell has nothing for a predicate to
    reveal (hidden columns are simply absent from the view), so its view can be a plain one,
    which keeps the files' statistics for the optimizer.

    >>> from meshlake.governance.policy import RowRule, TablePolicy, TableRef
    >>> from meshlake.query.context import ScanColumn, TableScan
    >>> ref, cols = TableRef("a", "d", "t"), (ScanColumn("x", 1, "BIGINT"),)
    >>> def scan(*rules):
    ...     policy = TablePolicy(ref, ("x",), (rules,))
    ...     return GovernedScan("v", TableScan(ref, 1, (), cols), policy, cols)
    >>> needs_barrier(scan(RowRule(frozenset({"x"}))))
    False
    >>> needs_barrier(scan(RowRule(frozenset({"x"}), '"x" > 1')))
    True
    """
    if gs.policy.row_predicate() is not None:
        return True
    return any(gs.policy.cell_predicate(c.name) is not None for c in gs.visible)


#: The forms of the security barrier (see the module docstring).
BARRIERS = ("fence", "secure")


def view_sql(
    gs: GovernedScan,
    *,
    by_name: bool = False,
    barrier: str = "fence",
    pushed: Sequence[str] = (),
) -> str:
    """The ``CREATE TEMP VIEW`` statement of one governed scan.

    When the scan :func:`needs_barrier`, the view is a security barrier: with ``barrier=
    "fence"`` (the default) a plain view ending in ``OFFSET 0``, which no predicate of the
    query can cross (a filter never moves below a LIMIT/OFFSET) while the files' statistics
    still reach the optimizer, with the ``pushed`` comparisons (copied from the query by
    :func:`~meshlake.query.engines.fence.pushable_predicates`: they cannot raise) evaluated
    below it; with ``barrier="secure"`` a ``SECURE`` view, which hides the statistics. A
    scan needing no barrier gets a plain view.

    Args:
        gs: the scan, its policy and its visible columns.
        by_name: read the files by column name; only when every file already has the
            current schema (see :mod:`~meshlake.query.engines.file_schemas`), otherwise
            files are read by Iceberg field id.
        barrier: ``fence`` or ``secure``.
        pushed: predicates over the view's unmasked columns to evaluate below the fence.

    Returns:
        DuckDB SQL creating the view.
    """
    fenced = needs_barrier(gs)
    secure = fenced and barrier == "secure"
    head = f"CREATE TEMP {'SECURE VIEW' if secure else 'VIEW'} {_ident(gs.view)} AS SELECT "
    if not gs.scan.files:
        nulls = ", ".join(f"CAST(NULL AS {c.type}) AS {_ident(c.name)}" for c in gs.visible)
        return head + nulls + " WHERE FALSE"
    files = ", ".join(_literal(local_path(f)) for f in gs.scan.files)
    if by_name:
        source = f"read_parquet([{files}], hive_partitioning=false, union_by_name=false)"
    else:
        fields = ", ".join(
            f"{c.field_id}: {{name: {_literal(c.name)}, type: {_literal(c.type)}, "
            "default_value: NULL}"
            for c in gs.scan.columns
        )
        source = f"read_parquet([{files}], schema=MAP {{{fields}}}, hive_partitioning=false)"
    where = [w for w in (gs.policy.row_predicate(),) if w]
    if fenced and not secure:
        where += [f"({p})" for p in pushed]
    sql = head + _projection(gs) + f" FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + (" OFFSET 0" if fenced and not secure else "")


def _directories(scans: Sequence[GovernedScan]) -> frozenset[str]:
    dirs = set()
    for gs in scans:
        for uri in gs.scan.files:
            dirs.add(os.path.dirname(local_path(uri)).rstrip("/") + "/")
    return frozenset(dirs)


_RootKey = tuple[frozenset[str], str | None]  # allowed directories, memory limit
_ViewsKey = tuple[_RootKey, tuple[str, ...]]


class _Databases:
    """In-memory DuckDB databases, locked down, one per set of allowed directories and
    memory limit (DuckDB's memory limit is a database setting, locked with the rest).

    Cursors whose governed views are built are kept idle, keyed by their directories and the
    exact ``CREATE VIEW`` statements they ran, and handed to the next query needing the same
    views (same principal policy, same snapshot files): view creation (binding each
    ``read_parquet`` with its schema map) is most of a small query's fixed cost. A cursor
    only ever holds the views its key names, and a query that failed closes its cursor.
    """

    def __init__(self, size: int, idle: int, config: dict[str, Any]) -> None:
        self._size = size
        self._max_idle = idle
        self._config = config
        self._lock = threading.Lock()
        self._roots: OrderedDict[_RootKey, duckdb.DuckDBPyConnection] = OrderedDict()
        self._idle: OrderedDict[_ViewsKey, list[duckdb.DuckDBPyConnection]] = OrderedDict()
        self._idle_count = 0

    def _open(self, root_key: _RootKey) -> duckdb.DuckDBPyConnection:
        directories, memory_limit = root_key
        config = {**_BASE_CONFIG, **self._config}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        root = duckdb.connect(config=config)
        allowed = ", ".join(_literal(d) for d in sorted(directories))
        root.execute(
            f"SET allowed_directories = [{allowed}]; SET enable_external_access = false; "
            "SET python_enable_replacements = false; SET parquet_metadata_cache = true; "
            "SET preserve_insertion_order = false; "
            "SET lock_configuration = true"
        )
        return root

    def _root(self, root_key: _RootKey) -> duckdb.DuckDBPyConnection:
        root = self._roots.get(root_key)
        if root is None:
            root = self._roots[root_key] = self._open(root_key)
            while len(self._roots) > self._size:
                gone, _ = self._roots.popitem(last=False)  # open cursors keep it alive
                for key in [k for k in self._idle if k[0] == gone]:
                    self._drop(key)
        else:
            self._roots.move_to_end(root_key)
        return root

    def _drop(self, key: _ViewsKey) -> None:
        for cursor in self._idle.pop(key, []):
            self._idle_count -= 1
            cursor.close()

    def checkout(self, key: _ViewsKey) -> tuple[duckdb.DuckDBPyConnection, bool]:
        """A cursor of the database allowed to read ``key``'s directories.

        Returns:
            The cursor, and whether it is new (its views still to be created).
        """
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                self._idle_count -= 1
                cursor = idle.pop()
                if not idle:
                    del self._idle[key]
                return cursor, False
            return self._root(key[0]).cursor(), True

    def checkin(self, key: _ViewsKey, cursor: duckdb.DuckDBPyConnection) -> None:
        """Keep a cursor whose query succeeded for the next query with the same views."""
        with self._lock:
            if self._max_idle <= 0 or key[0] not in self._roots:
                cursor.close()
                return
            self._idle.setdefault(key, []).append(cursor)
            self._idle.move_to_end(key)
            self._idle_count += 1
            while self._idle_count > self._max_idle:
                oldest = next(iter(self._idle))
                cursors = self._idle[oldest]
                cursors.pop(0).close()
                self._idle_count -= 1
                if not cursors:
                    del self._idle[oldest]

    def clear(self) -> None:
        """Forget every database and idle cursor (cursors in use keep theirs until closed)."""
        with self._lock:
            for key in list(self._idle):
                self._drop(key)
            self._roots.clear()


class DuckDBEngine(Engine):
    """Run governed queries on DuckDB in process.

    Args:
        databases: how many locked-down databases (one per set of data directories) to keep.
        idle_cursors: how many cursors with built views to keep for repeated queries
            (0: build the views for every query).
        threads: DuckDB worker threads per database (default: DuckDB's, the core count).
        memory_limit: DuckDB memory limit per database, e.g. ``"4GB"`` (default: DuckDB's).
        barrier: the form of the security barrier of scans that hide rows or cells:
            ``fence`` (``OFFSET 0``, the default) or ``secure`` (a secure view; kept for
            measurement, see docs/querying.md).
        pushdown: copy the query's safe comparisons below the fence (see
            :mod:`~meshlake.query.engines.fence`).
    """

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"

    def __init__(
        self,
        *,
        databases: int = 8,
        idle_cursors: int = 64,
        threads: int | None = None,
        memory_limit: str | None = None,
        barrier: str = "fence",
        pushdown: bool = True,
    ) -> None:
        if barrier not in BARRIERS:
            raise ValueError(f"barrier must be one of {BARRIERS}, not {barrier!r}")
        self._barrier = barrier
        self._pushdown = pushdown and barrier == "fence"
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        self._databases = _Databases(databases, idle_cursors, config)
        self._file_schemas = FileSchemas()

    def _prepare(
        self, sql: str, scans: Sequence[GovernedScan], memory_limit: str | None = None
    ) -> tuple[_ViewsKey, duckdb.DuckDBPyConnection, Any]:
        pushed = self._pushed(sql, scans)
        key: _ViewsKey = (
            (_directories(scans), memory_limit),
            tuple(
                view_sql(
                    gs,
                    by_name=self._by_name(gs, scans),
                    barrier=self._barrier,
                    pushed=pushed.get(gs.view, ()),
                )
                for gs in scans
            ),
        )
        cursor, fresh = self._databases.checkout(key)
        try:
            if fresh and scans:
                cursor.execute("; ".join(key[1]))
        except duckdb.Error as exc:
            cursor.close()
            raise read_failure(scans) from exc
        try:
            return key, cursor, cursor.sql(sql)
        except duckdb.Error as exc:
            cursor.close()
            raise translate_duckdb_error(exc, scans) from exc

    def _pushed(self, sql: str, scans: Sequence[GovernedScan]) -> Mapping[str, tuple[str, ...]]:
        """The query's predicates each fenced view may evaluate below its fence."""
        if not self._pushdown or not any(needs_barrier(gs) for gs in scans):
            return {}
        schema = tuple(
            (
                gs.view,
                tuple(
                    (
                        c.name,
                        c.type,
                        needs_barrier(gs) and gs.policy.cell_predicate(c.name) is None,
                    )
                    for c in gs.visible
                ),
            )
            for gs in scans
        )
        return pushable_predicates(sql, schema)

    def _by_name(self, gs: GovernedScan, scans: Sequence[GovernedScan]) -> bool:
        """May this scan's files be read by column name (they hold the current schema)?"""
        if not gs.scan.files:
            return False
        try:
            files = self._file_schemas.columns([local_path(f) for f in gs.scan.files])
        except duckdb.Error as exc:
            raise read_failure(scans) from exc
        return readable_by_name(gs.scan.columns, files)

    def execute(
        self,
        sql: str,
        scans: Sequence[GovernedScan],
        *,
        memory_limit: str | None = None,
        control: QueryControl | None = None,
    ) -> pa.Table:
        """Run ``sql`` over governed views of ``scans`` (see :meth:`Engine.execute`); a stop
        of ``control`` interrupts the cursor (``connection.interrupt()``)."""
        key, cursor, relation = self._prepare(sql, scans, memory_limit)
        try:
            if control is None:
                table = relation.to_arrow_table()
            else:
                with control.executing_with(cursor.interrupt):
                    table = relation.to_arrow_table()
        except duckdb.Error as exc:
            cursor.close()
            raise translate_duckdb_error(exc, scans) from exc
        except BaseException:
            cursor.close()
            raise
        self._databases.checkin(key, cursor)
        return table

    def stream(
        self,
        sql: str,
        scans: Sequence[GovernedScan],
        *,
        batch_size: int = 65536,
        memory_limit: str | None = None,
    ) -> pa.RecordBatchReader:
        """Run ``sql`` and return a batch reader (see :meth:`Engine.stream`)."""
        key, cursor, relation = self._prepare(sql, scans, memory_limit)
        try:
            reader = relation.to_arrow_reader(batch_size)
        except duckdb.Error as exc:
            cursor.close()
            raise translate_duckdb_error(exc, scans) from exc

        def batches() -> Iterator[pa.RecordBatch]:
            finished = False
            try:
                yield from reader
                finished = True
            except duckdb.Error as exc:
                raise translate_duckdb_error(exc, scans) from exc
            finally:
                if finished:
                    self._databases.checkin(key, cursor)
                else:  # failed or abandoned half-read: never reuse
                    cursor.close()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def close(self) -> None:
        """Drop the cached databases."""
        self._databases.clear()
