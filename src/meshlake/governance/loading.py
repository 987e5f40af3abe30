"""Reading the governance state from the store: whole, or only what changed.

The first load reads everything in a handful of bulk queries. Afterwards a load starts from
the previous snapshot and re-reads only what the store's change log (``ml_changes``, written
by triggers on every governance table, see ``catalog/store.py``) names above the previous
snapshot's version: a table with its columns, a database, a tag key with its values, the
tag assignments of one target, a filter, a grant, a model group, an account's admins ...;
the tag summaries of the databases those touch are recomputed. Everything else is shared with
the previous snapshot (states are never modified after loading: a dict that changes is copied
first). A load reads everything whole when the log cannot answer: no previous state, a
previous state older than the log's floor (pruned), or more than :data:`DELTA_CHANGES`
entries.

Each load reads one snapshot of the store (:func:`begin_snapshot`), and the state carries
the version that snapshot holds; the result equals a full load at that version
(``tests/governance/test_incremental_property.py``).
"""

from __future__ import annotations

import json
from bisect import insort
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from meshlake.catalog.ml_models import ModelGroupRow
from meshlake.catalog.models import (
    AccountAdminRow,
    AccountRow,
    ChangeRow,
    ColumnRow,
    DatabaseRow,
    FilterRow,
    GrantRow,
    LocationRow,
    MetaRow,
    PrincipalRow,
    TableRow,
    TagAssignmentRow,
    TagKeyRow,
    TagValueRow,
)
from meshlake.catalog.store import FLOOR_KEY, GROUP_OF_TABLE, VERSION_KEY
from meshlake.governance.state import (
    DbInfo,
    FilterInfo,
    GovernanceState,
    GrantInfo,
    ModelGroupInfo,
    TableInfo,
    TagKeyInfo,
)

__all__ = ["GROUPS", "GROUP_FIELDS", "TAG_DERIVED_CACHES", "begin_snapshot", "load_state"]

GROUPS: tuple[str, ...] = ("catalog", "tags", "filters", "grants", "model_groups")
"""The state's groups, in the order a load reads them (tags need the catalog's columns)."""

DELTA_CHANGES = 20_000
"""Above this many change-log entries since the previous state, a load reads everything."""

CHUNK = 500
"""Ids per ``IN`` list when re-reading rows."""


def begin_snapshot(session: Session) -> None:
    """Make every query of a fresh read session see one snapshot of the store.

    PostgreSQL: a ``REPEATABLE READ`` transaction. SQLite: an explicit ``BEGIN`` (the driver
    opens none for reads, so each statement would otherwise see the latest commit).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        session.connection().exec_driver_sql("BEGIN")


def load_state(
    st: GovernanceState, session: Session, previous: GovernanceState | None
) -> GovernanceState:
    """Load the governance state: whole, or ``previous`` plus what the change log names.

    ``st.version`` becomes the version the session's snapshot holds (the store may have moved
    since the caller asked). Runs Core queries (no ORM row processing) and reads JSON columns
    as text, decoding each distinct text once: most grants share their permission lists.
    """
    loader = _Loader(session)
    heads = dict(
        loader.rows(
            select(MetaRow.key, MetaRow.value).where(MetaRow.key.in_((VERSION_KEY, FLOOR_KEY)))
        )
    )
    st.version = int(heads.get(VERSION_KEY, 0))
    changes = None
    if previous is not None and previous.version >= int(heads.get(FLOOR_KEY, 0)):
        changes = loader.changes(previous.version)
    if changes is None or previous is None:
        for group in GROUPS:
            getattr(loader, group)(st)
        st.db_tag_values = _database_tag_values(st)
        st.reloaded, st.changes_read = GROUPS, None
        return st
    _Delta(loader, st, previous, changes).apply()
    return st


_MISSING = object()


def _text(column: Any) -> Any:
    """A JSON column read as its text (decoded by the loader, once per distinct text)."""
    return cast(column, Text)


def _database_tag_values(st: GovernanceState) -> dict[int, dict[int, frozenset[str]]]:
    """Per database, every value each tag key takes on it, its tables or their columns.

    Built with the tags, so that narrowing a principal's tag policies to a database (rule 14)
    never pays for it on a request. Inherited values come from these same assignments.
    """
    out: dict[int, dict[int, set[str]]] = defaultdict(dict)
    for db_id, tags in st.db_tags.items():
        for k, v in tags.items():
            out[db_id].setdefault(k, set()).add(v)
    tables = st.tables
    for tid, tags in st.table_tags.items():
        if tid in tables:
            values = out[tables[tid].database_id]
            for k, v in tags.items():
                values.setdefault(k, set()).add(v)
    for tid, columns in st.column_tags.items():
        if tid in tables:
            values = out[tables[tid].database_id]
            for tags in columns.values():
                for k, v in tags.items():
                    values.setdefault(k, set()).add(v)
    shared: dict[frozenset[str], frozenset[str]] = {}
    return {
        db: {k: shared.setdefault(frozenset(v), frozenset(v)) for k, v in by_key.items()}
        for db, by_key in out.items()
    }


def _index(grants: Sequence[GrantInfo]) -> dict[tuple[str, int], list[GrantInfo]]:
    """One grantee's grants by (kind, target id); tag policies under ("tag_policy", 0)."""
    index: dict[tuple[str, int], list[GrantInfo]] = {}
    for g in grants:
        index.setdefault((g.kind, 0 if g.kind == "tag_policy" else g.target_id), []).append(g)
    return index


