"""What the query layer needs from the catalog: resolved tables and planned scans.

The governed query pipeline (ARCHITECTURE.md §5) does not know the catalog store. It asks a
:class:`QueryCatalog` to resolve each table reference of a query to a :class:`ResolvedTable`
(the table, the resource link used and the principal's :class:`TablePolicy`) and to plan a
:class:`TableScan` of one Iceberg snapshot (the data files and the schema, read by field id).

Identifier case: DuckDB treats quoted and unquoted identifiers alike, case-insensitively, and
so does meshlake. The query layer passes database and table names to :meth:`QueryCatalog.resolve`
**lower-cased** (sqlglot's DuckDB normalisation); the catalog must compare them
case-insensitively. Column names are matched case-insensitively against
:attr:`ResolvedTable.columns` and the policy's visible columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from meshlake.governance.policy import TablePolicy, TableRef

__all__ = ["QueryCatalog", "ResolvedTable", "ScanColumn", "TableScan"]


@dataclass(frozen=True)
class ScanColumn:
    """One column of a table's current schema.

    Attributes:
        name: the column's current name.
        field_id: its Iceberg field id (Parquet files are read by field id, so a renamed
            column keeps its values and a file written before a column existed yields NULL).
        type: the DuckDB type text (``BIGINT``, ``DOUBLE``, ``VARCHAR``, ``DECIMAL(10,2)``, ...).
    """

    name: str
    field_id: int
    type: str


@dataclass(frozen=True)
class TableScan:
    """A planned read of one Iceberg snapshot of a table.

    Attributes:
        table: the table read.
        snapshot_id: the snapshot read, ``None`` for a table without snapshots (no data).
        files: the snapshot's Parquet data files: local absolute paths or ``file://`` URIs.
        columns: the table's current schema, in table order.
    """

    table: TableRef
    snapshot_id: int | None
    files: tuple[str, ...]
    columns: tuple[ScanColumn, ...]


@dataclass(frozen=True)
class ResolvedTable:
    """A table reference of a query resolved through the principal's visible catalog.

    Attributes:
        ref: the table (in its owning account).
        link: the name of the resource link the query went through, if any.
        policy: what the principal may read (visible columns, row and cell filters).
        columns: the table's full current schema (``policy.columns`` is the visible subset).
    """

    ref: TableRef
    link: str | None
    policy: TablePolicy
    columns: tuple[ScanColumn, ...]


class QueryCatalog(Protocol):
    """The catalog as the query layer sees it, bound to one principal and one query."""

    def resolve(self, database: str | None, table: str) -> ResolvedTable:
        """Resolve ``database.table`` (``database`` None: the query's default database).

        Args:
            database: the database (or database resource link) name, lower-cased, or None.
            table: the table name, lower-cased.

        Returns:
            The resolved table with the principal's policy.

        Raises:
            NotFoundError: the table is missing or invisible (the message must not reveal
                which).
            AccessDeniedError: the table is visible but the principal lacks SELECT.
        """
        ...

    def scan(
        self,
        table: ResolvedTable,
        *,
        snapshot_id: int | None = None,
        as_of: datetime | None = None,
    ) -> TableScan:
        """Plan a read of the current snapshot, or of the one asked for.

        Args:
            table: a table returned by :meth:`resolve`.
            snapshot_id: read this snapshot (``FOR VERSION AS OF``).
            as_of: read the snapshot current at this time (``FOR TIMESTAMP AS OF``).

        Returns:
            The snapshot's data files and the table's current schema.

        Raises:
            NotFoundError: unknown snapshot id, or a time before the first snapshot.
        """
        ...
