"""What a principal holds on a table or database: the union of rule 4's sources.

Sources, for principal ``P`` of account ``X`` and a table of account ``A``:

* creator rights (rule 3) and admin rights (rule 2);
* ``P``'s own grants: named, table wildcard, data filter and matching tag policies (rule 14);
* when ``P`` is an admin of ``X``: the grants made to the account ``X`` itself (rule 23);
* ``P``'s *bounded* grants, re-granted inside ``X`` from what ``X`` received: these count
  only within what ``X`` holds now (rules 21 and 23), so they are intersected with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from meshlake.governance.permissions import ALL, DESCRIBE, SELECT, expand_all
from meshlake.governance.policy import RowRule
from meshlake.governance.state import GovernanceState, GrantInfo
from meshlake.governance.tags import (
    database_tags,
    expression_matches,
    matching_columns,
    may_match,
    may_match_in_database,
    table_tags,
)

__all__ = [
    "Access",
    "database_access",
    "grants_index",
    "table_access",
    "tag_policies_for_database",
]


@dataclass(slots=True)
class Access:
    """Permissions of one principal on one resource.

    Attributes:
        perms: permissions held on the whole resource (SELECT here means every column).
        grantable: permissions held with the grant option.
        rules: SELECT sources (tables only): plain grants and data filters.
        grant_columns: columns held with SELECT grant option (include-list re-grants).
        grant_filters: data filters held with the grant option.
        visible: the principal may see the resource (DESCRIBE).
        reasons: which grants or rules contributed.
    """

    perms: set[str] = field(default_factory=set)
    grantable: set[str] = field(default_factory=set)
    rules: list[RowRule] = field(default_factory=list)
    grant_columns: set[str] = field(default_factory=set)
    grant_filters: set[str] = field(default_factory=set)
    describe_columns: set[str] = field(default_factory=set)
    visible: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        """True when some permission (not only visibility) is held."""
        return bool(self.perms or self.rules)

    def select_columns(self) -> set[str]:
        """Columns readable in at least some rows."""
        cols: set[str] = set()
        for r in self.rules:
            cols |= r.columns
        return cols

    def visible_columns(self, all_columns: tuple[str, ...]) -> list[str]:
        """Columns metadata calls show (rule 8): all with a whole-table permission."""
        if self.perms:
            return list(all_columns)
        seen = self.select_columns() | self.describe_columns
        return [c for c in all_columns if c in seen]

    def compact(self, st: GovernanceState) -> Access:
        """Freeze this access for the state's cache, sharing equal sets between entries.

        The cache holds one entry per (principal, resource) asked about: interned frozensets
        and tuples keep each entry to a few objects, so memory and garbage-collection work
        stay proportional to the distinct sets, not to the pairs. A compacted access is
        read-only (its sets are frozensets).
        """
        share = st.intern
        self.perms = share(frozenset(self.perms))
        self.grantable = share(frozenset(self.grantable))
        self.grant_columns = share(frozenset(self.grant_columns))
        self.grant_filters = share(frozenset(self.grant_filters))
        self.describe_columns = share(frozenset(self.describe_columns))
        self.rules = share(
            tuple(
                share(RowRule(share(r.columns), r.row_filter, r.name, r.extra_names))
                for r in self.rules
            )
        )
        self.reasons = tuple(self.reasons)  # type: ignore[assignment]
        return self

    def merge(self, other: Access) -> None:
        """Union ``other`` into this access."""
        self.perms |= other.perms
        self.grantable |= other.grantable
        self.rules.extend(other.rules)
        self.grant_columns |= other.grant_columns
        self.grant_filters |= other.grant_filters
        self.describe_columns |= other.describe_columns
        self.visible = self.visible or other.visible
        self.reasons.extend(other.reasons)


def grants_index(st: GovernanceState, grantee: str) -> dict[tuple[str, int], list[GrantInfo]]:
    """A grantee's grants keyed by (kind, target id); tag policies under ("tag_policy", 0).

    Built with the state (one pass over the grants while they load), not per first call.
    """
    return st.grants_index.get(grantee, _NO_GRANTS)


_NO_GRANTS: dict[tuple[str, int], list[GrantInfo]] = {}


def _intersect_rule(a: RowRule, b: RowRule) -> RowRule:
    filters = [f for f in (a.row_filter, b.row_filter) if f is not None]
    row_filter = (
        None
        if not filters
        else filters[0]
        if len(filters) == 1
        else (f"({filters[0]}) AND ({filters[1]})")
    )
    names = [n for n in (a.name, b.name) if n] + list(a.extra_names) + list(b.extra_names)
    return RowRule(a.columns & b.columns, row_filter, names[0] if names else None, tuple(names[1:]))


def _intersect(a: Access, b: Access) -> Access:
    out = Access(
        perms=a.perms & b.perms,
        grantable=a.grantable & b.grantable,
        grant_columns=a.grant_columns & b.grant_columns,
        grant_filters=a.grant_filters,
        describe_columns=a.describe_columns
        if b.perms
        else a.describe_columns & (b.describe_columns | b.select_columns()),
        visible=a.visible and b.visible,
    )
    for ra in a.rules:
        for rb in b.rules:
            r = _intersect_rule(ra, rb)
            if r.columns:
                out.rules.append(r)
    if out.any:
        out.visible = True
        out.reasons = [f"{r} (within what the account holds)" for r in a.reasons]
    return out


def _apply_table_grants(
    st: GovernanceState, acc: Access, grants: Iterable[GrantInfo], table_id: int
) -> None:
    t = st.tables[table_id]
    all_cols = frozenset(t.columns)
    account = st.account_of_table(table_id)
    for g in grants:
        cols: frozenset[str] | None = None  # None: the whole table
        if g.kind == "table":
            if "columns" in g.spec:
                cols = frozenset(g.spec["columns"]) & all_cols
            elif "excluded" in g.spec:
                cols = all_cols - frozenset(g.spec["excluded"])
        elif g.kind == "filter":
            f = st.filters.get(g.target_id)
            if f is None or f.table_id != table_id or SELECT not in g.permissions:
                continue
            if f.columns is not None:
                fcols = frozenset(f.columns) & all_cols
            elif f.excluded_columns is not None:
                fcols = all_cols - frozenset(f.excluded_columns)
            else:
                fcols = all_cols
            acc.rules.append(RowRule(fcols, f.row_filter, f.name))
            acc.visible = True
            if SELECT in g.grantable:
                acc.grant_filters.add(f.name)
            acc.reasons.append(f"SELECT on data filter {f.name} (grant {g.id} by {g.grantor})")
            continue
        elif g.kind == "tag_policy":
            if g.spec.get("type") != "TABLE" or g.target_account != account:
                continue
            if not may_match(st, table_id, _expr(g)):
                continue
            matched = matching_columns(st, table_id, _expr(g))
            if not matched:
                if expression_matches(_expr(g), table_tags(st, table_id)):
                    acc.visible = True  # the policy applies, with no column: DESCRIBE only
                    acc.reasons.append(
                        f"tag policy {_expr_text(st, g)} (grant {g.id}, no column matches)"
                    )
                continue
            if len(matched) < len(t.columns):
                cols = frozenset(matched)
            acc.reasons.append(f"tag policy {_expr_text(st, g)} (grant {g.id} by {g.grantor})")
        perms = expand_all("table", g.permissions)
        grantable = expand_all("table", g.grantable)
        if cols is None:
            acc.perms |= perms
            acc.grantable |= grantable
            if SELECT in perms:
                acc.rules.append(RowRule(all_cols))
            if SELECT in grantable:
                acc.grant_columns |= all_cols
        else:  # column-limited: SELECT on those columns and DESCRIBE only (rules 8, 14)
            if SELECT in perms and cols:
                acc.rules.append(RowRule(cols))
            if perms:  # any permission implies DESCRIBE (rule 7), on these columns
                acc.describe_columns |= cols
            if SELECT in grantable and "excluded" not in g.spec:
                acc.grant_columns |= cols
        acc.visible = True
        if g.kind != "tag_policy":
            acc.reasons.append(
                f"{'/'.join(sorted(g.permissions))} on {g.kind.replace('_', ' ')}"
                f"{' (columns)' if cols is not None else ''} (grant {g.id} by {g.grantor})"
            )


def _expr(g: GrantInfo) -> tuple[tuple[int, tuple[str, ...]], ...]:
    return g.expr


def _expr_text(st: GovernanceState, g: GrantInfo) -> str:
    parts = []
    for k, v in _expr(g):
        info = st.tag_keys.get(k)
        parts.append(f"{info.key if info else k}={'|'.join(v)}")
    return "{" + ", ".join(parts) + "}"


def _table_grants(st: GovernanceState, grantee: str, table_id: int) -> list[GrantInfo]:
    idx = grants_index(st, grantee)
    t = st.tables[table_id]
    out = list(idx.get(("table", table_id), ()))
    out += idx.get(("table_wildcard", t.database_id), ())
    for fid in st.filters_of_table.get(table_id, ()):
        out += idx.get(("filter", fid), ())
    out += tag_policies_for_database(st, grantee, t.database_id)
    return out


def tag_policies_for_database(
    st: GovernanceState, grantee: str, db_id: int
) -> tuple[GrantInfo, ...]:
    """A grantee's table tag policies that may match some table of the database (cached)."""
    key = ("dbtp", grantee, db_id)
    cached: tuple[GrantInfo, ...] | None = st.cache.get(key)
    if cached is None:
        cached = tuple(
            g
            for g in grants_index(st, grantee).get(("tag_policy", 0), ())
            if g.spec.get("type") == "TABLE" and may_match_in_database(st, db_id, _expr(g))
        )
        st.cache[key] = cached
    return cached