def _expression(spec: dict[str, Any]) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """A tag policy's expression as (key id, values) pairs."""
    return tuple((int(k), tuple(v)) for k, v in spec.get("expression", []))


def _tuple_or_none(value: Any) -> tuple[Any, ...] | None:
    return tuple(value) if value is not None else None


def _share(interned: dict[Any, Any], key: Any, make: Callable[[Any], Any]) -> Any:
    """One shared value per distinct ``key`` (equal permission sets are one object)."""
    value = interned.get(key, _MISSING)
    if value is _MISSING:
        value = interned[key] = make(key)
    return value


def _tag_values_of(st: GovernanceState, db_id: int) -> dict[int, frozenset[str]]:
    """One database's entry of :func:`_database_tag_values` (empty: no tag anywhere)."""
    values: dict[int, set[str]] = {}
    for k, v in st.db_tags.get(db_id, {}).items():
        values.setdefault(k, set()).add(v)
    for tid in st.tables_of_db.get(db_id, ()):
        for k, v in st.table_tags.get(tid, {}).items():
            values.setdefault(k, set()).add(v)
        for tags in st.column_tags.get(tid, {}).values():
            for k, v in tags.items():
                values.setdefault(k, set()).add(v)
    return {k: frozenset(v) for k, v in values.items()}


def _column_owner(tables: Iterable[TableInfo]) -> dict[int, tuple[int, str]]:
    """Each column id of ``tables`` -> (table id, column name)."""
    return {
        cid: (t.id, name) for t in tables for cid, name in zip(t.column_ids, t.columns, strict=True)
    }


def _ints(keys: Iterable[str]) -> set[int]:
    return {int(k) for k in keys}


GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "catalog": (
        "accounts",
        "principals",
        "admins",
        "databases",
        "db_by_name",
        "tables",
        "table_by_name",
        "tables_of_db",
        "locations",
    ),
    "tags": (
        "tag_keys",
        "tag_key_by_name",
        "db_tags",
        "table_tags",
        "column_tags",
        "db_tag_values",
    ),
    "filters": ("filters", "filter_by_name", "filters_of_table"),
    "grants": ("grants_by_grantee", "grants_by_id", "grants_index"),
    "model_groups": ("model_groups",),
}
"""The state's fields, by the governance group whose store tables they come from."""

TAG_DERIVED_CACHES = frozenset({"ttags", "okeys", "tsummary", "xdbs", "created_dbs"})
"""Cache entries that depend only on the catalog and the tags (kept across other changes)."""

_TABLE_COLUMNS = (
    TableRow.id,
    TableRow.database_id,
    TableRow.name,
    TableRow.creator,
    TableRow.location,
    TableRow.iceberg_id,
)
_DB_COLUMNS = (
    DatabaseRow.id,
    DatabaseRow.account,
    DatabaseRow.name,
    DatabaseRow.location,
    DatabaseRow.creator,
    DatabaseRow.link_account,
    DatabaseRow.link_database,
    DatabaseRow.description,
)
_ASSIGNMENT = (TagAssignmentRow.target_id, TagAssignmentRow.key_id, TagAssignmentRow.value)


