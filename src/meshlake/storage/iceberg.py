"""Iceberg tables through pyiceberg's ``SqlCatalog`` on the catalog store's database.

The store decides *who* may do something; this module only does it. Per ARCHITECTURE.md §4,
callers commit the Iceberg side first and the store second, and undo the Iceberg change
(:meth:`TableStore.drop` or :meth:`TableStore.rollback`) if the store write fails.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import fsspec
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    ValidationException,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from pyiceberg.io.pyarrow import UnsupportedPyArrowTypeException
from pyiceberg.table import Table as IcebergTable
from sqlalchemy import select
from sqlalchemy import text as sa_text

from meshlake.catalog.models import DatabaseRow
from meshlake.catalog.probe import ScalarProbe
from meshlake.errors import ConflictError, InvalidInputError, NotFoundError, StorageError
from meshlake.storage.errors import table_errors
from meshlake.storage.types import arrow_type, duckdb_type_of_iceberg

__all__ = ["ColumnInfo", "PlannedScan", "SnapshotInfo", "TableStore", "rows_to_arrow"]

T = TypeVar("T")
#: How long a write keeps retrying commits that lost to a concurrent writer (seconds).
COMMIT_RETRY_SECONDS = 10.0
COMMIT_FIRST_DELAY = 0.02
COMMIT_MAX_DELAY = 1.0
#: Creates remembered for :meth:`TableStore.undo_create` (the newest ones).
MAX_UNDOABLE_CREATES = 256
_NAMESPACE = re.compile(r"^db(\d+)$")
_LOCATION_SQL = (
    "SELECT metadata_location FROM iceberg_tables "
    "WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
)


@dataclass(frozen=True)
class ColumnInfo:
    """A column of an Iceberg schema."""

    name: str
    type: str
    field_id: int
    required: bool = False


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot (version) of a table."""

    snapshot_id: int
    parent_id: int | None
    timestamp: datetime
    operation: str
    schema_id: int | None
    summary: dict[str, str]


@dataclass(frozen=True)
class PlannedScan:
    """The data files of one snapshot (cached per table and snapshot)."""

    snapshot_id: int | None
    files: tuple[str, ...]
    schema_id: int | None


def local_path(uri: str) -> str:
    """``file:///x`` -> ``/x``; other URIs and plain paths unchanged.

    >>> local_path("file:///tmp/a%20b")
    '/tmp/a b'
    """
    if uri.startswith("file://"):
        return unquote(urlparse(uri).path)
    return uri


