"""Reading the governance state from the store, group by group (see ``state.py``).

A state is loaded whole the first time; afterwards only the governance groups whose change
marks moved are read again, the catalog and the grants row by row where their writes allow
it, and everything else is shared with the previous snapshot (never modified after loading).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from meshlake.catalog.models import (
    PENDING_VERSION,
    AccountAdminRow,
    AccountRow,
    ColumnRow,
    DatabaseRow,
    FilterRow,
    GrantRow,
    LocationRow,
    PrincipalRow,
    TableRow,
    TagAssignmentRow,
    TagKeyRow,
    TagValueRow,
)
from meshlake.catalog.store import REWRITE_MARK, CatalogStore
from meshlake.governance.state import (
    DbInfo,
    FilterInfo,
    GovernanceState,
    GrantInfo,
    TableInfo,
    TagKeyInfo,
)

__all__ = ["GROUP_FIELDS", "TAG_DERIVED_CACHES", "load_state"]


def load_state(
    st: GovernanceState, session: Session, previous: GovernanceState | None
) -> GovernanceState:
    """Load the governance state in bulk queries, re-reading only what changed.

    Each governance group (``catalog``, ``tags``, ``filters``, ``grants``) carries the
    version at which it last changed (:meth:`CatalogStore.change_marks`). With a
    ``previous`` state, groups whose mark has not moved are shared with it (states are
    never modified after loading), and so are the cached tag summaries when neither the
    catalog nor the tags moved. Which groups a write moves is decided when it commits
    (:func:`~meshlake.catalog.store.changed_groups`): a catalog update or delete moves
    them all, since deletions cascade to filters, tags and grants.

    Runs Core queries on the session's connection (no ORM row processing) and reads
    JSON columns as text, decoding each distinct text once: most grants share their
    permission lists and specs.
    """
    marks = CatalogStore.change_marks(session)
    reuse: set[str] = set()
    if previous is not None:
        reuse = {g for g in GROUP_FIELDS if marks.get(g) == previous.marks.get(g)}
    st.marks = marks
    loader = _Loader(session)
    for group in ("catalog", "tags", "filters", "grants"):
        if group in reuse:
            assert previous is not None
            for name in GROUP_FIELDS[group]:
                setattr(st, name, getattr(previous, name))
        elif (
            group == "catalog"
            and previous is not None
            and marks.get(REWRITE_MARK) == previous.marks.get(REWRITE_MARK)
        ):
            st.tables_read = loader.catalog_added(st, previous)
        elif (
            group == "grants"
            and previous is not None
            and previous.marks.get("grants") is not None
            and marks.get(REWRITE_MARK) == previous.marks.get(REWRITE_MARK)
        ):
            st.grants_read = loader.grants_changed(st, previous, previous.marks["grants"])
        else:
            getattr(loader, group)(st)
    if previous is not None and {"catalog", "tags"} <= reuse:
        st.cache.update((k, v) for k, v in previous.cache.items() if k[0] in TAG_DERIVED_CACHES)
    st.reloaded = tuple(g for g in ("catalog", "tags", "filters", "grants") if g not in reuse)
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
        "column_owner",
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
}
"""The state's fields, by the governance group whose store tables they come from."""

DELTA_GRANTS = 5000
"""Above this many written or revoked grants, a grants reload reads them all."""

DELTA_TABLES = 2000
"""Above this many new or grown tables, a catalog reload reads everything."""

TAG_DERIVED_CACHES = frozenset({"ttags", "okeys", "tsummary", "xdbs", "created_dbs"})
"""Cache entries that depend only on the catalog and the tags (kept across grant changes)."""