def account_table_access(st: GovernanceState, account: str, table_id: int) -> Access:
    """What the account itself (the bare-account grantee) holds on a table."""
    key = ("ata", account, table_id)
    acc = st.cache.get(key)
    if acc is None:
        acc = Access()
        _apply_table_grants(st, acc, _table_grants(st, account, table_id), table_id)
        st.cache[key] = acc.compact(st)
    return acc


def table_access(st: GovernanceState, principal: str, table_id: int) -> Access:
    """Everything ``principal`` holds on a table (cached per state)."""
    key = ("ta", principal, table_id)
    cached = st.cache.get(key)
    if cached is not None:
        return cached
    acc = Access()
    t = st.tables[table_id]
    owner = st.account_of_table(table_id)
    account = principal.split("/", 1)[0]
    if t.creator == principal:
        acc.perms |= expand_all("table", [ALL])
        acc.grantable |= expand_all("table", [ALL])
        acc.rules.append(RowRule(frozenset(t.columns)))
        acc.grant_columns |= set(t.columns)
        acc.visible = True
        acc.reasons.append("creator of the table (rule 3)")
    if st.is_admin(principal, owner):
        acc.visible = True
        acc.perms.add(DESCRIBE)
        acc.reasons.append(f"admin of account {owner} (rule 2)")
    grants = _table_grants(st, principal, table_id)
    _apply_table_grants(st, acc, [g for g in grants if not g.bounded], table_id)
    if account != owner and st.is_admin(principal, account):
        shared = account_table_access(st, account, table_id)
        if shared.visible:
            acc.merge(shared)
            acc.reasons.append(f"admin of account {account}, which received the table")
    bounded = [g for g in grants if g.bounded]
    if bounded:
        mine = Access()
        _apply_table_grants(st, mine, bounded, table_id)
        acc.merge(_intersect(mine, account_table_access(st, account, table_id)))
    st.cache[key] = acc.compact(st)
    return acc