def rows_to_arrow(columns: dict[str, str], rows: Sequence[Sequence[Any]] | None) -> pa.Table:
    """Build an Arrow table from ``{name: sql type}`` and a list of rows.

    Raises:
        InvalidInputError: ``columns`` is not a mapping, ``rows`` not a list of rows, a row
            has the wrong length, or a value does not fit its column (named).

    >>> rows_to_arrow({"id": "bigint"}, [[1], [2]]).num_rows
    2
    """
    if not isinstance(columns, Mapping):
        raise InvalidInputError(
            f"columns must be a dict of column name to SQL type, e.g. {{'id': 'bigint'}}, "
            f"not a {type(columns).__name__}; to create a table from a DataFrame pass "
            "data=pyarrow.Table.from_pandas(df)",
            parameter="columns",
        )
    if not columns:
        raise InvalidInputError("a table needs at least one column", parameter="columns")
    schema = pa.schema([pa.field(n, arrow_type(t)) for n, t in columns.items()])
    if rows is None:
        rows = []
    if not _row_like(rows):
        hint = " (for a DataFrame pass data=pyarrow.Table.from_pandas(df))"
        raise InvalidInputError(
            f"rows must be a list of rows (each a list of values), not a {type(rows).__name__}"
            + (hint if type(rows).__name__ == "DataFrame" else ""),
            parameter="rows",
        )
    for i, row in enumerate(rows):
        if not _row_like(row):
            raise InvalidInputError(
                f"row {i} must be a list of values, not a {type(row).__name__}",
                parameter="rows",
            )
        if len(row) != len(columns):
            raise InvalidInputError(
                f"row {i} has {len(row)} values but the table has {len(columns)} columns"
            )
    arrays = []
    for i, f in enumerate(schema):
        try:
            arrays.append(pa.array([r[i] for r in rows], type=f.type))
        except (
            pa.ArrowInvalid,
            pa.ArrowTypeError,
            TypeError,
            ValueError,
            OverflowError,
        ) as exc:
            raise InvalidInputError(
                f"values of column {f.name} do not fit its type {columns[f.name]}: {exc}",
                column=f.name,
            ) from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def _row_like(value: object) -> bool:
    """A list-like of values (a list, tuple or array), not text, a dict or a DataFrame."""
    if isinstance(value, str | bytes | Mapping) or type(value).__name__ == "DataFrame":
        return False
    return isinstance(value, Sequence) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__")
    )


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: a random delay up to 20 ms, 40 ms, ... 1 s."""
    return random.uniform(0, min(COMMIT_MAX_DELAY, COMMIT_FIRST_DELAY * 2**attempt))


def _retry(fn: Callable[[], T], table: Callable[[], str]) -> T:
    """Run a commit, retrying it while concurrent writers win, for a bounded time.

    A commit pyiceberg refused after rebasing it on a concurrent writer's
    (``ValidationException``: the other writer added or removed files this one's delete
    covers, as a compaction does) is lost too: it is planned again from the new metadata.

    Raises:
        ConflictError: still losing after :data:`COMMIT_RETRY_SECONDS`.
    """
    deadline = time.monotonic() + COMMIT_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return fn()
        except (CommitFailedException, ValidationException) as exc:
            delay = _backoff(attempt)
            if time.monotonic() + delay > deadline:
                raise ConflictError(
                    f"table {table()} is being changed by other writers and this change could "
                    f"not be committed in {COMMIT_RETRY_SECONDS:g} s ({attempt + 1} attempts): "
                    "retry the request"
                ) from exc
            time.sleep(delay)
            attempt += 1


def _fit(data: pa.Table, target: pa.Schema, table: Callable[[], str]) -> pa.Table:
    """``data`` with the table's columns in its order and types.

    Raises:
        InvalidInputError: a column the table lacks (evolve the schema first), a column
            missing from the rows, or values that do not fit a column's type (all named).
    """
    names = set(target.names)
    extra = [n for n in data.schema.names if n not in names]
    if extra:
        raise InvalidInputError(
            f"column {', '.join(extra)} is not a column of table {table()}: evolve the "
            "table's schema first (catalog.evolve_schema), then write the rows",
            column=extra[0],
        )
    missing = [n for n in target.names if n not in data.schema.names]
    if missing:
        raise InvalidInputError(
            f"the rows lack column {', '.join(missing)} of table {table()}: give every column "
            "(None for no value)",
            column=missing[0],
        )
    columns = []
    for f in target:
        try:
            columns.append(data.column(f.name).cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError) as e:
            raise InvalidInputError(
                f"values of column {f.name} do not fit its type in table {table()}: {e}",
                column=f.name,
            ) from e
    return pa.Table.from_arrays(columns, schema=target)


def _files_under(location: str) -> set[str] | None:
    """The files below a local folder (None: the folder does not exist or is not local)."""
    path = local_path(location)
    if "://" in path or not os.path.isdir(path):
        return None
    return {os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs}


class TableStore:
    """Creates, writes, plans and describes Iceberg tables.

    Args:
        catalog_url: the store's SQLAlchemy URL (the Iceberg catalog shares the database).
        warehouse: URI of the default data folder.
    """

    def __init__(self, catalog_url: str, warehouse: str) -> None:
        self.catalog_url = catalog_url
        self.warehouse = warehouse.rstrip("/")
        self._catalog: SqlCatalog | None = None
        self._probe: ScalarProbe | None = None
        self._plans: dict[tuple[str, int | None], PlannedScan] = {}
        self._tables: dict[str, tuple[str, IcebergTable]] = {}
        self._created: dict[str, tuple[str, set[str] | None]] = {}
        self._lock = threading.Lock()

    @property
    def catalog(self) -> SqlCatalog:
        """The pyiceberg SQL catalog (opened on first use)."""
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    # pre-ping: a pooled connection a server restart killed is replaced, not
                    # handed to the next request (which would fail on it)
                    ping = "false" if self.catalog_url.startswith("sqlite") else "true"
                    self._catalog = SqlCatalog(
                        "meshlake",
                        uri=self.catalog_url,
                        warehouse=self.warehouse,
                        pool_pre_ping=ping,
                    )
        return self._catalog

    def _location_probe(self) -> ScalarProbe:
        """The lookup of a table's current metadata location (asked by every query)."""
        if self._probe is None:
            engine = self.catalog.engine  # opens the catalog (under the same lock)
            with self._lock:
                if self._probe is None:
                    self._probe = ScalarProbe(engine)
        return self._probe

    def close(self) -> None:
        """Release the catalog's connections (the next use reopens them)."""
        if self._probe is not None:
            self._probe.close()
        if self._catalog is not None:
            self._catalog.engine.dispose()

    def label(self, iceberg_id: str) -> str:
        """The table as users name it, ``database.table`` (for messages; best effort).

        Iceberg namespaces are ``db<database id>``; the database's name is read from the
        store, and only the table's name is given when that fails.
        """
        namespace, _, name = iceberg_id.partition(".")
        match = _NAMESPACE.match(namespace)
        if match is None:
            return iceberg_id
        with contextlib.suppress(Exception):  # a message must not fail on a broken store
            with self.catalog.engine.connect() as conn:
                db = conn.execute(
                    select(DatabaseRow.name).where(DatabaseRow.id == int(match.group(1)))
                ).scalar()
            if db is not None:
                return f"{db}.{name}"
        return name

    @contextlib.contextmanager
    def errors(self, iceberg_id: str, location: str | None = None) -> Iterator[None]:
        """Translate pyiceberg, file and catalog errors of the block (see storage.errors)."""
        try:
            yield
        except Exception as exc:
            if isinstance(exc, CommitFailedException | ValidationException | InvalidInputError):
                raise  # retried by _retry / already the caller's error
            with table_errors(
                self.label(iceberg_id), location=location, catalog_url=self.catalog_url
            ):
                raise

    def load(self, iceberg_id: str) -> IcebergTable:
        """Load a table for reading (``namespace.name``).

        The parsed table is cached and reused while the catalog's metadata location for it
        is unchanged (one indexed lookup), so a query does not re-read the metadata JSON.

        Raises:
            NotFoundError: the table's Iceberg entry is gone.
            StorageError: its metadata is damaged or unreadable.
        """
        namespace, _, name = iceberg_id.partition(".")
        probe = self._location_probe()
        with self.errors(iceberg_id):
            location = probe.scalar(probe.sql(_LOCATION_SQL), (self.catalog.name, namespace, name))
        if location is None:
            raise NotFoundError(
                f"table {self.label(iceberg_id)} not found (it was dropped, or its data is "
                "missing from the warehouse)"
            )
        cached = self._tables.get(iceberg_id)
        if cached is not None and cached[0] == location:
            return cached[1]
        table = self._load_fresh(iceberg_id)
        self._tables[iceberg_id] = (table.metadata_location, table)
        return table

    def _load_fresh(self, iceberg_id: str) -> IcebergTable:
        """Load a table from the catalog (for writes: never a shared cached object)."""
        try:
            with self.errors(iceberg_id):
                table = self.catalog.load_table(iceberg_id)
        except NotFoundError as exc:
            raise NotFoundError(
                f"table {self.label(iceberg_id)} not found (it was dropped, or its data is "
                "missing from the warehouse)"
            ) from exc.__cause__
        current = table.metadata.current_snapshot_id
        if current is not None and table.snapshot_by_id(current) is None:
            raise StorageError(
                f"the metadata file of table {self.label(iceberg_id)} names current snapshot "
                f"{current}, which it does not contain: the metadata file is damaged; restore "
                f"the table's folder {table.location()} from a backup, or drop the table and "
                "create it again",
                reason="damaged_metadata",
            )
        return table

    def create(
        self,
        namespace: str,
        name: str,
        schema: pa.Schema,
        location: str,
        data: pa.Table | None = None,
        properties: dict[str, str] | None = None,
    ) -> tuple[str, IcebergTable]:
        """Create a table (and its namespace) and write the initial rows in one commit.

        A failed create leaves nothing behind: no Iceberg entry, and no files in a folder
        it made (in a folder that existed, only the files it wrote go).

        Raises:
            ConflictError: a table of that name exists (perhaps created at the same time).
            InvalidInputError: the rows do not fit the table.
            StorageError: the folder cannot be written.
        """
        identifier = f"{namespace}.{name}"
        before = _files_under(location)
        try:
            with self.errors(identifier, location):
                if namespace not in {n[0] for n in self.catalog.list_namespaces()}:
                    with contextlib.suppress(NamespaceAlreadyExistsError):  # a racing writer
                        self.catalog.create_namespace(namespace)
                with _schema_errors("cannot create the table"):
                    table = self.catalog.create_table(
                        identifier, schema=schema, location=location, properties=properties or {}
                    )
        except BaseException:
            self._remove_new_files(location, before)
            raise
        with self._lock:
            self._created[identifier] = (location, before)
            while len(self._created) > MAX_UNDOABLE_CREATES:  # only the request's undo uses it
                self._created.pop(next(iter(self._created)))
        if data is not None and data.num_rows:
            try:
                with self.errors(identifier, location):
                    try:
                        table.append(data.cast(table.schema().as_arrow()))
                    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                        raise InvalidInputError(f"rows do not fit the table: {exc}") from exc
            except BaseException:
                self.undo_create(identifier)
                raise
        return identifier, table

    def undo_create(self, iceberg_id: str) -> None:
        """Undo :meth:`create` (the store write after it failed): drop the Iceberg entry and
        remove the files the create wrote. Never raises for a missing table or file."""
        with contextlib.suppress(Exception):  # undoing must not hide the original error
            self.drop(iceberg_id)
        with self._lock:
            created = self._created.pop(iceberg_id, None)
        if created is not None:
            self._remove_new_files(*created)

    def _remove_new_files(self, location: str, before: set[str] | None) -> None:
        """Remove what a failed create wrote: the whole folder when it made it.

        Nothing is removed when a table of the catalog lives there now (a create racing
        for the same explicit location won: the folder and its new files are the winner's).
        """
        path = local_path(location)
        if "://" in path or self._location_in_use(location):
            return
        if before is None:
            shutil.rmtree(path, ignore_errors=True)
            return
        for f in (_files_under(location) or set()) - before:
            with contextlib.suppress(OSError):
                os.remove(f)

    def _location_in_use(self, location: str) -> bool:
        """Does a table of the Iceberg catalog keep its metadata under ``location``?"""
        prefix = location.rstrip("/") + "/"
        try:
            with self.catalog.engine.connect() as conn:
                found = conn.execute(
                    sa_text(
                        "SELECT 1 FROM iceberg_tables WHERE catalog_name = :catalog "
                        "AND substr(metadata_location, 1, :n) = :prefix"
                    ),
                    {"catalog": self.catalog.name, "n": len(prefix), "prefix": prefix},
                ).first()
        except Exception:  # cannot tell: keep the files (a leftover folder beats data loss)
            return True
        return found is not None

    def append(
        self, iceberg_id: str, data: pa.Table, properties: dict[str, str] | None = None
    ) -> int | None:
        """Append rows in one commit; returns the new snapshot id.

        ``properties`` go into the snapshot's summary (the intent id, for repair).
        """
        return self._write(iceberg_id, data, overwrite=False, properties=properties)

    def overwrite(
        self, iceberg_id: str, data: pa.Table, properties: dict[str, str] | None = None
    ) -> int | None:
        """Replace all rows in one commit; returns the new snapshot id."""
        return self._write(iceberg_id, data, overwrite=True, properties=properties)

    def _write(
        self,
        iceberg_id: str,
        data: pa.Table,
        *,
        overwrite: bool,
        properties: dict[str, str] | None = None,
    ) -> int | None:
        def go() -> int | None:
            table = self._load_fresh(iceberg_id)
            target = table.schema().as_arrow()
            data2 = _fit(data, target, lambda: self.label(iceberg_id))
            with self.errors(iceberg_id, table.location()):
                if overwrite:
                    table.overwrite(data2, snapshot_properties=dict(properties or {}))
                else:
                    table.append(data2, snapshot_properties=dict(properties or {}))
            snap = table.current_snapshot()
            return snap.snapshot_id if snap else None

        return _retry(go, lambda: self.label(iceberg_id))

    def delete_rows(self, iceberg_id: str, predicate: str) -> int | None:
        """Delete the rows matching a pyiceberg filter expression string."""

        def go() -> int | None:
            table = self._load_fresh(iceberg_id)
            with self.errors(iceberg_id, table.location()):
                table.delete(predicate)
            snap = table.current_snapshot()
            return snap.snapshot_id if snap else None

        return _retry(go, lambda: self.label(iceberg_id))

    def _update_schema(self, iceberg_id: str, change: Callable[[Any], None]) -> None:
        """Commit one schema change, retried against concurrent writers."""

        def go() -> None:
            table = self._load_fresh(iceberg_id)
            with self.errors(iceberg_id, table.location()), table.update_schema() as update:
                change(update)

        _retry(go, lambda: self.label(iceberg_id))

    def add_columns(self, iceberg_id: str, columns: dict[str, str]) -> None:
        """Add optional columns (a new Iceberg schema)."""
        schema = pa.schema([pa.field(n, arrow_type(t)) for n, t in columns.items()])
        self._update_schema(iceberg_id, lambda update: update.union_by_name(schema))

    def evolve(self, iceberg_id: str, schema: pa.Schema) -> None:
        """Union ``schema`` into the table's schema (new columns, widened types).

        The resulting schema is checked before the commit, so a refused change leaves the
        table as it was.

        Raises:
            InvalidInputError: a type Iceberg cannot store or governed scans cannot read
                (nested, union, duration, null ...), or a change of an existing column's
                type that is not a widening (int to bigint, float to double, a decimal's
                precision).
        """

        def change(update: Any) -> None:
            with _schema_errors("cannot change the schema"):
                update.union_by_name(schema)
                result = update._apply()  # the schema the commit would write
            for field in result.fields:
                duckdb_type_of_iceberg(field.field_type)  # InvalidInputError: not readable

        self._update_schema(iceberg_id, change)

    def rename_column(self, iceberg_id: str, old: str, new: str) -> None:
        """Rename a column; its field id (and so its data) stays."""
        self._update_schema(iceberg_id, lambda update: update.rename_column(old, new))

    def rollback(self, iceberg_id: str, snapshot_id: int | None) -> None:
        """Make ``snapshot_id`` current again (undo a write whose store update failed)."""
        if snapshot_id is None:
            return

        def go() -> None:
            table = self._load_fresh(iceberg_id)
            with self.errors(iceberg_id, table.location()):
                table.manage_snapshots().set_current_snapshot(snapshot_id).commit()

        _retry(go, lambda: self.label(iceberg_id))

    def commit(self, iceberg_id: str, change: Callable[[IcebergTable], T]) -> T:
        """Run a metadata change on the table as freshly loaded for it, again (on fresh
        metadata) while concurrent writers win, for a bounded time; its storage errors
        translated. Cached scan plans of the table are forgotten afterwards.

        Raises:
            ConflictError: still losing after :data:`COMMIT_RETRY_SECONDS`.
        """

        def go() -> T:
            table = self._load_fresh(iceberg_id)
            with self.errors(iceberg_id, table.location()):
                return change(table)

        try:
            return _retry(go, lambda: self.label(iceberg_id))
        finally:
            self.forget_plans(iceberg_id)

    def forget_plans(self, iceberg_id: str) -> None:
        """Forget the cached scan plans of a table (after its snapshots or files changed
        other than by a new commit: snapshot expiry, compaction)."""
        with self._lock:
            self._plans = {k: v for k, v in self._plans.items() if k[0] != iceberg_id}

    def drop(self, iceberg_id: str) -> None:
        """Drop the table from the Iceberg catalog (data files are left to the caller)."""
        with self.errors(iceberg_id), contextlib.suppress(NoSuchTableError):
            self.catalog.drop_table(iceberg_id)
        self._plans = {k: v for k, v in self._plans.items() if k[0] != iceberg_id}
        self._tables.pop(iceberg_id, None)

    @staticmethod
    def delete_files(location: str) -> None:
        """Delete a dropped table's folder (managed storage only: the caller checks).

        Raises:
            StorageError: the folder exists but cannot be deleted.
        """
        path = local_path(location)
        if "://" in path:
            fs, root = fsspec.core.url_to_fs(location)
            with contextlib.suppress(FileNotFoundError):
                fs.rm(root, recursive=True)
            return
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(
                f"the table was dropped but its files at {location} could not be deleted: "
                f"{exc.strerror or exc}; remove them by hand or run `meshlake repair`"
            ) from exc

    @staticmethod
    def columns(table: IcebergTable) -> list[ColumnInfo]:
        """The current schema's columns, in order."""
        return [
            ColumnInfo(f.name, duckdb_type_of_iceberg(f.field_type), f.field_id, f.required)
            for f in table.schema().fields
        ]

    def plan(
        self, iceberg_id: str, *, snapshot_id: int | None = None, as_of: datetime | None = None
    ) -> PlannedScan:
        """The data files of the current, a given, or the as-of snapshot (cached)."""
        table = self.load(iceberg_id)
        if as_of is not None:
            ts = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
            snap = table.snapshot_as_of_timestamp(int(ts.timestamp() * 1000))
            if snap is None:
                raise NotFoundError(f"the table has no snapshot at or before {as_of.isoformat()}")
            snapshot_id = snap.snapshot_id
        elif snapshot_id is not None:
            if table.snapshot_by_id(snapshot_id) is None:
                raise NotFoundError(f"snapshot {snapshot_id} not found")
        else:
            current = table.current_snapshot()
            snapshot_id = current.snapshot_id if current else None
        key = (iceberg_id, snapshot_id)
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        if snapshot_id is None:
            planned = PlannedScan(None, (), None)
        else:
            files = []
            with self.errors(iceberg_id, table.location()):
                tasks = list(table.scan(snapshot_id=snapshot_id).plan_files())
            for task in tasks:
                if task.delete_files:
                    raise StorageError(
                        "the table has row-level delete files, which governed scans cannot "
                        "read yet: rewrite the table (overwrite) to compact it"
                    )
                files.append(local_path(task.file.file_path))
            snap = table.snapshot_by_id(snapshot_id)
            planned = PlannedScan(snapshot_id, tuple(files), snap.schema_id if snap else None)
        self._plans[key] = planned
        return planned

    @staticmethod
    def snapshots(table: IcebergTable) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        out = []
        for s in table.snapshots():
            summary = dict(s.summary.additional_properties) if s.summary else {}
            op = s.summary.operation.value if s.summary else ""
            out.append(
                SnapshotInfo(
                    s.snapshot_id,
                    s.parent_snapshot_id,
                    datetime.fromtimestamp(s.timestamp_ms / 1000, UTC),
                    op,
                    s.schema_id,
                    summary,
                )
            )
        return out

    @staticmethod
    def schema_history(table: IcebergTable) -> list[dict[str, Any]]:
        """Every schema the table has had: id and columns."""
        return [
            {
                "schema_id": sid,
                "columns": [
                    {
                        "name": f.name,
                        "type": duckdb_type_of_iceberg(f.field_type),
                        "field_id": f.field_id,
                    }
                    for f in schema.fields
                ],
            }
            for sid, schema in sorted(table.schemas().items())
        ]


@contextlib.contextmanager
def _schema_errors(what: str) -> Iterator[None]:
    """pyiceberg's refusals of an Arrow schema (a type Iceberg cannot store, a change of
    type that is not a widening) as InvalidInputError."""
    advice = (
        "use plain column types (those of table creation) and change a column's type only "
        "to a wider one (integer to bigint, float to double, a decimal's precision up)"
    )
    try:
        yield
    except (UnsupportedPyArrowTypeException, IcebergValidationError) as exc:
        raise InvalidInputError(f"{what}: {_first_line(exc)}; {advice}") from exc
    except (TypeError, ValueError) as exc:  # pyiceberg's type conversion
        raise InvalidInputError(f"{what}: {_first_line(exc)}; {advice}") from exc


def _first_line(exc: BaseException) -> str:
    """An exception's message, first line only."""
    return (str(exc) or type(exc).__name__).splitlines()[0]
