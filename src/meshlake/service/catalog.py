"""Databases, resource links, tables and locations, as a principal sees and changes them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import and_, delete, or_, select

from meshlake.catalog.models import (
    ColumnRow,
    DatabaseRow,
    FilterRow,
    GrantRow,
    LocationRow,
    TableRow,
    TagAssignmentRow,
)
from meshlake.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from meshlake.governance.access import database_access, table_access
from meshlake.governance.engine import ResolvedTable
from meshlake.governance.filters import row_filter_columns
from meshlake.governance.locations import canonical_location, covering_location, is_inside
from meshlake.governance.state import DbInfo, GovernanceState
from meshlake.ids import check_name
from meshlake.inputs import require_arrow_schema, require_arrow_table, require_mapping
from meshlake.resources import Catalog, Location
from meshlake.service.events import database_scope, table_scope
from meshlake.service.intents import (
    INTENT_PROPERTY,
    ROLLED_BACK,
    close_intent,
    open_intent,
    pending_create,
)
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit
from meshlake.storage.iceberg import TableStore, rows_to_arrow
from meshlake.storage.types import duckdb_type_of_arrow

__all__ = ["CatalogAPI", "DatabaseInfo", "TableDescription"]


@dataclass(frozen=True)
class DatabaseInfo:
    """A database or resource link as the caller sees it."""

    name: str
    account: str
    description: str = ""
    location: str | None = None
    link: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class TableDescription:
    """A table's metadata limited to what the caller may see (rule 8)."""

    database: str
    name: str
    account: str
    columns: list[dict[str, Any]]
    location: str
    creator: str
    description: str = ""
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    schema_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        """Visible column names in table order."""
        return [c["name"] for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class DroppedTable:
    """What dropping a table did."""

    table: str
    data_deleted: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


class CatalogAPI(ServiceBase):
    """Databases, links, tables and locations."""

    # ------------------------------------------------------------ helpers
    def _visible_db(self, st: GovernanceState, name: str, account: str | None) -> DbInfo:
        db = self.rt.engine.find_database(st, self.principal, name, account)
        if db is None or not self.rt.engine.database_visible(st, self.principal, db):
            raise NotFoundError(f"database {name} not found")
        return db

    def _target_db(self, st: GovernanceState, name: str, account: str | None) -> DbInfo:
        """A visible database, following a link to its (visible) target."""
        db = self._visible_db(st, name, account)
        if db.is_link:
            target = self.rt.engine.link_target(st, db)
            if target is None or not self.rt.engine.database_visible(st, self.principal, target):
                raise NotFoundError(f"database {name} not found (its link target is not visible)")
            return target
        return db

    def resolve_table(self, database: str, name: str, account: str | None = None) -> ResolvedTable:
        """A table the caller can see (through a link if named so). Raises NotFoundError."""
        st = self.state()
        rt = self.rt.engine.resolve_table(st, self.principal, database, name, account)
        if rt is None:
            raise NotFoundError(f"table {database}.{name} not found")
        return rt

    def _require_table_perm(self, rt: ResolvedTable, perm: str) -> None:
        acc = table_access(self.state(), self.principal, rt.table.id)
        if perm not in acc.perms:
            raise AccessDeniedError(
                f"{perm} on table {rt.database.name}.{rt.table.name} is not granted to "
                f"{self.principal}: ask the table's owner or an admin of {rt.database.account}"
            )

    # ------------------------------------------------------------ databases
    @in_unit
    def create_database(
        self, name: str, description: str = "", location: str | None = None
    ) -> DatabaseInfo:
        """Create a database in the caller's account (needs CREATE_DATABASE, rule 10)."""
        check_name("database", name)
        loc = (
            self.checked_location(location, "a database location") if location is not None else None
        )
        st = self.state()
        self.ensure("CREATE_DATABASE", Catalog())
        if loc is not None:
            self._require_location(st, self.account, loc)
        if (self.account, name) in st.db_by_name:
            raise ConflictError(f"database {name} already exists in account {self.account}")
        with self.change(
            "create_database",
            f"database:{self.account}.{name}",
            [self.account],
            after={"name": name, "location": loc},
        ) as (session, _):
            session.add(
                DatabaseRow(
                    account=self.account,
                    name=name,
                    description=description,
                    location=loc,
                    creator=self.principal,
                    created_at=datetime.now(UTC),
                )
            )
            self.emit(
                "database.created",
                f"/databases/{self.account}/{name}",
                f"database:{self.account}.{name}",
                {"name": name, "account": self.account, "location": loc},
                database_scope(self.account, name),
            )
        return DatabaseInfo(name, self.account, description, loc)

    def _require_location(self, st: GovernanceState, account: str, uri: str) -> None:
        covering = covering_location(st, account, uri)
        if covering is not None and not self.decide(
            "DATA_LOCATION_ACCESS", Location(covering[1], account)
        ):
            raise AccessDeniedError(
                f"{uri} lies inside the registered location {covering[1]}: "
                f"DATA_LOCATION_ACCESS on it is needed (ask an admin of {account})"
            )

    @in_unit
    def create_resource_link(self, name: str, *, account: str, database: str) -> DatabaseInfo:
        """Create a database resource link to another account's database (rule 25)."""
        check_name("resource link", name)
        check_name("account", account)
        check_name("database", database)
        st = self.state()
        self.ensure("CREATE_DATABASE", Catalog())
        if (self.account, name) in st.db_by_name:
            raise ConflictError(f"database or link {name} already exists in {self.account}")
        with self.change(
            "create_link",
            f"link:{self.account}.{name}",
            [self.account],
            after={"name": name, "account": account, "database": database},
        ) as (session, _):
            session.add(
                DatabaseRow(
                    account=self.account,
                    name=name,
                    creator=self.principal,
                    link_account=account,
                    link_database=database,
                    created_at=datetime.now(UTC),
                )
            )
        return DatabaseInfo(name, self.account, link={"account": account, "database": database})

    def get_database(self, name: str, account: str | None = None) -> DatabaseInfo:
        """A database or link the caller can see."""
        db = self._visible_db(self.state(), name, account)
        return _db_info(db)

    def list_databases(self) -> list[DatabaseInfo]:
        """Databases and links the caller can see, in every account (rule 7)."""
        st = self.state()
        out = [
            _db_info(db)
            for db in st.databases.values()
            if self.rt.engine.database_visible(st, self.principal, db)
        ]
        return sorted(out, key=lambda d: (d.account != self.account, d.account, d.name))

    @in_unit
    def drop_database(self, name: str) -> None:
        """Drop an empty database or a link of the caller's account (needs DROP)."""
        st = self.state()
        db = self._visible_db(st, name, None)
        if "DROP" not in database_access(st, self.principal, db.id).perms:
            raise AccessDeniedError(f"DROP on database {name} is not granted to {self.principal}")
        if st.tables_of_db.get(db.id):
            raise ConflictError(f"database {name} still has tables: drop them first")
        with self.change(
            "drop_database",
            f"database:{db.account}.{name}",
            [db.account],
            before=asdict(_db_info(db)),
        ) as (session, _):
            session.execute(
                delete(GrantRow).where(
                    GrantRow.kind.in_(["database", "table_wildcard"]), GrantRow.target_id == db.id
                )
            )
            session.execute(
                delete(TagAssignmentRow).where(
                    TagAssignmentRow.kind == "database", TagAssignmentRow.target_id == db.id
                )
            )
            session.execute(delete(DatabaseRow).where(DatabaseRow.id == db.id))
            self.emit(
                "database.dropped",
                f"/databases/{db.account}/{name}",
                f"database:{db.account}.{name}",
                {"name": name, "account": db.account},
                database_scope(db.account, name),
            )

    # ------------------------------------------------------------ locations
    @in_unit
    def register_location(self, uri: str) -> str:
        """Register a data location with the caller's account (admins only, rule 10)."""
        loc = canonical_location(uri)
        self.rt.managed.require_unmanaged(loc, "a registered location")
        st = self.state()
        if not st.is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may register locations")
        if any(a == self.account and u == loc for a, u in st.locations.values()):
            raise ConflictError(f"location {loc} is already registered")
        with self.change(
            "register_location", f"location:{loc}", [self.account], after={"uri": loc}
        ) as (session, _):
            session.add(LocationRow(account=self.account, uri=loc, registered_by=self.principal))
        return loc

    def list_locations(self) -> list[str]:
        """Locations registered with the caller's account."""
        return sorted(u for a, u in self.state().locations.values() if a == self.account)

    # ------------------------------------------------------------ tables
    def create_table(
        self,
        database: str,
        name: str,
        columns: dict[str, str] | None = None,
        rows: list[list[Any]] | None = None,
        *,
        data: pa.Table | None = None,
        location: str | None = None,
        description: str = "",
        account: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> TableDescription:
        """Create an Iceberg table from ``columns`` + ``rows`` or an Arrow ``data`` table.

        Through a resource link the table lives in the target's account (rule 3).

        Raises:
            NotFoundError: database missing or invisible. InvalidInputError: bad name,
            types or rows. AccessDeniedError: no CREATE_TABLE, or a registered location
            without DATA_LOCATION_ACCESS. ConflictError: the table exists.
        """
        check_name("table", name)
        if columns is not None:
            require_mapping("columns", columns, "{'id': 'bigint', 'name': 'varchar'}")
        if properties is not None:
            require_mapping("properties", properties, "{'owner': 'sales'}")
        if data is None:
            data = rows_to_arrow(columns or {}, rows)
        elif columns is not None or rows is not None:
            raise InvalidInputError("give either columns and rows, or data, not both")
        else:
            data = require_arrow_table("data", data)
        for f in data.schema:
            check_name("column", f.name)
        if len({f.name.lower() for f in data.schema}) != len(data.schema):
            raise InvalidInputError("column names must be unique (case-insensitively)")
        for f in data.schema:
            duckdb_type_of_arrow(f.type)
        with self.unit(bump=False) as unit:  # step 1: authority and the intent, under the lock
            st = self.state()
            db = self._target_db(st, database, account)
            loc = (
                self.checked_location(location, "a table location")
                if location is not None
                else None
            )
            if "CREATE_TABLE" not in database_access(st, self.principal, db.id).perms:
                raise AccessDeniedError(
                    f"CREATE_TABLE on database {database} is not granted to {self.principal}"
                )
            if loc is not None and not (db.location and is_inside(loc, db.location)):
                self._require_location(st, db.account, loc)
            iceberg_id = f"db{db.id}.{name}"
            if (db.id, name) in st.table_by_name or pending_create(unit.session, iceberg_id):
                raise ConflictError(f"table {database}.{name} already exists")
            if loc is None:
                base = db.location or f"{self.rt.tables.warehouse}/{db.account}/{db.name}"
                loc = f"{base}/{name}-{uuid.uuid4().hex[:8]}"
            label = f"table:{db.account}.{db.name}.{name}"
            accounts = [db.account, self.account]
            intent = open_intent(
                unit.session,
                "create_table",
                iceberg_id,
                self.principal,
                {"label": label, "accounts": accounts, "location": loc, "rows": data.num_rows},
            )
        try:  # step 2: Iceberg
            iceberg_id, table = self.rt.tables.create(f"db{db.id}", name, data.schema, loc, data)
            cols = TableStore.columns(table)  # InvalidInputError: a type scans cannot read
        except BaseException:
            self._undo_create(intent, iceberg_id, loc)
            raise
        try:  # step 3: the store rows, the audit event and the intent's completion
            with self.change(
                "create_table",
                label,
                accounts,
                after={"columns": [c.name for c in cols], "location": loc, "rows": data.num_rows},
            ) as (session, _):
                row = TableRow(
                    database_id=db.id,
                    name=name,
                    description=description,
                    creator=self.principal,
                    location=loc,
                    iceberg_id=iceberg_id,
                    properties=dict(properties or {}),
                    created_at=datetime.now(UTC),
                )
                session.add(row)
                session.flush()
                for i, c in enumerate(cols):
                    session.add(
                        ColumnRow(
                            table_id=row.id,
                            position=i,
                            name=c.name,
                            type=c.type,
                            field_id=c.field_id,
                        )
                    )
                close_intent(session, intent)
                self.emit(
                    "table.created",
                    f"/databases/{db.account}/{db.name}",
                    label,
                    {"columns": [c.name for c in cols], "rows": data.num_rows},
                    table_scope(db.account, db.name, name, extra=self.account),
                )
        except BaseException:  # undo the Iceberg side when the store write fails (§4)
            self._undo_create(intent, iceberg_id, loc)
            raise
        return self.get_table(database, name, account=account)

    def _undo_create(self, intent: str, iceberg_id: str, location: str) -> None:
        """Roll back a create whose Iceberg or store step failed (best effort: what cannot
        be undone now stays pending for repair)."""
        try:
            self.rt.tables.undo_create(iceberg_id)  # the entry and the files it wrote
            with self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, ROLLED_BACK)
        except Exception:
            pass

    def get_table(self, database: str, name: str, account: str | None = None) -> TableDescription:
        """A table's visible columns and metadata (rule 8)."""
        rt = self.resolve_table(database, name, account)
        st = self.state()
        acc = table_access(st, self.principal, rt.table.id)
        visible = set(acc.visible_columns(rt.table.columns))
        columns = [
            {"name": n, "type": t}
            for n, t in zip(rt.table.columns, rt.table.types, strict=False)
            if n in visible
        ]
        return TableDescription(
            rt.database.name,
            rt.table.name,
            rt.database.account,
            columns,
            rt.table.location,
            rt.table.creator,
        )

    def describe_table(
        self, database: str, name: str, account: str | None = None
    ) -> TableDescription:
        """:meth:`get_table` plus snapshots and the schema history (visible columns only)."""
        desc = self.get_table(database, name, account)
        rt = self.resolve_table(database, name, account)
        table = self.rt.tables.load(rt.table.iceberg_id)
        visible_ids = {c["name"] for c in desc.columns}
        snapshots = [
            {
                "snapshot_id": s.snapshot_id,
                "parent_id": s.parent_id,
                "timestamp": s.timestamp.isoformat(),
                "operation": s.operation,
                "schema_id": s.schema_id,
                "added_rows": s.summary.get("added-records"),
                "total_rows": s.summary.get("total-records"),
            }
            for s in TableStore.snapshots(table)
        ]
        history = [
            {
                "schema_id": h["schema_id"],
                "columns": [c for c in h["columns"] if c["name"] in visible_ids],
            }
            for h in TableStore.schema_history(table)
        ]
        return TableDescription(
            desc.database,
            desc.name,
            desc.account,
            desc.columns,
            desc.location,
            desc.creator,
            desc.description,
            snapshots,
            history,
        )

    def list_tables(self, database: str, account: str | None = None) -> list[str]:
        """Names of the tables of a database the caller holds some permission on (rule 7)."""
        st = self.state()
        db = self._target_db(st, database, account)
        return sorted(
            st.tables[tid].name
            for tid in st.tables_of_db.get(db.id, ())
            if table_access(st, self.principal, tid).visible
        )

    def drop_table(self, database: str, name: str, account: str | None = None) -> DroppedTable:
        """Drop a table (needs DROP); its grants, filters and tags go with it.

        Its data files are deleted only when they lie in managed storage; a table at an
        external location keeps its files (rule 29), and the answer says which it was.
        """
        with self.unit(bump=False) as unit:
            rt = self.resolve_table(database, name, account)
            self._require_table_perm(rt, "DROP")
            tid = rt.table.id
            label = f"table:{rt.ref.account}.{rt.ref.qualified}"
            with self.change(
                "drop_table",
                label,
                [rt.ref.account, self.account],
                before={"columns": list(rt.table.columns)},
            ) as (session, _):
                # Everything that points at the table, its columns or its data filters goes
                # with it: SQLite hands a dropped row's id to the next row, which must
                # inherit nothing.
                filter_ids = select(FilterRow.id).where(FilterRow.table_id == tid)
                column_ids = select(ColumnRow.id).where(ColumnRow.table_id == tid)
                session.execute(
                    delete(GrantRow).where(
                        or_(
                            and_(GrantRow.kind == "table", GrantRow.target_id == tid),
                            and_(GrantRow.kind == "filter", GrantRow.target_id.in_(filter_ids)),
                        )
                    )
                )
                session.execute(
                    delete(TagAssignmentRow).where(
                        or_(
                            and_(
                                TagAssignmentRow.kind == "table", TagAssignmentRow.target_id == tid
                            ),
                            and_(
                                TagAssignmentRow.kind == "column",
                                TagAssignmentRow.target_id.in_(column_ids),
                            ),
                        )
                    )
                )
                location = session.scalar(select(TableRow.location).where(TableRow.id == tid))
                session.execute(
                    delete(TableRow).where(TableRow.id == tid)
                )  # cascades to columns, filters
                # the Iceberg entry and files go after the commit; repair finishes a drop
                # whose process died before (the name must not stay blocked)
                intent = open_intent(
                    unit.session,
                    "drop_table",
                    rt.table.iceberg_id,
                    self.principal,
                    {"label": label, "location": location},
                )
                self.emit(
                    "table.dropped",
                    f"/databases/{rt.ref.account}/{rt.ref.database}",
                    label,
                    {"table": rt.ref.qualified, "account": rt.ref.account},
                    table_scope(rt.ref.account, rt.ref.database, rt.ref.name, extra=self.account),
                )
        self.rt.tables.drop(rt.table.iceberg_id)
        managed = location is not None and self.rt.managed.is_managed(location)
        if managed and location is not None:
            self.rt.tables.delete_files(location)
        with self.rt.store.transaction(bump=False) as session:
            close_intent(session, intent)
        return DroppedTable(
            rt.ref.qualified,
            data_deleted=managed,
            note=(
                "its data files were deleted (managed storage)"
                if managed
                else "its data files stay at its external location (rule 29)"
            ),
        )

    def evolve_schema(
        self, database: str, name: str, schema: pa.Schema, *, account: str | None = None
    ) -> TableDescription:
        """Union ``schema`` into the table's (new columns, widened types): needs ALTER.

        The change is a new Iceberg schema; old rows read NULL for new columns.
        """
        rt = self.resolve_table(database, name, account)
        require_arrow_schema("schema", schema)
        self._require_table_perm(rt, "ALTER")
        for f in schema:
            check_name("column", f.name)
        if len({f.name.lower() for f in schema}) != len(schema):
            raise InvalidInputError("column names must be unique (case-insensitively)")
        existing = {c.lower(): c for c in rt.table.columns}
        for f in schema:
            known = existing.get(f.name.lower())
            if known is not None and known != f.name:
                # SQL resolves names case-insensitively: two such columns could not be read,
                # and a policy naming one would be applied to both
                raise InvalidInputError(
                    f"column {f.name} differs only in case from column {known}: use {known}"
                )
        self._alter(rt, "alter_table", lambda: self.rt.tables.evolve(rt.table.iceberg_id, schema))
        return self.get_table(database, name, account)

    def rename_column(
        self, database: str, name: str, old: str, new: str, *, account: str | None = None
    ) -> TableDescription:
        """Rename a column (needs ALTER); its field id, data and tags stay.

        Raises:
            ConflictError: the new name is taken, or a grant or data filter names the column
                (they name columns by name: revoke or drop them first).
        """
        rt = self.resolve_table(database, name, account)
        if old not in rt.table.columns:
            raise NotFoundError(f"column {old} not found in {database}.{name}")
        check_name("column", new)
        self._require_table_perm(rt, "ALTER")
        clash = next((c for c in rt.table.columns if c.lower() == new.lower() and c != old), None)
        if clash is not None:  # names are case-insensitive in SQL
            raise ConflictError(
                f"column {clash} already exists in {database}.{name}: choose another name"
            )
        self._alter(
            rt,
            "rename_column",
            lambda: self.rt.tables.rename_column(rt.table.iceberg_id, old, new),
            renamed=old,
        )
        return self.get_table(database, name, account)

    def _refuse_named_column(self, rt: ResolvedTable, column: str) -> None:
        """Refuse to rename a column that grants or data filters name: they name columns by
        name, so a renamed column would drop out of an include list and out of an exclude
        list (becoming visible to whom it was hidden from), and break a row filter.

        Raises:
            ConflictError: naming the grants' grantees and the filters.
        """
        st = self.state()
        low = column.lower()
        grantees = sorted(
            {
                g.grantee
                for g in st.grants_by_id.values()
                if g.kind == "table"
                and g.target_id == rt.table.id
                and low in _lowered(g.spec.get("columns") or g.spec.get("excluded"))
            }
        )
        filters = sorted(
            f.name
            for f in (st.filters[i] for i in st.filters_of_table.get(rt.table.id, ()))
            if low in _lowered(f.columns or f.excluded_columns)
            or (f.row_filter is not None and low in row_filter_columns(f.row_filter))
        )
        if grantees or filters:
            named = [f"grants to {', '.join(grantees)}"] if grantees else []
            named += [f"data filters {', '.join(filters)}"] if filters else []
            raise ConflictError(
                f"column {column} of {rt.ref.database}.{rt.table.name} is named by "
                f"{' and '.join(named)}: they name columns by name, so renaming it would "
                "change what they allow; revoke or drop them, rename, then grant or create "
                "them again with the new name"
            )

    def _alter(
        self,
        rt: ResolvedTable,
        action: str,
        commit: Callable[[], None],
        *,
        renamed: str | None = None,
    ) -> None:
        """One schema change: its intent, the Iceberg ``commit``, then the store's columns.
        A change refused before its commit (InvalidInputError) ends its intent as rolled
        back; any other failure leaves it to repair, which finds out whether it committed."""
        intent = self._alter_intent(rt, action, renamed)
        try:
            commit()
        except InvalidInputError:  # refused before the commit: nothing changed
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, ROLLED_BACK)
            raise
        self._sync_columns(rt, action, intent)

    def _alter_intent(self, rt: ResolvedTable, action: str, renamed: str | None = None) -> str:
        """Commit the intent of a schema change before its Iceberg commit, after checking,
        under the store's write lock, the permission and (for a rename) that no grant or
        filter names the ``renamed`` column."""
        with self.unit(bump=False) as unit:
            if rt.table.id not in self.state().tables:
                raise NotFoundError(f"table {rt.ref.database}.{rt.table.name} not found")
            self._require_table_perm(rt, "ALTER")
            if renamed is not None:
                self._refuse_named_column(rt, renamed)
            return open_intent(
                unit.session,
                action,
                rt.table.iceberg_id,
                self.principal,
                {
                    "label": f"table:{rt.ref.account}.{rt.ref.qualified}",
                    "accounts": [rt.ref.account, self.account],
                    "database": rt.ref.database,
                    "table": rt.table.name,
                    "account": rt.ref.account,
                },
            )

    def _sync_columns(self, rt: ResolvedTable, action: str, intent: str | None = None) -> None:
        """Mirror the Iceberg schema into the store (same field id = same column row), and
        complete the schema change's intent in the same unit of work."""
        cols = TableStore.columns(self.rt.tables.load(rt.table.iceberg_id))
        by_field = dict(zip(rt.table.field_ids, rt.table.column_ids, strict=True))
        with self.change(
            action,
            f"table:{rt.ref.account}.{rt.ref.qualified}",
            [rt.ref.account, self.account],
            before={"columns": list(rt.table.columns)},
            after={"columns": [c.name for c in cols]},
        ) as (session, _):
            for i, c in enumerate(cols):
                row = (
                    session.get(ColumnRow, by_field[c.field_id]) if c.field_id in by_field else None
                )
                if row is None:
                    session.add(
                        ColumnRow(
                            table_id=rt.table.id,
                            position=i,
                            name=c.name,
                            type=c.type,
                            field_id=c.field_id,
                        )
                    )
                else:
                    row.position, row.name, row.type = i, c.name, c.type
            if intent is not None:
                close_intent(session, intent)

    @in_unit
    def set_properties(
        self,
        database: str,
        name: str,
        properties: dict[str, str | None],
        *,
        account: str | None = None,
    ) -> None:
        """Set table properties (needs ALTER); a value of None removes the key."""
        rt = self.resolve_table(database, name, account)
        require_mapping("properties", properties, "{'owner': 'sales'}")
        self._require_table_perm(rt, "ALTER")
        with self.change(
            "set_properties",
            f"table:{rt.ref.account}.{rt.ref.qualified}",
            [rt.ref.account, self.account],
            after=dict(properties),
            bump=False,
        ) as (session, record):
            row = session.get(TableRow, rt.table.id)
            if row is None:
                raise NotFoundError(f"table {database}.{name} not found")
            props = dict(row.properties or {})
            record["before"] = dict(props)
            for k, v in properties.items():
                if v is None:
                    props.pop(k, None)
                else:
                    props[k] = str(v)
            row.properties = props

    def properties(self, database: str, name: str, *, account: str | None = None) -> dict[str, str]:
        """A visible table's properties."""
        rt = self.resolve_table(database, name, account)
        with self.rt.store.read() as session:
            row = session.get(TableRow, rt.table.id)
            return dict(row.properties or {}) if row else {}

    def current_snapshot(
        self, database: str, name: str, *, account: str | None = None
    ) -> int | None:
        """The id of a visible table's current snapshot (None when it has no data)."""
        rt = self.resolve_table(database, name, account)
        snap = self.rt.tables.load(rt.table.iceberg_id).current_snapshot()
        return snap.snapshot_id if snap else None

    # ------------------------------------------------------------ table data
    def append(
        self,
        database: str,
        name: str,
        rows: list[list[Any]] | None = None,
        *,
        data: pa.Table | None = None,
        account: str | None = None,
    ) -> int | None:
        """Append rows (needs INSERT). Returns the new snapshot id."""
        return self._write(database, name, rows, data, account, overwrite=False)

    def overwrite(
        self,
        database: str,
        name: str,
        rows: list[list[Any]] | None = None,
        *,
        data: pa.Table | None = None,
        account: str | None = None,
    ) -> int | None:
        """Replace all rows (needs INSERT and DELETE). Returns the new snapshot id."""
        return self._write(database, name, rows, data, account, overwrite=True)

    def _write(
        self,
        database: str,
        name: str,
        rows: list[list[Any]] | None,
        data: pa.Table | None,
        account: str | None,
        *,
        overwrite: bool,
    ) -> int | None:
        action = "overwrite" if overwrite else "append"
        with self.unit(bump=False) as unit:  # authority and the intent, under the lock
            rt = self.resolve_table(database, name, account)
            if data is not None:
                require_arrow_table("data", data)
            self._require_table_perm(rt, "INSERT")
            if overwrite:
                self._require_table_perm(rt, "DELETE")
            data = self._as_arrow(rt, rows, data)
            label = f"table:{rt.ref.account}.{rt.ref.qualified}"
            accounts = [rt.ref.account, self.account]
            intent = open_intent(
                unit.session,
                action,
                rt.table.iceberg_id,
                self.principal,
                {"label": label, "accounts": accounts, "rows": data.num_rows},
            )
        write = self.rt.tables.overwrite if overwrite else self.rt.tables.append
        try:
            snap = write(rt.table.iceberg_id, data, {INTENT_PROPERTY: intent})
        except BaseException:
            # nothing was committed: the intent ends
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, ROLLED_BACK)
            raise
        # the rows are committed: audit them now (or, if this fails, repair will)
        with self.change(
            action, label, accounts, after={"rows": data.num_rows, "snapshot_id": snap}, bump=False
        ) as (session, _):
            close_intent(session, intent)
            self.emit(
                "table.updated",
                f"/databases/{rt.ref.account}/{rt.ref.database}",
                label,
                {"operation": action, "rows": data.num_rows, "snapshot_id": snap},
                table_scope(rt.ref.account, rt.ref.database, rt.ref.name, extra=self.account),
            )
        return snap

    def _as_arrow(
        self, rt: ResolvedTable, rows: list[list[Any]] | None, data: pa.Table | None
    ) -> pa.Table:
        if data is not None:
            return require_arrow_table("data", data)
        return rows_to_arrow(dict(zip(rt.table.columns, rt.table.types, strict=True)), rows)


def _db_info(db: DbInfo) -> DatabaseInfo:
    link = (
        {"account": db.link_account or "", "database": db.link_database or ""}
        if db.is_link
        else None
    )
    return DatabaseInfo(db.name, db.account, db.description, db.location, link)


def _lowered(names: Any) -> set[str]:
    """Column names in lower case (SQL compares them so); none for ``None``."""
    return {str(n).lower() for n in names or ()}