def _apply_db_grants(
    st: GovernanceState, acc: Access, grantee: str, db_id: int, *, bounded: bool | None
) -> None:
    idx = grants_index(st, grantee)
    db = st.databases[db_id]
    for g in list(idx.get(("database", db_id), ())) + list(idx.get(("tag_policy", 0), ())):
        if bounded is not None and g.bounded != bounded:
            continue
        if g.kind == "tag_policy":
            if g.spec.get("type") != "DATABASE" or g.target_account != db.account:
                continue
            if db.is_link or not expression_matches(_expr(g), database_tags(st, db_id)):
                continue
            acc.reasons.append(f"database tag policy {_expr_text(st, g)} (grant {g.id})")
        else:
            acc.reasons.append(f"{'/'.join(sorted(g.permissions))} on database (grant {g.id})")
        acc.perms |= expand_all("database", g.permissions)
        acc.grantable |= expand_all("database", g.grantable)
        acc.visible = True


def database_access(st: GovernanceState, principal: str, db_id: int) -> Access:
    """Database permissions of ``principal`` (visibility through tables excluded)."""
    key = ("da", principal, db_id)
    cached = st.cache.get(key)
    if cached is not None:
        return cached
    acc = Access()
    db = st.databases[db_id]
    account = principal.split("/", 1)[0]
    if db.creator == principal:
        if db.is_link:
            acc.perms |= {DESCRIBE, "DROP"}
            acc.grantable |= {DESCRIBE, "DROP"}
        else:
            acc.perms |= {"CREATE_TABLE", "ALTER", "DROP", DESCRIBE}
            acc.grantable |= {"CREATE_TABLE", "ALTER", "DROP", DESCRIBE}
        acc.visible = True
        acc.reasons.append("creator of the database (rule 3)")
    if st.is_admin(principal, db.account):
        acc.perms.add(DESCRIBE)
        acc.visible = True
        acc.reasons.append(f"admin of account {db.account} (rule 2)")
    _apply_db_grants(st, acc, principal, db_id, bounded=False)
    if account != db.account and st.is_admin(principal, account):
        shared = Access()
        _apply_db_grants(st, shared, account, db_id, bounded=None)
        if shared.visible:
            acc.merge(shared)
            acc.perms.add(DESCRIBE)
    mine = Access()
    _apply_db_grants(st, mine, principal, db_id, bounded=True)
    if mine.visible:
        theirs = Access()
        _apply_db_grants(st, theirs, account, db_id, bounded=None)
        inter = Access(perms=mine.perms & theirs.perms, grantable=mine.grantable & theirs.grantable)
        inter.visible = bool(inter.perms)
        inter.reasons = [f"{r} (within what the account holds)" for r in mine.reasons]
        acc.merge(inter)
    st.cache[key] = acc.compact(st)
    return acc
