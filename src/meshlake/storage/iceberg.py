"""Iceberg tables through pyiceberg's ``SqlCatalog`` on the catalog store's database.

The store decides *who* may do something; this module only does it. Per ARCHITECTURE.md §4,
callers commit the Iceberg side first and the store second, and undo the Iceberg change
(:meth:`TableStore.drop` or :meth:`TableStore.rollback`) if the store write fails.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Sequence
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
)
from pyiceberg.table import Table as IcebergTable
from sqlalchemy import text as sa_text

from meshlake.errors import InvalidInputError, NotFoundError, StorageError
from meshlake.storage.types import arrow_type, duckdb_type_of_iceberg

__all__ = ["ColumnInfo", "PlannedScan", "SnapshotInfo", "TableStore", "rows_to_arrow"]

T = TypeVar("T")
COMMIT_RETRIES = 5
_LOCATION_SQL = sa_text(
    "SELECT metadata_location FROM iceberg_tables "
    "WHERE catalog_name = :catalog AND table_namespace = :ns AND table_name = :name"
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
    """Build an Arrow table from ``{name: sql type}`` and a list of rows."""
    if not columns:
        raise InvalidInputError("a table needs at least one column")
    schema = pa.schema([pa.field(n, arrow_type(t)) for n, t in columns.items()])
    rows = rows or []
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise InvalidInputError(
                f"row {i} has {len(row)} values but the table has {len(columns)} columns"
            )
    try:
        arrays = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)]
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"rows do not fit the columns' types: {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def _retry(fn: Callable[[], T]) -> T:
    for attempt in range(COMMIT_RETRIES):
        try:
            return fn()
        except CommitFailedException:
            if attempt == COMMIT_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


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
        self._plans: dict[tuple[str, int | None], PlannedScan] = {}
        self._tables: dict[str, tuple[str, IcebergTable]] = {}
        self._lock = threading.Lock()

    @property
    def catalog(self) -> SqlCatalog:
        """The pyiceberg SQL catalog (opened on first use)."""
        if self._catalog is None:
            with self._lock:
                if self._catalog is None:
                    self._catalog = SqlCatalog(
                        "meshlake", uri=self.catalog_url, warehouse=self.warehouse
                    )
        return self._catalog

    def load(self, iceberg_id: str) -> IcebergTable:
        """Load a table for reading (``namespace.name``).

        The parsed table is cached and reused while the catalog's metadata location for it
        is unchanged (one indexed lookup), so a query does not re-read the metadata JSON.
        """
        namespace, _, name = iceberg_id.partition(".")
        with self.catalog.engine.connect() as conn:
            location = conn.execute(
                _LOCATION_SQL, {"catalog": self.catalog.name, "ns": namespace, "name": name}
            ).scalar()
        if location is None:
            raise NotFoundError(f"table data {iceberg_id} is missing from the warehouse")
        cached = self._tables.get(iceberg_id)
        if cached is not None and cached[0] == location:
            return cached[1]
        table = self._load_fresh(iceberg_id)
        self._tables[iceberg_id] = (table.metadata_location, table)
        return table

    def _load_fresh(self, iceberg_id: str) -> IcebergTable:
        """Load a table from the catalog (for writes: never a shared cached object)."""
        try:
            return self.catalog.load_table(iceberg_id)
        except NoSuchTableError as exc:
            raise NotFoundError(f"table data {iceberg_id} is missing from the warehouse") from exc

    def create(
        self,
        namespace: str,
        name: str,
        schema: pa.Schema,
        location: str,
        data: pa.Table | None = None,
        properties: dict[str, str] | None = None,
    ) -> tuple[str, IcebergTable]:
        """Create a table (and its namespace) and write the initial rows in one commit."""
        if namespace not in {n[0] for n in self.catalog.list_namespaces()}:
            with contextlib.suppress(NamespaceAlreadyExistsError):  # another writer was first
                self.catalog.create_namespace(namespace)
        identifier = f"{namespace}.{name}"
        try:
            table = self.catalog.create_table(
                identifier, schema=schema, location=location, properties=properties or {}
            )
        except Exception as exc:
            raise StorageError(f"could not create table data at {location}: {exc}") from exc
        if data is not None and data.num_rows:
            try:
                table.append(data.cast(table.schema().as_arrow()))
            except Exception as exc:
                self.drop(identifier)
                raise InvalidInputError(f"rows do not fit the table: {exc}") from exc
        return identifier, table

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
            try:
                data2 = data.select([f.name for f in target]).cast(target)
            except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
                raise InvalidInputError(f"rows do not fit the table's schema: {exc}") from exc
            if overwrite:
                table.overwrite(data2, snapshot_properties=dict(properties or {}))
            else:
                table.append(data2, snapshot_properties=dict(properties or {}))
            snap = table.current_snapshot()
            return snap.snapshot_id if snap else None

        return _retry(go)

    def delete_rows(self, iceberg_id: str, predicate: str) -> int | None:
        """Delete the rows matching a pyiceberg filter expression string."""

        def go() -> int | None:
            table = self._load_fresh(iceberg_id)
            table.delete(predicate)
            snap = table.current_snapshot()
            return snap.snapshot_id if snap else None

        return _retry(go)

    def add_columns(self, iceberg_id: str, columns: dict[str, str]) -> None:
        """Add optional columns (a new Iceberg schema)."""
        table = self.load(iceberg_id)
        schema = pa.schema([pa.field(n, arrow_type(t)) for n, t in columns.items()])
        with table.update_schema() as update:
            update.union_by_name(schema)

    def evolve(self, iceberg_id: str, schema: pa.Schema) -> None:
        """Union ``schema`` into the table's schema (new columns, widened types)."""
        table = self._load_fresh(iceberg_id)
        with table.update_schema() as update:
            update.union_by_name(schema)

    def rename_column(self, iceberg_id: str, old: str, new: str) -> None:
        """Rename a column; its field id (and so its data) stays."""
        table = self._load_fresh(iceberg_id)
        with table.update_schema() as update:
            update.rename_column(old, new)

    def rollback(self, iceberg_id: str, snapshot_id: int | None) -> None:
        """Make ``snapshot_id`` current again (undo a write whose store update failed)."""
        if snapshot_id is None:
            return
        table = self._load_fresh(iceberg_id)
        table.manage_snapshots().set_current_snapshot(snapshot_id).commit()

    def drop(self, iceberg_id: str) -> None:
        """Drop the table from the Iceberg catalog (data files are left to the caller)."""
        with contextlib.suppress(NoSuchTableError):
            self.catalog.drop_table(iceberg_id)
        self._plans = {k: v for k, v in self._plans.items() if k[0] != iceberg_id}

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
            for task in table.scan(snapshot_id=snapshot_id).plan_files():
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
