"""A direct, slow reference implementation of rules 4-17, for one account without shares.

Written from ``/work/shared/spec/lakeformation.md`` alone and independent of
``meshlake.governance``: it replays the operations of ``reference_ops.py`` on plain dicts and
re-derives every answer from scratch, for every question. The property test compares it with
the engine.

Readings where the rules leave room, each marked ``open`` (the verdict is None and the test
follows the engine) or ``reading`` (the model commits to one answer) below:

* open: granting DESCRIBE while holding only other permissions with the grant option
  ("grant it (or less)", rule 4); what GRANT_WITH_TAG_EXPRESSION lets one grant (rule 17);
  revoking a permission that the grant holds only through ALL (rule 6); removing a key's
  last value; the error kind of revoking or removing what is not there.
* reading: a column-limited principal (rule 8) is one holding a named grant with a column
  list on the table; a TABLE tag policy matching only some columns (or only the table)
  shows the metadata of exactly the matched columns (rule 14, "the accessible columns");
  "holding ALL with the grant option" (rule 16) means holding every permission of the kind
  with the grant option.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .reference_ops import (
    ALL,
    DATABASE_PERMISSIONS,
    DESCRIBE,
    OK,
    SELECT,
    TABLE_PERMISSIONS,
    TAG_KEY_PERMISSIONS,
    TAG_VALUE_PERMISSIONS,
    ColumnTarget,
    DbTarget,
    TableTarget,
    TagTarget,
    Verdict,
)

__all__ = [
    "GrantRow",
    "ReferenceModel",
    "TableAccess",
    "effective_tags",
    "expand_all",
    "expression_matches",
    "fail",
]

K = TypeVar("K")
WILDCARD = "*"
WRITES = frozenset({"ALTER", "DELETE", "DROP", "INSERT"})


def effective_tags(*levels: Mapping[K, str]) -> dict[K, str]:
    """Rule 12: each level (database, table, column) overrides the levels above it per key."""
    out: dict[K, str] = {}
    for level in levels:
        for key, value in level.items():
            out[key] = value
    return out


def expression_matches(
    expression: Iterable[tuple[K, Iterable[str]]], tags: Mapping[K, str]
) -> bool:
    """Rule 13: keys ANDed, values ORed, ``*`` any value; a missing key never matches."""
    return all(
        key in tags and (WILDCARD in set(vals) or tags[key] in set(vals))
        for key, vals in expression
    )


def expand_all(kind: frozenset[str], perms: Iterable[str]) -> set[str]:
    """Rule 6: ALL is every permission of the kind (the ALL token itself dropped)."""
    perms = set(perms)
    return (perms - {ALL}) | (set(kind) if ALL in perms else set())


def fail(error: str | None, why: str) -> Verdict:
    return Verdict(False, error, why)


@dataclass
class TableAccess:
    """What one principal holds on one table."""

    whole: set[str] = field(default_factory=set)
    select: set[str] = field(default_factory=set)
    described: set[str] = field(default_factory=set)
    visible: bool = False
    grant_whole: set[str] = field(default_factory=set)
    grant_columns: set[str] = field(default_factory=set)


@dataclass
class GrantRow:
    permissions: set[str]
    grantable: set[str]


@dataclass
class _TagPerms:
    values: dict[str, set[str]] = field(default_factory=dict)
    values_go: dict[str, set[str]] = field(default_factory=dict)
    key: set[str] = field(default_factory=set)
    key_go: set[str] = field(default_factory=set)


class ReferenceModel:
    """The state of one account's catalog, tags and grants, and the rules over it."""

    def __init__(self, admins: Iterable[str]) -> None:
        self.admins = set(admins)
        self.databases: dict[str, str] = {}  # name -> creator
        self.tables: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
        self.keys: dict[str, tuple[int, set[str]]] = {}  # name -> (identity, values)
        self._next_key = 0
        self.assigned: dict[TagTarget, dict[int, str]] = {}
        self.grants: dict[tuple[str, tuple[Any, ...]], GrantRow] = {}

    # ------------------------------------------------------------ structure (rules 2, 3)
    def add_database(self, name: str, creator: str) -> None:
        """Record a database created by ``creator``."""
        self.databases[name] = creator

    def check_create_table(self, actor: str, db: str) -> Verdict:
        """Rule 3/5: creating a table needs CREATE_TABLE on a visible database."""
        if not self.database_visible(actor, db):
            return fail("not_found", "database not visible")
        if "CREATE_TABLE" not in self.database_permissions(actor, db)[0]:
            return fail("access_denied", "no CREATE_TABLE")
        return OK

    def add_table(self, db: str, name: str, columns: Sequence[str], creator: str) -> None:
        """Record a table created by ``creator``."""
        self.tables[(db, name)] = (tuple(columns), creator)

    # ------------------------------------------------------------ tags (rules 11-13, 15)
    def create_key(self, name: str, values: Iterable[str]) -> None:
        """Record a new key: a new identity even when a deleted key had the name (rule 15)."""
        self.keys[name] = (self._next_key, set(values))
        self._next_key += 1

    def _own(self, target: TagTarget) -> dict[int, str]:
        return self.assigned.get(target, {})

    def tags(self, target: TagTarget) -> dict[int, str]:
        """Effective tags of a database, table or column (rule 12)."""
        if isinstance(target, DbTarget):
            return dict(self._own(target))
        db_level = self._own(DbTarget(target.db))
        table_level = self._own(TableTarget(target.db, target.table))
        if isinstance(target, TableTarget):
            return effective_tags(db_level, table_level)
        return effective_tags(db_level, table_level, self._own(target))

    # ------------------------------------------------------------ tables (rules 4-8, 14)
    def _rows_of(self, principal: str) -> list[tuple[tuple[Any, ...], GrantRow]]:
        return [(key, row) for (who, key), row in self.grants.items() if who == principal]

    def table_access(self, principal: str, db: str, table: str) -> TableAccess:
        """The union of everything ``principal`` holds on a table (rule 4)."""
        columns, creator = self.tables[(db, table)]
        acc = TableAccess()

        def whole(perms: set[str], go: set[str]) -> None:
            acc.whole |= perms
            acc.grant_whole |= go
            if SELECT in perms:
                acc.select |= set(columns)
            if SELECT in go:
                acc.grant_columns |= set(columns)

        def some(cols: Iterable[str], perms: set[str], go: set[str]) -> None:
            acc.visible = True
            acc.described |= set(cols)
            if SELECT in perms:
                acc.select |= set(cols)
            if SELECT in go:
                acc.grant_columns |= set(cols)

        if creator == principal:
            whole(set(TABLE_PERMISSIONS), set(TABLE_PERMISSIONS))
        if principal in self.admins:
            acc.whole.add(DESCRIBE)
        for key, row in self._rows_of(principal):
            perms = expand_all(TABLE_PERMISSIONS, row.permissions)
            go = expand_all(TABLE_PERMISSIONS, row.grantable)
            if key[0] == "table" and key[1:3] == (db, table):
                include, exclude = key[3], key[4]
                if include is None and exclude is None:
                    whole(perms, go)
                elif include is not None:
                    some([c for c in columns if c in include], perms, go)
                else:  # an exclude list never carries the grant option (rule 8)
                    some([c for c in columns if c not in exclude], perms, set())
            elif key[0] == "wildcard" and key[1] == db:
                whole(perms, go)
            elif key[0] == "policy" and key[1] == "TABLE":
                expr = key[2]
                matched = [
                    c
                    for c in columns
                    if expression_matches(expr, self.tags(ColumnTarget(db, table, c)))
                ]
                if len(matched) == len(columns):
                    whole(perms, go)
                elif matched or expression_matches(expr, self.tags(TableTarget(db, table))):
                    some(matched, perms, go)  # rule 14: SELECT on those columns, DESCRIBE
        acc.visible = acc.visible or bool(acc.whole or acc.select)
        return acc

    def decide_table(self, principal: str, db: str, table: str, action: str) -> bool:
        """Rules 5-8: may ``principal`` do ``action`` on the table?"""
        acc = self.table_access(principal, db, table)
        if not acc.visible:
            return False
        if action == DESCRIBE:
            return True
        if action == SELECT:
            return bool(acc.select)
        return action in acc.whole

    def shown_columns(self, principal: str, db: str, table: str) -> list[str] | None:
        """Rule 8: the columns metadata calls show (None: the table is not visible)."""
        acc = self.table_access(principal, db, table)
        if not acc.visible:
            return None
        columns = self.tables[(db, table)][0]
        if acc.whole:
            return list(columns)
        return [c for c in columns if c in acc.described | acc.select]

    def readable_columns(self, principal: str, db: str, table: str) -> set[str]:
        """Columns ``principal`` may SELECT."""
        return set(self.table_access(principal, db, table).select)

    # ------------------------------------------------------------ databases (rules 2-7, 14)
    def database_permissions(self, principal: str, db: str) -> tuple[set[str], set[str]]:
        """Database permissions held and held with the grant option."""
        perms: set[str] = set()
        go: set[str] = set()
        if self.databases[db] == principal:
            perms |= DATABASE_PERMISSIONS
            go |= DATABASE_PERMISSIONS
        if principal in self.admins:
            perms.add(DESCRIBE)
        for key, row in self._rows_of(principal):
            if key == ("database", db) or (
                key[0] == "policy"
                and key[1] == "DATABASE"
                and expression_matches(key[2], self.tags(DbTarget(db)))
            ):
                perms |= expand_all(DATABASE_PERMISSIONS, row.permissions)
                go |= expand_all(DATABASE_PERMISSIONS, row.grantable)
        return perms, go

    def database_visible(self, principal: str, db: str) -> bool:
        """Rule 7: a database permission, or some permission on one of its tables."""
        if db not in self.databases:
            return False
        if self.database_permissions(principal, db)[0]:
            return True
        return any(self.table_access(principal, d, t).visible for d, t in self.tables if d == db)

    def decide_database(self, principal: str, db: str, action: str) -> bool:
        """May ``principal`` do ``action`` on the database?"""
        if not self.database_visible(principal, db):
            return False
        return action == DESCRIBE or action in self.database_permissions(principal, db)[0]

    def list_tables(self, principal: str, db: str) -> list[str] | None:
        """Rule 7: the tables listed (None: the database is not visible)."""
        if not self.database_visible(principal, db):
            return None
        return sorted(
            t for d, t in self.tables if d == db and self.table_access(principal, d, t).visible
        )

    # ------------------------------------------------------------ tag permissions (rule 16)
    def tag_permissions(self, principal: str, key: str) -> _TagPerms:
        """What ``principal`` holds on a live key and its values."""
        kid, values = self.keys[key]
        out = _TagPerms()
        if principal in self.admins:  # rule 2
            out.values = {v: set(TAG_VALUE_PERMISSIONS) for v in values}
            out.values_go = {v: set(TAG_VALUE_PERMISSIONS) for v in values}
            out.key, out.key_go = set(TAG_KEY_PERMISSIONS), set(TAG_KEY_PERMISSIONS)
        for gkey, row in self._rows_of(principal):
            if gkey[:2] != ("tag", kid):
                continue
            for v in values if WILDCARD in gkey[2] else values & gkey[2]:
                out.values.setdefault(v, set()).update(row.permissions & TAG_VALUE_PERMISSIONS)
                out.values_go.setdefault(v, set()).update(row.grantable & TAG_VALUE_PERMISSIONS)
            out.key |= row.permissions & TAG_KEY_PERMISSIONS
            out.key_go |= row.grantable & TAG_KEY_PERMISSIONS
        return out

    def decide_tag(
        self, principal: str, key: str, values: Sequence[str] | None, action: str
    ) -> bool:
        """May ``principal`` do ``action`` on these values of ``key`` (None: all)?"""
        if key not in self.keys:
            return False
        held = self.tag_permissions(principal, key)
        if action in TAG_KEY_PERMISSIONS:
            return action in held.key
        wanted = self.keys[key][1] if values is None else set(values)
        return all(action in held.values.get(v, set()) for v in wanted)

    def target_visible(self, principal: str, target: TagTarget) -> bool:
        """Rule 0: may ``principal`` see this database, table or column?"""
        if isinstance(target, DbTarget):
            return self.database_visible(principal, target.db)
        shown = self.shown_columns(principal, target.db, target.table)
        if isinstance(target, TableTarget):
            return shown is not None
        return shown is not None and target.column in shown

    def visible_tags(self, principal: str, target: TagTarget) -> dict[str, str] | None:
        """Effective tags whose value ``principal`` may see (rule 16); None: not visible."""
        if not self.target_visible(principal, target):
            return None
        names = {kid: name for name, (kid, _) in self.keys.items()}
        out = {}
        for kid, value in self.tags(target).items():
            held = self.tag_permissions(principal, names[kid]).values.get(value, set())
            if held & {DESCRIBE, "ASSOCIATE"}:
                out[names[kid]] = value
        return out
