"""The :class:`QueryCatalog` of a mesh: resolves table references for one principal.

It is the seam between governance (which computes the table policy) and the query layer
(which enforces it at the scan); see ARCHITECTURE.md §5.
"""

from __future__ import annotations

from datetime import datetime

from meshlake.errors import NotFoundError
from meshlake.governance.state import GovernanceState
from meshlake.query.context import ResolvedTable, ScanColumn, TableScan
from meshlake.service.runtime import MeshRuntime

__all__ = ["MeshQueryCatalog"]


class MeshQueryCatalog:
    """Resolves ``database.table`` (or a default database's ``table``) for a principal.

    One catalog serves one query: it takes one governance snapshot on first use and decides
    every table of the query on it (one version check per query, not one per step).
    """

    def __init__(self, runtime: MeshRuntime, principal: str) -> None:
        self.rt = runtime
        self.principal = principal
        self.account = principal.split("/", 1)[0]
        self._state: GovernanceState | None = None

    def state(self) -> GovernanceState:
        """The governance snapshot this query is decided on."""
        if self._state is None:
            self._state = self.rt.engine.state()
        return self._state

    def _database_name(self, st: GovernanceState, name: str) -> str:
        """The catalog spelling of a database named case-insensitively (SQL is)."""
        if (self.account, name) in st.db_by_name:
            return name
        lowered = name.lower()
        for (account, db_name), db_id in st.db_by_name.items():
            if (
                account == self.account
                and db_name.lower() == lowered
                and self.rt.engine.database_visible(st, self.principal, st.databases[db_id])
            ):
                return db_name
        return name

    def _table_name(self, st: GovernanceState, database: str, name: str) -> str:
        rt = self.rt.engine.resolve_table(st, self.principal, database, name)
        if rt is not None:
            return name
        db = self.rt.engine.find_database(st, self.principal, database)
        if db is not None and db.is_link:
            db = self.rt.engine.link_target(st, db)
        if db is None:
            return name
        lowered = name.lower()
        for tid in st.tables_of_db.get(db.id, ()):
            real = st.tables[tid].name
            if real.lower() == lowered and self.rt.engine.resolve_table(
                st, self.principal, database, real
            ):
                return real  # only a visible table's spelling: errors must not reveal others
        return name

    def resolve(self, database: str | None, table: str) -> ResolvedTable:
        """Resolve a table reference with the principal's policy.

        Raises:
            NotFoundError: missing or invisible (same message either way).
            AccessDeniedError: visible without SELECT.
        """
        if database is None:
            raise NotFoundError(
                f"table {table} not found: name it as database.table or pass database=..."
            )
        st = self.state()
        db_name = self._database_name(st, database)
        t_name = self._table_name(st, db_name, table)
        policy, rt = self.rt.engine.table_policy(self.principal, db_name, t_name, st=st)
        columns = tuple(
            ScanColumn(n, f, t)
            for n, f, t in zip(rt.table.columns, rt.table.field_ids, rt.table.types, strict=True)
        )
        return ResolvedTable(policy.table, rt.link.name if rt.link else None, policy, columns)

    def scan(
        self,
        table: ResolvedTable,
        *,
        snapshot_id: int | None = None,
        as_of: datetime | None = None,
    ) -> TableScan:
        """Plan the read of the current, a given, or the as-of snapshot.

        Raises:
            NotFoundError: the table was dropped since it was resolved.
        """
        st = self.state()
        ref = table.ref
        db_id = st.db_by_name.get((ref.account, ref.database))
        tid = None if db_id is None else st.table_by_name.get((db_id, ref.name))
        if tid is None:
            raise NotFoundError(
                f"table {ref.database}.{ref.name} not found (it was dropped while the query "
                "was planned)"
            )
        planned = self.rt.tables.plan(
            st.tables[tid].iceberg_id, snapshot_id=snapshot_id, as_of=as_of
        )
        return TableScan(ref, planned.snapshot_id, planned.files, table.columns)
