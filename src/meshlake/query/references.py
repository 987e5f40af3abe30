"""Table references of a query: which ``FROM`` items name catalog tables.

A :class:`TableReference` is one catalog table as a query names it (database, table, time
travel), lower-cased like DuckDB does. CTE names shadow catalog tables: ``WITH t AS (...)
SELECT * FROM t`` reads the CTE, not the table ``t`` of the default database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlglot import exp

from meshlake.errors import InvalidQueryError

__all__ = ["TableReference", "TimeTravel", "cte_names_in_scope", "table_reference"]


@dataclass(frozen=True, order=True)
class TimeTravel:
    """``FOR VERSION AS OF <snapshot id>`` or ``FOR TIMESTAMP AS OF '<iso time>'``.

    Attributes:
        kind: ``"version"`` or ``"timestamp"``.
        snapshot_id: the snapshot id (kind ``version``).
        as_of: the time, timezone-aware; a time written without zone is UTC (``timestamp``).
    """

    kind: str
    snapshot_id: int | None = None
    as_of: datetime | None = None

    def __str__(self) -> str:
        if self.kind == "version":
            return f"VERSION AS OF {self.snapshot_id}"
        assert self.as_of is not None
        return f"TIMESTAMP AS OF '{self.as_of.isoformat()}'"


@dataclass(frozen=True, order=True)
class TableReference:
    """A catalog table as named in a query (names lower-cased; ``database`` None = default)."""

    database: str | None
    name: str
    travel: TimeTravel | None = None

    def __str__(self) -> str:
        text = f"{self.database}.{self.name}" if self.database else self.name
        return f"{text} FOR {self.travel}" if self.travel else text


def _cte_names(with_: exp.With, upto: int | None = None) -> set[str]:
    ctes = with_.expressions if upto is None else with_.expressions[:upto]
    return {cte.alias_or_name.lower() for cte in ctes}


def cte_names_in_scope(node: exp.Expr) -> set[str]:
    """The CTE names visible where ``node`` stands (lower-cased).

    A table inside the body of the i-th CTE of a ``WITH`` sees the CTEs before it (and
    itself for ``WITH RECURSIVE``); anything in the query body sees all of them; outer
    queries' CTEs are visible in nested subqueries.

    >>> from sqlglot import parse_one
    >>> q = parse_one("WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b, c")
    >>> tables = {t.name: t for t in q.find_all(exp.Table)}
    >>> sorted(cte_names_in_scope(tables["c"])), sorted(cte_names_in_scope(tables["a"]))
    (['a', 'b'], ['a'])
    """
    names: set[str] = set()
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.CTE) and isinstance(parent.parent, exp.With):
            with_ = parent.parent
            index = next(i for i, cte in enumerate(with_.expressions) if cte is parent)
            names |= _cte_names(with_, index + 1 if with_.args.get("recursive") else index)
            owner = with_.parent
            if owner is None:
                break
            child, parent = owner, owner.parent
            continue
        owned = parent.args.get("with_") or parent.args.get("with")
        if isinstance(owned, exp.With) and child is not owned:
            names |= _cte_names(owned)
        child, parent = parent, parent.parent
    return names


def _literal_int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Neg):
        inner = _literal_int(node.this)
        return None if inner is None else -inner
    return None


def _literal_time(node: exp.Expr | None) -> datetime | None:
    if isinstance(node, exp.Cast | exp.TryCast) and node.to.is_type(*exp.DataType.TEMPORAL_TYPES):
        node = node.this
    if not (isinstance(node, exp.Literal) and node.is_string):
        return None
    try:
        value = datetime.fromisoformat(node.this)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _time_travel(table: exp.Table) -> TimeTravel | None:
    """The time travel clause of a table, or None; InvalidQueryError when unsupported."""
    version = table.args.get("version")
    when = table.args.get("when")
    if version is None and when is None:
        return None
    if isinstance(version, exp.Version):
        kind = str(version.this).upper()
        clause = str(version.args.get("kind") or "").upper()
        value = version.expression
        if clause != "AS OF":
            raise InvalidQueryError(f"time travel FOR {kind} {clause} is not supported")
    elif isinstance(when, exp.HistoricalData):
        kind = str(when.args.get("kind") or "").upper()
        value = when.expression
        if str(when.this).upper() != "AT":
            raise InvalidQueryError("time travel: use FOR VERSION AS OF or FOR TIMESTAMP AS OF")
    else:
        raise InvalidQueryError("unsupported time travel clause")
    if kind == "VERSION":
        snapshot = _literal_int(value)
        if snapshot is None:
            raise InvalidQueryError("FOR VERSION AS OF needs an integer snapshot id")
        return TimeTravel("version", snapshot_id=snapshot)
    if kind in ("TIMESTAMP", "SYSTEM_TIME"):
        as_of = _literal_time(value)
        if as_of is None:
            raise InvalidQueryError("FOR TIMESTAMP AS OF needs an ISO time literal")
        return TimeTravel("timestamp", as_of=as_of)
    raise InvalidQueryError(f"time travel by {kind or 'this clause'} is not supported")


def table_reference(table: exp.Table) -> TableReference | None:
    """The catalog table a ``FROM`` item names, or None (a CTE or a table function).

    Args:
        table: a table expression of a parsed (or rewritten) query.

    Returns:
        The reference, names lower-cased; None for a CTE reference or a function call.

    Raises:
        InvalidQueryError: an unsupported time travel clause, or time travel on a CTE.

    >>> from sqlglot import parse_one
    >>> str(table_reference(parse_one("SELECT * FROM Db.T FOR VERSION AS OF 7").find(exp.Table)))
    'db.t FOR VERSION AS OF 7'
    """
    if not isinstance(table.this, exp.Identifier):
        return None
    name = table.name.lower()
    database = table.db.lower() or None
    if database is None and name in cte_names_in_scope(table):
        if _time_travel(table) is not None:
            raise InvalidQueryError(f"time travel on the CTE {name} is not supported")
        return None
    return TableReference(database, name, _time_travel(table))
