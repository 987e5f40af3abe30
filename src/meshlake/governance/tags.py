"""Effective tags with inheritance (rule 12) and tag expression matching (rule 13).

Tags are keyed by tag-key id inside the engine; names appear only at the edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from meshlake.governance.state import GovernanceState

__all__ = [
    "WILDCARD",
    "candidate_databases",
    "column_tags",
    "database_tags",
    "expression_matches",
    "matching_columns",
    "may_match",
    "may_match_in_database",
    "table_tags",
]

WILDCARD = "*"

Expression = Sequence[tuple[int, Sequence[str]]]


def database_tags(st: GovernanceState, db_id: int) -> dict[int, str]:
    """A database's tags (databases inherit nothing)."""
    return st.db_tags.get(db_id, {})


def table_tags(st: GovernanceState, table_id: int) -> dict[int, str]:
    """A table's effective tags: its database's, overridden by its own."""
    key = ("ttags", table_id)
    cached = st.cache.get(key)
    if cached is None:
        t = st.tables[table_id]
        cached = {**database_tags(st, t.database_id), **st.table_tags.get(table_id, {})}
        st.cache[key] = cached
    return cached


def column_tags(st: GovernanceState, table_id: int, column: str) -> dict[int, str]:
    """A column's effective tags: its table's, overridden by its own."""
    own = st.column_tags.get(table_id, {}).get(column)
    base = table_tags(st, table_id)
    return {**base, **own} if own else base


def expression_matches(expression: Expression, tags: Mapping[int, str]) -> bool:
    """True when every key of the expression is present with one of its values.

    >>> expression_matches([(1, ["a", "b"])], {1: "b", 2: "x"})
    True
    >>> expression_matches([(1, ["*"]), (2, ["y"])], {1: "a"})
    False
    """
    for key_id, values in expression:
        value = tags.get(key_id)
        if value is None:
            return False
        if WILDCARD not in values and value not in values:
            return False
    return True


def may_match(st: GovernanceState, table_id: int, expression: Expression) -> bool:
    """False when ``expression`` can match neither the table nor any of its columns.

    A cheap test against the table's tag summary (every value of every key set on the
    table, its database or one of its columns): tag policies are checked against every table
    a principal asks about, and this rules out nearly all of them before
    :func:`matching_columns` does the exact work.
    """
    return _summary_may_match(_tag_summary(st, table_id), expression)


def candidate_databases(st: GovernanceState, expression: Expression) -> frozenset[int]:
    """Databases holding a table that ``expression`` may match (a superset, cached).

    Rule 7 makes a database visible through any visible table; a table tag policy could reach
    any table, so this narrows the databases worth scanning to those where every key of the
    expression takes one of its values somewhere (database, table or column).
    """
    key = ("xdbs", expression)
    cached: frozenset[int] | None = st.cache.get(key)
    if cached is None:
        cached = (
            frozenset(
                db_id for db_id in st.db_tag_values if may_match_in_database(st, db_id, expression)
            )
            if expression
            else frozenset(st.databases)
        )
        st.cache[key] = cached
    return cached


def may_match_in_database(st: GovernanceState, db_id: int, expression: Expression) -> bool:
    """False when ``expression`` can match no table (nor column) of the database.

    Checked once per (grantee, database) so that a principal's tag policies that cannot reach
    a database are not tried on each of its tables.
    """
    return _summary_may_match(st.db_tag_values.get(db_id, {}), expression)


def _summary_may_match(summary: Mapping[int, frozenset[str]], expression: Expression) -> bool:
    """True unless a key of ``expression`` is absent from ``summary`` or takes none of its values.

    >>> _summary_may_match({1: frozenset({"a", "b"})}, [(1, ["b", "c"])])
    True
    >>> _summary_may_match({1: frozenset({"a"})}, [(1, ["*"]), (2, ["x"])])
    False
    """
    for key_id, values in expression:
        present = summary.get(key_id)
        if present is None:
            return False
        if WILDCARD not in values and present.isdisjoint(values):
            return False
    return True


def _tag_summary(st: GovernanceState, table_id: int) -> dict[int, frozenset[str]]:
    """Every value each tag key takes on a table or its columns (cached per state)."""
    key = ("tsummary", table_id)
    cached: dict[int, frozenset[str]] | None = st.cache.get(key)
    if cached is None:
        values: dict[int, set[str]] = {k: {v} for k, v in table_tags(st, table_id).items()}
        for tags in st.column_tags.get(table_id, {}).values():
            for k, v in tags.items():
                values.setdefault(k, set()).add(v)
        cached = {k: st.intern(frozenset(v)) for k, v in values.items()}
        st.cache[key] = cached
    return cached


def matching_columns(st: GovernanceState, table_id: int, expression: Expression) -> list[str]:
    """The columns of a table whose effective tags match (rule 14), in table order."""
    t = st.tables[table_id]
    ttags = table_tags(st, table_id)
    own = st.column_tags.get(table_id, {})
    if not own or not _overridden_keys(st, table_id) & {k for k, _ in expression}:
        # no column overrides a key of the expression: all columns match, or none
        return list(t.columns) if expression_matches(expression, ttags) else []
    out = []
    for c in t.columns:
        mine = own.get(c)
        if mine is None:
            ok = expression_matches(expression, ttags)
        else:
            ok = True
            for key_id, values in expression:
                value = mine.get(key_id, ttags.get(key_id))
                if value is None or (WILDCARD not in values and value not in values):
                    ok = False
                    break
        if ok:
            out.append(c)
    return out


def _overridden_keys(st: GovernanceState, table_id: int) -> frozenset[int]:
    """Tag keys that some column of the table sets itself (cached per state)."""
    key = ("okeys", table_id)
    cached = st.cache.get(key)
    if cached is None:
        own = st.column_tags.get(table_id, {})
        cached = frozenset(k for tags in own.values() for k in tags)
        st.cache[key] = cached
    return cached