class _Loader:
    """Reads the store for a load: whole groups, or rows by key (bulk Core queries)."""

    def __init__(self, session: Session) -> None:
        self._conn = session.connection()
        self._decoded: dict[str | None, Any] = {None: None}

    def rows(self, stmt: Any) -> Any:
        """Every row of ``stmt`` (one fetchall, not a fetch per row)."""
        return self._conn.execute(stmt).all()

    def rows_in(self, stmt: Any, column: Any, keys: Collection[Any]) -> list[Any]:
        """The rows of ``stmt`` whose ``column`` is one of ``keys`` (in chunks)."""
        ordered = sorted(keys)
        out: list[Any] = []
        for i in range(0, len(ordered), CHUNK):
            out.extend(self.rows(stmt.where(column.in_(ordered[i : i + CHUNK]))))
        return out

    def changes(self, since: int) -> dict[str, set[str]] | None:
        """The change log's entries above version ``since`` (and any still pending), by
        table; None when there are more than :data:`DELTA_CHANGES`."""
        rows = self.rows(
            select(ChangeRow.tbl, ChangeRow.key)
            .where(or_(ChangeRow.version > since, ChangeRow.version < 0))
            .limit(DELTA_CHANGES + 1)
        )
        if len(rows) > DELTA_CHANGES:
            return None
        out: dict[str, set[str]] = defaultdict(set)
        for table, key in rows:
            out[table].add(key)
        return out

    def _js(self, text: str | None) -> Any:
        value = self._decoded.get(text, _MISSING)
        if value is _MISSING:
            value = self._decoded[text] = json.loads(text)  # type: ignore[arg-type]
        return value

    # ------------------------------------------------------------ whole groups
    def catalog(self, st: GovernanceState) -> None:
        """Accounts, principals, admins, databases, tables, columns, locations."""
        conn, rows = self._conn, self.rows
        st.accounts = set(conn.scalars(select(AccountRow.name)))
        st.principals = set(conn.scalars(select(PrincipalRow.id)))
        st.admins = self.admins(rows(select(AccountAdminRow.account, AccountAdminRow.principal)))
        for row in rows(select(*_DB_COLUMNS)):
            db = DbInfo(*row)
            st.databases[db.id] = db
            st.db_by_name[(db.account, db.name)] = db.id
        for lid, account, uri in rows(select(LocationRow.id, LocationRow.account, LocationRow.uri)):
            st.locations[lid] = (account, uri)
        st.tables = self.tables(None)
        for tid, info in st.tables.items():
            st.table_by_name[(info.database_id, info.name)] = tid
            st.tables_of_db[info.database_id].append(tid)

    @staticmethod
    def admins(rows: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
        """(account, principal) rows as each account's admins."""
        admins: dict[str, set[str]] = defaultdict(set)
        for account, principal in rows:
            admins[account].add(principal)
        return {a: frozenset(p) for a, p in admins.items()}

    def tables(self, ids: Collection[int] | None) -> dict[int, TableInfo]:
        """Tables with their columns in order, in id order: all of them, or those with
        ``ids``."""
        col_query = select(
            ColumnRow.id,
            ColumnRow.table_id,
            ColumnRow.position,
            ColumnRow.name,
            ColumnRow.type,
            ColumnRow.field_id,
        )
        table_query = select(*_TABLE_COLUMNS).order_by(TableRow.id)
        if ids is None:
            col_rows, table_rows = self.rows(col_query), self.rows(table_query)
        else:
            col_rows = self.rows_in(col_query, ColumnRow.table_id, ids)
            table_rows = self.rows_in(table_query, TableRow.id, ids)
        cols: dict[int, list[tuple[int, str, int, str, int]]] = defaultdict(list)
        for cid, tid, pos, name, ctype, fid in col_rows:
            cols[tid].append((pos, name, cid, ctype, fid))
        out: dict[int, TableInfo] = {}
        for tid, dbid, name, creator, location, iceberg_id in table_rows:
            ordered = sorted(cols.get(tid, ()))
            out[tid] = TableInfo(
                tid,
                dbid,
                name,
                creator,
                location,
                tuple(c[1] for c in ordered),
                tuple(c[2] for c in ordered),
                tuple(c[3] for c in ordered),
                iceberg_id,
                tuple(c[4] for c in ordered),
            )
        return out

    def tags(self, st: GovernanceState) -> None:
        """The tag ontology and every assignment (needs the catalog's columns); the
        per-database summaries are built by the caller."""
        owner = _column_owner(st.tables.values())
        for info in self.tag_keys(None):
            st.tag_keys[info.id] = info
            st.tag_key_by_name[(info.account, info.key)] = info.id
        for kind, target, key_id, value in self.rows(
            select(TagAssignmentRow.kind, *_ASSIGNMENT).order_by(TagAssignmentRow.id)
        ):
            if kind == "database":
                st.db_tags.setdefault(target, {})[key_id] = value
            elif kind == "table":
                st.table_tags.setdefault(target, {})[key_id] = value
            elif target in owner:
                tid, cname = owner[target]
                st.column_tags.setdefault(tid, {}).setdefault(cname, {})[key_id] = value

    def tag_keys(self, ids: Collection[int] | None) -> list[TagKeyInfo]:
        """Tag keys with their values: all of them, or those with ``ids``."""
        value_query = select(TagValueRow.key_id, TagValueRow.value)
        key_query = select(TagKeyRow.id, TagKeyRow.account, TagKeyRow.key, TagKeyRow.creator)
        if ids is None:
            value_rows, key_rows = self.rows(value_query), self.rows(key_query)
        else:
            value_rows = self.rows_in(value_query, TagValueRow.key_id, ids)
            key_rows = self.rows_in(key_query, TagKeyRow.id, ids)
        values: dict[int, set[str]] = defaultdict(set)
        for key_id, value in value_rows:
            values[key_id].add(value)
        return [TagKeyInfo(k, a, key, frozenset(values[k]), c) for k, a, key, c in key_rows]

    def filters(self, st: GovernanceState) -> None:
        """Data filters."""
        for info in self.filter_infos(None):
            st.filters[info.id] = info
            st.filter_by_name[(info.table_id, info.name)] = info.id
            st.filters_of_table[info.table_id].append(info.id)

    def filter_infos(self, ids: Collection[int] | None) -> list[FilterInfo]:
        """Data filters in id order: all of them, or those with ``ids``."""
        js = self._js
        query = select(
            FilterRow.id,
            FilterRow.table_id,
            FilterRow.name,
            FilterRow.row_filter,
            _text(FilterRow.columns),
            _text(FilterRow.excluded_columns),
            FilterRow.creator,
            FilterRow.row_filter_text,
        ).order_by(FilterRow.id)
        rows = self.rows(query) if ids is None else self.rows_in(query, FilterRow.id, ids)
        return [
            FilterInfo(
                f[0],
                f[1],
                f[2],
                f[3],
                _tuple_or_none(js(f[4])),
                _tuple_or_none(js(f[5])),
                f[6],
                f[7],
            )
            for f in rows
        ]

    def grants(self, st: GovernanceState) -> None:
        """Every grant, by grantee and by id (in id order)."""
        infos = self.grant_infos(None)
        by_grantee: dict[str, list[GrantInfo]] = defaultdict(list)
        for info in infos:
            by_grantee[info.grantee].append(info)
            st.grants_by_id[info.id] = info
        st.grants_by_grantee = dict(by_grantee)
        st.grants_index = {grantee: _index(gs) for grantee, gs in by_grantee.items()}

    def grant_infos(self, ids: Collection[int] | None) -> list[GrantInfo]:
        """Grants in id order: all of them, or those with ``ids``."""
        js = self._js
        query = select(
            GrantRow.id,
            GrantRow.grantee,
            GrantRow.kind,
            GrantRow.target_account,
            GrantRow.target_id,
            _text(GrantRow.spec),
            _text(GrantRow.permissions),
            _text(GrantRow.grantable),
            GrantRow.grantor,
            GrantRow.bounded,
        ).order_by(GrantRow.id)
        rows = self.rows(query) if ids is None else self.rows_in(query, GrantRow.id, ids)
        interned: dict[Any, Any] = {}
        out = []
        for g in rows:
            spec = js(g[5]) or {}
            out.append(
                GrantInfo(
                    g[0],
                    g[1],
                    g[2],
                    g[3],
                    g[4],
                    dict(spec),
                    _share(interned, g[6], lambda t: frozenset(js(t) or ())),
                    _share(interned, g[7], lambda t: frozenset(js(t) or ())),
                    g[8],
                    bool(g[9]),
                    _share(interned, ("expr", g[5]), lambda key: _expression(js(key[1]) or {})),
                )
            )
        return out

    def model_groups(self, st: GovernanceState) -> None:
        """Every model group."""
        st.model_groups = {g.id: g for g in self.model_group_infos(None)}

    def model_group_infos(self, ids: Collection[int] | None) -> list[ModelGroupInfo]:
        """Model groups: all of them, or those with ``ids``."""
        query = select(
            ModelGroupRow.id, ModelGroupRow.account, ModelGroupRow.name, ModelGroupRow.creator
        )
        rows = self.rows(query) if ids is None else self.rows_in(query, ModelGroupRow.id, ids)
        return [ModelGroupInfo(*r) for r in rows]


class _Delta:
    """Applies the change log's entries to a copy of the previous state (see the module
    docstring): each ``_group`` method copies the fields it changes, never the previous
    state's own containers."""

    def __init__(
        self,
        loader: _Loader,
        st: GovernanceState,
        previous: GovernanceState,
        changes: dict[str, set[str]],
    ) -> None:
        self.load, self.st, self.prev, self.changes = loader, st, previous, changes
        self.dirty_tables: set[int] = set()  # tables re-read (their column tags move too)
        self.tag_dbs: set[int] = set()  # databases whose tag summary must be recomputed

    def keys(self, table: str) -> set[str]:
        return self.changes.get(table, set())

    def apply(self) -> None:
        st, prev = self.st, self.prev
        for fields in GROUP_FIELDS.values():
            for name in fields:
                setattr(st, name, getattr(prev, name))
        moved = {GROUP_OF_TABLE[t] for t in self.changes if t in GROUP_OF_TABLE}
        if "catalog" in moved:
            self.catalog()
        if "tags" in moved or self.dirty_tables:
            moved.add("tags")
            self.tags()
        if "filters" in moved:
            self.filters()
        if "grants" in moved:
            self.grants()
        if "model_groups" in moved:
            self.model_groups()
        st.reloaded = tuple(g for g in GROUPS if g in moved)
        st.changes_read = sum(len(k) for k in self.changes.values())
        if not moved:
            st.cache = prev.cache  # the same content: every cached answer still holds
        elif not moved & {"catalog", "tags"}:
            st.cache.update((k, v) for k, v in prev.cache.items() if k[0] in TAG_DERIVED_CACHES)

    # ---------------------------------------------------------------- catalog
    def catalog(self) -> None:
        st, prev, load = self.st, self.prev, self.load
        names = self.keys("ml_accounts")
        if names:
            found = {r[0] for r in load.rows_in(select(AccountRow.name), AccountRow.name, names)}
            st.accounts = (prev.accounts - names) | found
        ids = self.keys("ml_principals")
        if ids:
            found = {r[0] for r in load.rows_in(select(PrincipalRow.id), PrincipalRow.id, ids)}
            st.principals = (prev.principals - ids) | found
        accounts = self.keys("ml_account_admins")
        if accounts:
            rows = load.rows_in(
                select(AccountAdminRow.account, AccountAdminRow.principal),
                AccountAdminRow.account,
                accounts,
            )
            st.admins = {a: p for a, p in prev.admins.items() if a not in accounts}
            st.admins.update(load.admins(rows))
        db_ids = _ints(self.keys("ml_databases"))
        if db_ids:
            st.databases, st.db_by_name = dict(prev.databases), dict(prev.db_by_name)
            for db_id in db_ids:
                old = st.databases.pop(db_id, None)
                if old is not None and st.db_by_name.get((old.account, old.name)) == db_id:
                    del st.db_by_name[(old.account, old.name)]
            for row in load.rows_in(select(*_DB_COLUMNS), DatabaseRow.id, db_ids):
                info = DbInfo(*row)
                st.databases[info.id] = info
                st.db_by_name[(info.account, info.name)] = info.id
        location_ids = _ints(self.keys("ml_locations"))
        if location_ids:
            st.locations = {i: v for i, v in prev.locations.items() if i not in location_ids}
            for lid, account, uri in load.rows_in(
                select(LocationRow.id, LocationRow.account, LocationRow.uri),
                LocationRow.id,
                location_ids,
            ):
                st.locations[lid] = (account, uri)
        table_ids = _ints(self.keys("ml_tables")) | _ints(self.keys("ml_columns"))
        if table_ids:
            self._tables(table_ids)

    def _tables(self, ids: set[int]) -> None:
        st, prev = self.st, self.prev
        st.tables, st.table_by_name = dict(prev.tables), dict(prev.table_by_name)
        dbs: set[int] = set()
        fresh = self.load.tables(ids)
        for tid in ids:
            old = st.tables.get(tid) if tid in fresh else st.tables.pop(tid, None)
            if old is not None:
                dbs.add(old.database_id)
                key = (old.database_id, old.name)
                new = fresh.get(tid)
                moved = new is None or (new.database_id, new.name) != key
                if moved and st.table_by_name.get(key) == tid:  # (deleting leaves a hole)
                    del st.table_by_name[key]
        for tid, info in fresh.items():
            dbs.add(info.database_id)
            st.tables[tid] = info
            st.table_by_name[(info.database_id, info.name)] = tid
        st.tables_of_db = defaultdict(list, prev.tables_of_db)
        for db_id in dbs:
            kept = [t for t in prev.tables_of_db.get(db_id, ()) if t not in ids]
            for tid, info in fresh.items():
                if info.database_id == db_id:
                    insort(kept, tid)
            if kept:
                st.tables_of_db[db_id] = kept
            else:
                st.tables_of_db.pop(db_id, None)
        self.dirty_tables = ids
        self.tag_dbs |= dbs

    # ---------------------------------------------------------------- tags
    def tags(self) -> None:
        st, prev, load = self.st, self.prev, self.load
        key_ids = _ints(self.keys("ml_tag_keys")) | _ints(self.keys("ml_tag_values"))
        if key_ids:
            st.tag_keys, st.tag_key_by_name = dict(prev.tag_keys), dict(prev.tag_key_by_name)
            for kid in key_ids:
                old = st.tag_keys.pop(kid, None)
                if old is not None and st.tag_key_by_name.get((old.account, old.key)) == kid:
                    del st.tag_key_by_name[(old.account, old.key)]
            for info in load.tag_keys(key_ids):
                st.tag_keys[info.id] = info
                st.tag_key_by_name[(info.account, info.key)] = info.id
        targets: dict[str, set[int]] = defaultdict(set)
        for key in self.keys("ml_tag_assignments"):
            kind, target = key.split(":", 1)
            targets[kind].add(int(target))
        if targets["database"]:
            st.db_tags = self._assignments(prev.db_tags, "database", targets["database"])
            self.tag_dbs |= targets["database"]
        if targets["table"]:
            st.table_tags = self._assignments(prev.table_tags, "table", targets["table"])
            for tid in targets["table"]:
                self.tag_dbs |= self._dbs_of(tid)
        # a column written (renamed, dropped, added) re-read its table: a column assignment
        # otherwise belongs to a column that still exists, or to none (a full load skips it)
        owners = set(self.dirty_tables)
        if targets["column"]:
            owners.update(
                r[0]
                for r in load.rows_in(select(ColumnRow.table_id), ColumnRow.id, targets["column"])
            )
        if owners:
            self._column_tags(owners)
        if self.tag_dbs:
            st.db_tag_values = dict(prev.db_tag_values)
            for db_id in self.tag_dbs:
                values = _tag_values_of(st, db_id)
                if values:
                    st.db_tag_values[db_id] = values
                else:
                    st.db_tag_values.pop(db_id, None)

    def _dbs_of(self, tid: int) -> set[int]:
        """The database of a table, before and after the change."""
        return {s.tables[tid].database_id for s in (self.st, self.prev) if tid in s.tables}

    def _assignments(
        self, previous: dict[int, dict[int, str]], kind: str, targets: set[int]
    ) -> dict[int, dict[int, str]]:
        out = dict(previous)
        for target in targets:
            out.pop(target, None)
        for target, key_id, value in self.load.rows_in(
            select(*_ASSIGNMENT).where(TagAssignmentRow.kind == kind),
            TagAssignmentRow.target_id,
            targets,
        ):
            out.setdefault(target, {})[key_id] = value
        return out

    def _column_tags(self, tables: set[int]) -> None:
        st = self.st
        st.column_tags = dict(self.prev.column_tags)
        for tid in tables:
            st.column_tags.pop(tid, None)
        owner = _column_owner(st.tables[t] for t in tables if t in st.tables)
        for target, key_id, value in self.load.rows_in(
            select(*_ASSIGNMENT).where(TagAssignmentRow.kind == "column"),
            TagAssignmentRow.target_id,
            owner.keys(),
        ):
            tid, cname = owner[target]
            st.column_tags.setdefault(tid, {}).setdefault(cname, {})[key_id] = value
        for tid in tables:
            self.tag_dbs |= self._dbs_of(tid)

    # ---------------------------------------------------------------- filters
    def filters(self) -> None:
        st, prev = self.st, self.prev
        ids = _ints(self.keys("ml_data_filters"))
        st.filters, st.filter_by_name = dict(prev.filters), dict(prev.filter_by_name)
        tables: set[int] = set()
        for fid in ids:
            old = st.filters.pop(fid, None)
            if old is not None:
                tables.add(old.table_id)
                if st.filter_by_name.get((old.table_id, old.name)) == fid:
                    del st.filter_by_name[(old.table_id, old.name)]
        fresh = self.load.filter_infos(ids)
        for info in fresh:
            tables.add(info.table_id)
            st.filters[info.id] = info
            st.filter_by_name[(info.table_id, info.name)] = info.id
        st.filters_of_table = defaultdict(list, prev.filters_of_table)
        for tid in tables:
            kept = [f for f in prev.filters_of_table.get(tid, ()) if f not in ids]
            for info in fresh:
                if info.table_id == tid:
                    insort(kept, info.id)
            if kept:
                st.filters_of_table[tid] = kept
            else:
                st.filters_of_table.pop(tid, None)

    # ---------------------------------------------------------------- grants
    def grants(self) -> None:
        st, prev = self.st, self.prev
        ids = _ints(self.keys("ml_grants"))
        fresh = self.load.grant_infos(ids)
        st.grants_by_id = dict(prev.grants_by_id)  # overwritten in place, popped when gone
        for i in ids - {g.id for g in fresh}:
            st.grants_by_id.pop(i, None)
        grantees = {prev.grants_by_id[i].grantee for i in ids if i in prev.grants_by_id}
        by_grantee: dict[str, list[GrantInfo]] = defaultdict(list)
        for info in fresh:
            st.grants_by_id[info.id] = info
            grantees.add(info.grantee)
            by_grantee[info.grantee].append(info)
        st.grants_by_grantee = dict(prev.grants_by_grantee)
        st.grants_index = dict(prev.grants_index)
        for grantee in grantees:
            kept = [g for g in prev.grants_by_grantee.get(grantee, ()) if g.id not in ids]
            merged = sorted(kept + by_grantee.get(grantee, []), key=lambda g: g.id)
            if merged:
                st.grants_by_grantee[grantee] = merged
                st.grants_index[grantee] = _index(merged)
            else:
                st.grants_by_grantee.pop(grantee, None)
                st.grants_index.pop(grantee, None)

    # ---------------------------------------------------------------- model groups
    def model_groups(self) -> None:
        ids = _ints(self.keys("ml_model_groups"))
        self.st.model_groups = {i: g for i, g in self.prev.model_groups.items() if i not in ids} | {
            g.id: g for g in self.load.model_group_infos(ids)
        }
