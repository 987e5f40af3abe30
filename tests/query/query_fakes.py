"""A fake QueryCatalog over real Parquet files carrying Iceberg field ids (test helper)."""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from meshlake.errors import AccessDeniedError, NotFoundError
from meshlake.governance.policy import RowRule, TablePolicy, TableRef
from meshlake.query.context import ResolvedTable, ScanColumn, TableScan

ARROW_TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "DECIMAL(10,2)": pa.decimal128(10, 2),
}

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class FakeTable:
    """A table: its schema and its snapshots (id, commit time, files)."""

    ref: TableRef
    columns: list[ScanColumn]
    snapshots: list[tuple[int, datetime, tuple[str, ...]]] = field(default_factory=list)
    policy: TablePolicy | None = None
    visible: bool = True
    select: bool = True


class FakeCatalog:
    """An in-memory QueryCatalog writing Parquet files under ``root``."""

    def __init__(self, root: Path, *, default: str | None = "db", account: str = "acct") -> None:
        self.root = root
        self.default = default
        self.account = account
        self.tables: dict[tuple[str, str], FakeTable] = {}
        self.links: dict[str, str] = {}
        self.resolved: list[tuple[str | None, str]] = []
        self._ids = itertools.count(1000)

    def clone(self) -> FakeCatalog:
        """A copy sharing the data files: tables, snapshots and policies are its own."""
        other = FakeCatalog(self.root, default=self.default, account=self.account)
        other.links = dict(self.links)
        other.tables = {
            key: replace(t, columns=list(t.columns), snapshots=list(t.snapshots))
            for key, t in self.tables.items()
        }
        other._ids = itertools.count(next(copy.copy(self._ids)))
        return other

    # -- building -------------------------------------------------------------------------
    def add_table(
        self, database: str, name: str, types: dict[str, str], rows: dict[str, list[Any]] | None
    ) -> FakeTable:
        """Create a table; ``rows`` (column -> values) becomes its first snapshot."""
        columns = [ScanColumn(col, i + 1, typ) for i, (col, typ) in enumerate(types.items())]
        table = FakeTable(TableRef(self.account, database, name), columns)
        self.tables[(database.lower(), name.lower())] = table
        if rows is not None:
            self.append(database, name, rows)
        return table

    def _write(self, table: FakeTable, rows: dict[str, list[Any]]) -> str:
        fields = []
        arrays = []
        for column in table.columns:
            if column.name not in rows:
                continue
            meta = {b"PARQUET:field_id": str(column.field_id).encode()}
            fields.append(pa.field(column.name, ARROW_TYPES[column.type], metadata=meta))
            arrays.append(pa.array(rows[column.name], type=ARROW_TYPES[column.type]))
        folder = self.root / table.ref.database / table.ref.name / "data"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{uuid.uuid4().hex}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), path)
        return str(path)

    def append(self, database: str, name: str, rows: dict[str, list[Any]]) -> int:
        """Add a data file in a new snapshot; return its id."""
        table = self.tables[(database.lower(), name.lower())]
        previous = table.snapshots[-1][2] if table.snapshots else ()
        snapshot = next(self._ids)
        when = T0 + timedelta(days=len(table.snapshots))
        table.snapshots.append((snapshot, when, (*previous, self._write(table, rows))))
        return snapshot

    def rename_column(self, database: str, name: str, old: str, new: str) -> None:
        """Rename a column (its field id stays)."""
        table = self.tables[(database.lower(), name.lower())]
        table.columns = [replace(c, name=new) if c.name == old else c for c in table.columns]

    def set_policy(
        self,
        database: str,
        name: str,
        columns: list[str] | None = None,
        views: list[list[RowRule]] | None = None,
    ) -> TablePolicy:
        """Restrict what the principal sees of a table."""
        table = self.tables[(database.lower(), name.lower())]
        names = [c.name for c in table.columns]
        visible = tuple(c for c in names if columns is None or c in columns)
        rules = views if views is not None else [[RowRule(frozenset(visible))]]
        table.policy = TablePolicy(table.ref, visible, tuple(tuple(v) for v in rules))
        return table.policy

    # -- QueryCatalog ---------------------------------------------------------------------
    def resolve(self, database: str | None, table: str) -> ResolvedTable:
        self.resolved.append((database, table))
        link = None
        db = database or self.default
        if db is None:
            raise NotFoundError(f"table {table} not found")
        if db in self.links:
            link, db = db, self.links[db]
        found = self.tables.get((db.lower(), table.lower()))
        if found is None or not found.visible:
            raise NotFoundError(f"table {table} not found")
        if not found.select:
            raise AccessDeniedError(f"no SELECT on {table}")
        names = tuple(c.name for c in found.columns)
        policy = found.policy or TablePolicy(found.ref, names, ((RowRule(frozenset(names)),),))
        return ResolvedTable(found.ref, link, policy, tuple(found.columns))

    def scan(
        self,
        table: ResolvedTable,
        *,
        snapshot_id: int | None = None,
        as_of: datetime | None = None,
    ) -> TableScan:
        found = self.tables[(table.ref.database.lower(), table.ref.name.lower())]
        chosen: tuple[int, datetime, tuple[str, ...]] | None = None
        if snapshot_id is not None:
            chosen = next((s for s in found.snapshots if s[0] == snapshot_id), None)
            if chosen is None:
                raise NotFoundError(f"snapshot {snapshot_id} not found")
        elif as_of is not None:
            earlier = [s for s in found.snapshots if s[1] <= as_of]
            if not earlier:
                raise NotFoundError("no snapshot at that time")
            chosen = earlier[-1]
        elif found.snapshots:
            chosen = found.snapshots[-1]
        if chosen is None:
            return TableScan(found.ref, None, (), tuple(found.columns))
        return TableScan(found.ref, chosen[0], chosen[2], tuple(found.columns))


PEOPLE: dict[str, list[Any]] = {
    "id": [1, 2, 3, 4, 5, 6],
    "name": ["ann", "bob", "cid", "dan", "eve", "fay"],
    "region": ["us", "eu", "us", "eu", "apac", "us"],
    "ssn": ["111", "222", "333", "444", "555", "666"],
    "amount": [10.0, 950.0, 30.0, 0.0, 500.0, 60.0],
}
PEOPLE_TYPES = {
    "id": "BIGINT",
    "name": "VARCHAR",
    "region": "VARCHAR",
    "ssn": "VARCHAR",
    "amount": "DOUBLE",
}
