"""Rule 7's "a visible table makes its database visible", without scanning every table.

A principal that holds nothing on a database itself may still see it through one of its
tables. Checking every table of every database is what a naive listing does; here the
principal's grants name the few tables worth checking:

* tables it created (rule 3);
* tables named by its grants, or by its data filters' grants;
* every table of a database it holds a table wildcard on;
* tables a table tag policy may match (by each table's tag summary, after ruling out
  databases whose tags cannot match the expression at all).

When the principal is an admin of its own account, the account's grants count too (rule
23). Re-granted ("bounded") grants are the principal's own, so they are covered. Each
candidate is then decided exactly by :func:`~meshlake.governance.access.table_access`.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlake.governance.access import grants_index, table_access, tag_policies_for_database
from meshlake.governance.state import DbInfo, GovernanceState, GrantInfo
from meshlake.governance.tags import candidate_databases, may_match

__all__ = ["candidate_databases_of", "visible_through_tables"]


def _grantees(st: GovernanceState, principal: str, owner: str) -> tuple[str, ...]:
    """Whose grants reach ``principal``'s table access in ``owner``'s databases."""
    account = principal.split("/", 1)[0]
    if account != owner and st.is_admin(principal, account):
        return (principal, account)
    return (principal,)


def candidate_databases_of(st: GovernanceState, principal: str, owner: str) -> frozenset[int]:
    """Databases of ``owner`` in which ``principal`` may hold some table permission.

    A cheap over-approximation from the grants index (cached per state).
    """
    key = ("dbcand", principal, owner)
    cached: frozenset[int] | None = st.cache.get(key)
    if cached is not None:
        return cached
    all_dbs = frozenset(d.id for d in st.databases.values() if d.account == owner)
    found = set(_created_dbs(st).get(principal, ()))
    for grantee in _grantees(st, principal, owner):
        for (kind, target), grants in grants_index(st, grantee).items():
            if kind == "tag_policy":
                for g in grants:
                    if g.target_account == owner and g.spec.get("type") == "TABLE":
                        found |= candidate_databases(st, g.expr)
            elif kind == "table" and target in st.tables:
                found.add(st.tables[target].database_id)
            elif kind == "table_wildcard":
                found.add(target)
            elif kind == "filter" and target in st.filters:
                found.add(st.tables[st.filters[target].table_id].database_id)
    result = frozenset(found) & all_dbs
    st.cache[key] = result
    return result


def _candidate_tables(st: GovernanceState, principal: str, db: DbInfo) -> Iterator[int]:
    """Tables of ``db`` that may be visible to ``principal``, likeliest first (may repeat)."""
    tables = st.tables_of_db.get(db.id, [])
    grantees = _grantees(st, principal, db.account)
    indexes = [grants_index(st, g) for g in grantees]
    for idx in indexes:
        if idx.get(("table_wildcard", db.id)):
            yield from tables
            return
    for idx in indexes:
        for tid in _granted_tables(st, idx, db.id):
            yield tid
    for tid in tables:
        if st.tables[tid].creator == principal:
            yield tid
    expressions = {
        g.expr
        for grantee in grantees
        for g in tag_policies_for_database(st, grantee, db.id)
        if g.target_account == db.account
    }
    if expressions:
        for tid in tables:
            if any(may_match(st, tid, e) for e in expressions):
                yield tid


def _granted_tables(
    st: GovernanceState, idx: dict[tuple[str, int], list[GrantInfo]], db_id: int
) -> list[int]:
    """Tables of a database named by a grantee's table and data-filter grants."""
    out = []
    for kind, target in idx:
        if kind == "table" and target in st.tables and st.tables[target].database_id == db_id:
            out.append(target)
        elif kind == "filter" and target in st.filters:
            tid = st.filters[target].table_id
            if tid in st.tables and st.tables[tid].database_id == db_id:
                out.append(tid)
    return out


def visible_through_tables(st: GovernanceState, principal: str, db: DbInfo) -> bool:
    """True when some table of ``db`` is visible to ``principal`` (rule 7)."""
    if db.is_link or db.id not in candidate_databases_of(st, principal, db.account):
        return False
    return any(
        table_access(st, principal, tid).visible for tid in _candidate_tables(st, principal, db)
    )


def _created_dbs(st: GovernanceState) -> dict[str, set[int]]:
    """Per creator, the databases holding tables it created (cached per state)."""
    key = ("created_dbs",)
    index: dict[str, set[int]] | None = st.cache.get(key)
    if index is None:
        index = {}
        for t in st.tables.values():
            index.setdefault(t.creator, set()).add(t.database_id)
        st.cache[key] = index
    return index