class _Loader:
    """Reads one governance group at a time into a state (bulk Core queries)."""

    def __init__(self, session: Session) -> None:
        self._conn = session.connection()
        self._decoded: dict[str | None, Any] = {None: None}

    def _rows(self, stmt: Any) -> Any:
        return self._conn.execute(stmt).all()  # one fetchall, not a fetch per row

    def _js(self, text: str | None) -> Any:
        value = self._decoded.get(text, _MISSING)
        if value is _MISSING:
            value = self._decoded[text] = json.loads(text)  # type: ignore[arg-type]
        return value

    def catalog(self, st: GovernanceState) -> None:
        """Accounts, principals, admins, databases, tables, columns, locations."""
        self._small_catalog(st)
        st.tables = self._tables(None, st.column_owner)
        for tid, info in st.tables.items():
            st.table_by_name[(info.database_id, info.name)] = tid
            st.tables_of_db[info.database_id].append(tid)

    def catalog_added(self, st: GovernanceState, previous: GovernanceState) -> int | None:
        """The catalog after inserts only (new tables, columns, databases, principals).

        The small parts are read again; tables and columns are the previous snapshot's plus
        the tables that are new or gained columns. Found by comparing ids and per-table column
        counts, not an id watermark: concurrent writers may commit ids out of order.

        Returns:
            How many tables were read, or None when so many changed that the whole catalog was
            read instead.
        """
        table_ids = set(self._conn.scalars(select(TableRow.id)))
        counts = dict(
            self._rows(select(ColumnRow.table_id, func.count()).group_by(ColumnRow.table_id))
        )
        old = previous.tables
        changed = (table_ids - old.keys()) | {
            tid for tid, n in counts.items() if tid in old and n != len(old[tid].columns)
        }
        if len(changed) > DELTA_TABLES or not table_ids >= old.keys():
            self.catalog(st)
            return None
        self._small_catalog(st)
        st.tables = dict(old)
        st.table_by_name = dict(previous.table_by_name)
        st.tables_of_db = defaultdict(list, previous.tables_of_db)
        st.column_owner = dict(previous.column_owner)
        copied: set[int] = set()  # lists of tables_of_db copied before appending
        ordered = sorted(changed)
        for i in range(0, len(ordered), 500):
            for tid, info in self._tables(ordered[i : i + 500], st.column_owner).items():
                st.tables[tid] = info
                if tid not in old:
                    st.table_by_name[(info.database_id, info.name)] = tid
                    if info.database_id not in copied:
                        copied.add(info.database_id)
                        st.tables_of_db[info.database_id] = list(
                            st.tables_of_db.get(info.database_id, ())
                        )
                    st.tables_of_db[info.database_id].append(tid)
        return len(changed)

    def _small_catalog(self, st: GovernanceState) -> None:
        """Accounts, principals, admins, databases and locations (small: always whole)."""
        conn, rows = self._conn, self._rows
        st.accounts = set(conn.scalars(select(AccountRow.name)))
        st.principals = set(conn.scalars(select(PrincipalRow.id)))
        admins: dict[str, set[str]] = defaultdict(set)
        for account, principal in rows(select(AccountAdminRow.account, AccountAdminRow.principal)):
            admins[account].add(principal)
        st.admins = {a: frozenset(p) for a, p in admins.items()}
        for row in rows(
            select(
                DatabaseRow.id,
                DatabaseRow.account,
                DatabaseRow.name,
                DatabaseRow.location,
                DatabaseRow.creator,
                DatabaseRow.link_account,
                DatabaseRow.link_database,
                DatabaseRow.description,
            )
        ):
            info = DbInfo(*row)
            st.databases[info.id] = info
            st.db_by_name[(info.account, info.name)] = info.id
        for lid, account, uri in rows(select(LocationRow.id, LocationRow.account, LocationRow.uri)):
            st.locations[lid] = (account, uri)

    def _tables(
        self, ids: Sequence[int] | None, column_owner: dict[int, tuple[int, str]]
    ) -> dict[int, TableInfo]:
        """Tables with their columns in order: all of them, or those with ``ids``; each
        column's (table id, name) goes into ``column_owner``."""
        rows = self._rows
        col_query = select(
            ColumnRow.id,
            ColumnRow.table_id,
            ColumnRow.position,
            ColumnRow.name,
            ColumnRow.type,
            ColumnRow.field_id,
        )
        table_query = select(
            TableRow.id,
            TableRow.database_id,
            TableRow.name,
            TableRow.creator,
            TableRow.location,
            TableRow.iceberg_id,
        )
        if ids is not None:
            col_query = col_query.where(ColumnRow.table_id.in_(ids))
            table_query = table_query.where(TableRow.id.in_(ids))
        cols: dict[int, list[tuple[int, str, int, str, int]]] = defaultdict(list)
        for cid, tid, pos, name, ctype, fid in rows(col_query):
            cols[tid].append((pos, name, cid, ctype, fid))
            column_owner[cid] = (tid, name)
        out: dict[int, TableInfo] = {}
        for tid, dbid, name, creator, location, iceberg_id in rows(table_query):
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
        """The tag ontology and every assignment (needs the catalog's columns)."""
        rows = self._rows
        values: dict[int, set[str]] = defaultdict(set)
        for key_id, value in rows(select(TagValueRow.key_id, TagValueRow.value)):
            values[key_id].add(value)
        for kid, account, key, creator in rows(
            select(TagKeyRow.id, TagKeyRow.account, TagKeyRow.key, TagKeyRow.creator)
        ):
            st.tag_keys[kid] = TagKeyInfo(kid, account, key, frozenset(values[kid]), creator)
            st.tag_key_by_name[(account, key)] = kid
        for kind, target, key_id, value in rows(
            select(
                TagAssignmentRow.kind,
                TagAssignmentRow.target_id,
                TagAssignmentRow.key_id,
                TagAssignmentRow.value,
            )
        ):
            if kind == "database":
                st.db_tags.setdefault(target, {})[key_id] = value
            elif kind == "table":
                st.table_tags.setdefault(target, {})[key_id] = value
            elif target in st.column_owner:
                tid, cname = st.column_owner[target]
                st.column_tags.setdefault(tid, {}).setdefault(cname, {})[key_id] = value
        st.db_tag_values = _database_tag_values(st)

    def filters(self, st: GovernanceState) -> None:
        """Data filters."""
        rows, js = self._rows, self._js
        for f in rows(
            select(
                FilterRow.id,
                FilterRow.table_id,
                FilterRow.name,
                FilterRow.row_filter,
                _text(FilterRow.columns),
                _text(FilterRow.excluded_columns),
                FilterRow.creator,
                FilterRow.row_filter_text,
            )
        ):
            finfo = FilterInfo(
                f[0],
                f[1],
                f[2],
                f[3],
                _tuple_or_none(js(f[4])),
                _tuple_or_none(js(f[5])),
                f[6],
                f[7],
            )
            st.filters[finfo.id] = finfo
            st.filter_by_name[(finfo.table_id, finfo.name)] = finfo.id
            st.filters_of_table[finfo.table_id].append(finfo.id)

    def grants(self, st: GovernanceState) -> None:
        """Every grant, by grantee and by id (in id order)."""
        infos = self._grant_infos(self._grant_query().order_by(GrantRow.id))
        by_grantee: dict[str, list[GrantInfo]] = defaultdict(list)
        for info in infos:
            by_grantee[info.grantee].append(info)
            st.grants_by_id[info.id] = info
        st.grants_by_grantee = dict(by_grantee)
        st.grants_index = {grantee: _index(gs) for grantee, gs in by_grantee.items()}

    def grants_changed(self, st: GovernanceState, previous: GovernanceState, since: int) -> int:
        """The grants after changes: the previous snapshot's, minus the revoked ones (ids
        gone), with the ones written since version ``since`` read again.

        Returns:
            How many grants were read, or -1 when so many changed that all were read.
        """
        ids = set(self._conn.scalars(select(GrantRow.id)))
        query = self._grant_query().where(
            or_(GrantRow.changed_version > since, GrantRow.changed_version == PENDING_VERSION)
        )
        changed = self._grant_infos(query.order_by(GrantRow.id))
        gone = previous.grants_by_id.keys() - ids
        if len(changed) + len(gone) > DELTA_GRANTS:
            self.grants(st)
            return -1
        touched = {g.id for g in changed} | gone
        st.grants_by_id = {i: g for i, g in previous.grants_by_id.items() if i not in gone}
        grantees = {previous.grants_by_id[i].grantee for i in gone}
        for info in changed:
            old = previous.grants_by_id.get(info.id)
            if old is not None:
                grantees.add(old.grantee)
            grantees.add(info.grantee)
            st.grants_by_id[info.id] = info
        st.grants_by_grantee = dict(previous.grants_by_grantee)
        st.grants_index = dict(previous.grants_index)
        fresh: dict[str, list[GrantInfo]] = defaultdict(list)
        for info in changed:
            fresh[info.grantee].append(info)
        for grantee in grantees:
            kept = [g for g in previous.grants_by_grantee.get(grantee, ()) if g.id not in touched]
            merged = sorted(kept + fresh.get(grantee, []), key=lambda g: g.id)
            if merged:
                st.grants_by_grantee[grantee] = merged
                st.grants_index[grantee] = _index(merged)
            else:
                st.grants_by_grantee.pop(grantee, None)
                st.grants_index.pop(grantee, None)
        return len(changed)

    @staticmethod
    def _grant_query() -> Any:
        return select(
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
        )

    def _grant_infos(self, query: Any) -> list[GrantInfo]:
        js = self._js
        interned: dict[Any, Any] = {}
        out = []
        for g in self._rows(query):
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
