"""Predicates of a query that may be evaluated below a governed view's fence.

A governed view that needs a barrier ends in ``OFFSET 0`` (see :mod:`~meshlake.query.
engines.duckdb`): no predicate of the query crosses it, so every row the policy admits
comes up, and the user's filters run above, on visible rows only. That also keeps a
selective filter (``o_orderdate < DATE '1995-03-15'``) from reaching the Parquet scan,
whose zone maps would skip most of the file. So the comparisons that cannot raise on any
row, and that every read of the view applies anyway, are *copied* below the fence (the
query keeps its own copy above): the result is the same, and the scan prunes again
(ARCHITECTURE.md §5's fallback fence).

What is copied, and why it is safe:

* Only conjuncts of a ``WHERE`` (or an inner join's ``ON``) of a ``SELECT`` whose joins are
  all inner or cross, over the columns of one reference to the view: a row failing it can
  never reach the result through that reference. Every reference of the view in the query
  must apply the predicate (the view is shared), so the copied set is their intersection.
* Only ``column <op> constant`` (``= <> < <= > >=``), ``BETWEEN``, ``IN`` lists, ``IS
  [NOT] NULL``, and ``AND``/``OR``/``NOT`` of these. No function is ever copied, nor a
  comparison of two columns: it could not prune the scan, and measured, it only upset the
  join estimates (TPC-H Q4's ``l_commitdate < l_receiptdate``: 2x slower copied).
* The column is an unmasked visible column of a plain scalar type (integers, ``DOUBLE``,
  ``DECIMAL``, ``VARCHAR``, ``DATE``, ``TIMESTAMP``, ``BOOLEAN``), and the constant is made
  of literals only (numbers, strings, typed date/timestamp literals, intervals, ``+``/``-``).
  The copy compares the column with ``CAST(<constant> AS <column type>)``, and only when
  that cast is exact (DuckDB folds it once: ``TRY_CAST(c AS T) = c``): the column is never
  cast, so the comparison cannot raise on any row, hidden or not, and keeps exactly the
  rows the original comparison keeps.
* Anything else (a query sqlglot cannot qualify, an outer join, a reference the analysis
  cannot place) copies nothing: the fence alone is always correct.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping

import duckdb
from sqlglot import exp, parse_one
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

__all__ = ["pushable_predicates"]

Schema = tuple[tuple[str, tuple[tuple[str, str, bool], ...]], ...]
"""Per view: (view name, ((column, DuckDB type, may be pushed), ...))."""

_NUMBER = re.compile(r"\d+(\.\d+)?")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
_TEMPORAL = (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ)


def _column_kind(duck_type: str) -> str | None:
    """The comparison domain of a column type, None when its comparisons are not copied.

    >>> _column_kind("DECIMAL(15,2)"), _column_kind("DATE"), _column_kind("FLOAT")
    ('number', 'temporal', None)
    """
    t = duck_type.strip().upper()
    if t in _INTEGERS or t == "DOUBLE" or t.startswith("DECIMAL"):
        return "number"  # FLOAT is left out: a float column is compared as DOUBLE
    if t == "VARCHAR":
        return "string"
    if t in ("DATE", "TIMESTAMP"):
        return "temporal"
    if t == "BOOLEAN":
        return "boolean"
    return None


def _constant_kind(node: exp.Expr) -> str | None:
    """The domain of a constant built from literals only, None for anything else."""
    if isinstance(node, exp.Paren):
        return _constant_kind(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return "string"
        return "number" if _NUMBER.fullmatch(str(node.this)) else None
    if isinstance(node, exp.Neg):
        return "number" if _constant_kind(node.this) == "number" else None
    if isinstance(node, exp.Boolean):
        return "boolean"
    if type(node) is exp.Cast:
        inner = node.this
        to = node.args.get("to")
        if (
            isinstance(inner, exp.Literal)
            and inner.is_string
            and isinstance(to, exp.DataType)
            and to.this in _TEMPORAL
            and not to.expressions
        ):
            return "temporal"
        return None
    if isinstance(node, exp.Add | exp.Sub):
        left, right = node.this, node.expression
        kinds = (_constant_kind(left), _constant_kind(right))
        if kinds == ("number", "number"):
            return "number"
        if kinds[0] == "temporal" and _is_interval(right):
            return "temporal"
        if isinstance(node, exp.Add) and _is_interval(left) and kinds[1] == "temporal":
            return "temporal"
        return None
    if isinstance(node, exp.Mul):
        kinds = (_constant_kind(node.this), _constant_kind(node.expression))
        return "number" if kinds == ("number", "number") else None
    return None


def _is_interval(node: exp.Expr) -> bool:
    if not isinstance(node, exp.Interval):
        return False
    value, unit = node.this, node.args.get("unit")
    return (
        isinstance(value, exp.Literal)
        and _NUMBER.fullmatch(str(value.this)) is not None
        and (unit is None or isinstance(unit, exp.Var))
    )


_LOCK = threading.Lock()
_CONN: duckdb.DuckDBPyConnection | None = None


@functools.lru_cache(maxsize=4096)
def _exact_cast(constant: str, duck_type: str) -> bool:
    """Is ``CAST(constant AS duck_type)`` the same value (DuckDB folds the constant)?"""
    global _CONN
    with _LOCK:
        if _CONN is None:
            _CONN = duckdb.connect(
                config={
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "enable_external_access": False,
                    "lock_configuration": True,
                }
            )
        try:
            row = _CONN.execute(
                f"SELECT TRY_CAST(({constant}) AS {duck_type}) = ({constant})"
            ).fetchone()
        except duckdb.Error:
            return False
    return bool(row and row[0] is True)


class _Extractor:
    """Finds, per view, the copyable conjuncts of each of its references."""

    def __init__(self, columns: Mapping[str, Mapping[str, tuple[str, str, bool]]]) -> None:
        # view -> lower-case column -> (name, type, may be pushed)
        self.columns = columns

    def scope_predicates(self, scope: Scope) -> dict[exp.Table, list[exp.Expr]] | None:
        """For each view reference among the scope's sources, its copies (None: the
        scope has outer or special joins, its references get nothing)."""
        select = scope.expression
        refs = {
            alias: source
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and source.name in self.columns
        }
        if not refs or not isinstance(select, exp.Select):
            return None
        if select.args.get("sample") is not None or any(
            t.args.get("sample") is not None or t.args.get("pivots") for t in refs.values()
        ):
            return None  # a sample or an (un)pivot sees the rows before the WHERE
        conditions: list[exp.Expr] = []
        for join in select.args.get("joins") or []:
            if (
                join.side
                or join.args.get("method")
                or (join.kind or "") not in ("", "INNER", "CROSS")
            ):
                return None
            on = join.args.get("on")
            if on is not None:
                conditions.extend(on.flatten() if isinstance(on, exp.And) else [on])
        where = select.args.get("where")
        if where is not None:
            conditions.extend(
                where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
            )
        found: dict[exp.Table, list[exp.Expr]] = {}
        for alias, table in refs.items():
            parent = table.parent
            if not (
                (isinstance(parent, exp.From) and parent.parent is select)
                or (isinstance(parent, exp.Join) and parent.parent is select)
            ):
                continue
            view = self.columns[table.name]
            copies = []
            for condition in conditions:
                copy = self.derive(condition, alias, view)
                if copy is not None:
                    copies.append(copy)
            found[table] = copies
        return found

    def derive(
        self, node: exp.Expr, alias: str, view: Mapping[str, tuple[str, str, bool]]
    ) -> exp.Expr | None:
        """A predicate over the reference's columns implied by ``node`` (None: none).

        Under ``AND`` the parts that cannot be copied are dropped (a weaker filter is still
        implied); an ``OR`` needs an implied predicate from each side, so ``(l.a = 1 AND
        p.b = 2) OR (l.a = 3 AND p.b = 4)`` gives ``l.a = 1 OR l.a = 3``. Elsewhere the
        predicate must be copied whole.
        """
        if isinstance(node, exp.Paren):
            return self.derive(node.this, alias, view)
        if isinstance(node, exp.And):
            parts = [self.derive(c, alias, view) for c in node.flatten()]
            kept = [p for p in parts if p is not None]
            return exp.and_(*kept, copy=False) if kept else None
        if isinstance(node, exp.Or):
            left = self.derive(node.this, alias, view)
            right = self.derive(node.expression, alias, view)
            if left is None or right is None:
                return None
            return exp.or_(left, right, copy=False)
        return self.copy(node, alias, view)

    def copy(
        self, node: exp.Expr, alias: str, view: Mapping[str, tuple[str, str, bool]]
    ) -> exp.Expr | None:
        """The predicate over the view's own columns, or None when it may not be copied."""
        if isinstance(node, exp.Paren):
            inner = self.copy(node.this, alias, view)
            return exp.Paren(this=inner) if inner is not None else None
        if isinstance(node, exp.And | exp.Or):
            left = self.copy(node.this, alias, view)
            right = self.copy(node.expression, alias, view)
            if left is None or right is None:
                return None
            return type(node)(this=left, expression=right)
        if isinstance(node, exp.Not):
            inner = self.copy(node.this, alias, view)
            return exp.Not(this=inner) if inner is not None else None
        if isinstance(node, exp.Is):
            column = self.column(node.this, alias, view)
            if column is None or not isinstance(node.expression, exp.Null):
                return None
            return exp.Is(this=column[0], expression=exp.Null())
        if isinstance(node, _COMPARISONS):
            left, right = node.this, node.expression
            lcol, rcol = self.column(left, alias, view), self.column(right, alias, view)
            if lcol is not None and rcol is not None:
                return None  # no pruning to gain, and it upsets the join estimates (Q4)
            if lcol is not None:
                constant = self.constant(right, lcol[1])
                return type(node)(this=lcol[0], expression=constant) if constant else None
            if rcol is not None:
                constant = self.constant(left, rcol[1])
                return type(node)(this=constant, expression=rcol[0]) if constant else None
            return None
        if isinstance(node, exp.Between):
            column = self.column(node.this, alias, view)
            if column is None:
                return None
            low = self.constant(node.args["low"], column[1])
            high = self.constant(node.args["high"], column[1])
            if low is None or high is None:
                return None
            return exp.Between(this=column[0], low=low, high=high)
        if isinstance(node, exp.In):
            column = self.column(node.this, alias, view)
            if column is None or any(
                node.args.get(k) is not None for k in ("query", "unnest", "field")
            ):
                return None
            items = [self.constant(e, column[1]) for e in node.expressions]
            if not items or any(i is None for i in items):
                return None
            return exp.In(this=column[0], expressions=items)
        return None

    @staticmethod
    def column(
        node: exp.Expr, alias: str, view: Mapping[str, tuple[str, str, bool]]
    ) -> tuple[exp.Column, str] | None:
        """The pushable column of this reference that ``node`` is, with its type."""
        if not isinstance(node, exp.Column) or node.table != alias:
            return None
        entry = view.get(node.name.lower())
        if entry is None or not entry[2] or _column_kind(entry[1]) is None:
            return None
        return exp.column(exp.to_identifier(entry[0], quoted=True)), entry[1]

    @staticmethod
    def constant(node: exp.Expr, duck_type: str) -> exp.Expr | None:
        """``CAST(node AS duck_type)`` when that is exact and in the column's domain."""
        column_kind, kind = _column_kind(duck_type), _constant_kind(node)
        if kind is None or not (
            kind == column_kind or (kind == "string" and column_kind == "temporal")
        ):
            return None
        text = node.sql(dialect="duckdb")
        if not _exact_cast(text, duck_type):
            return None
        return exp.cast(node.copy(), exp.DataType.build(duck_type, dialect="duckdb"))


def _intersection(groups: Iterable[list[str]]) -> tuple[str, ...]:
    groups = list(groups)
    if not groups:
        return ()
    common = set(groups[0]).intersection(*groups[1:])
    return tuple(p for p in dict.fromkeys(groups[0]) if p in common)


@functools.lru_cache(maxsize=1024)
def pushable_predicates(sql: str, schema: Schema) -> Mapping[str, tuple[str, ...]]:
    """The predicates each fenced view may evaluate below its fence (see the module doc).

    Args:
        sql: the rewritten query (DuckDB dialect), reading views by name.
        schema: every view of the query with its visible columns: (name, DuckDB type,
            whether predicates on it may be pushed: False for masked columns and for views
            without a fence).

    Returns:
        View name -> predicates in DuckDB SQL over the view's own column names (views with
        nothing to copy are left out). Cached; treat as immutable.

    >>> schema = (("v", (("id", "BIGINT", True), ("d", "DATE", True))),)
    >>> pushable_predicates(
    ...     "SELECT t.id FROM v AS t WHERE t.d < DATE '2024-01-01' AND t.id % 2 = 1", schema)
    {'v': ('"d" < CAST(\\'2024-01-01\\' AS DATE)',)}
    """
    columns = {
        view: {name.lower(): (name, kind, push) for name, kind, push in cols}
        for view, cols in schema
    }
    targets = {view for view, cols in columns.items() if any(p for _, _, p in cols.values())}
    if not targets:
        return {}
    try:
        tree = parse_one(sql, read="duckdb")
        qualified = qualify(
            tree,
            schema={
                view: {c: kind for c, (_, kind, _) in cols.items()}
                for view, cols in columns.items()
            },
            dialect="duckdb",
            validate_qualify_columns=False,
            quote_identifiers=False,
        )
        extractor = _Extractor({v: columns[v] for v in targets})
        per_reference: dict[int, list[str]] = {}
        blocked: set[str] = set()
        for scope in traverse_scope(qualified):
            found = extractor.scope_predicates(scope)
            if found is None:
                for source in scope.sources.values():
                    if isinstance(source, exp.Table) and source.name in targets:
                        blocked.add(source.name)
                continue
            for table, copies in found.items():
                per_reference[id(table)] = [c.sql(dialect="duckdb") for c in copies]
        result: dict[str, tuple[str, ...]] = {}
        for view in targets - blocked:
            references = [t for t in qualified.find_all(exp.Table) if t.name == view]
            if not references or any(id(t) not in per_reference for t in references):
                continue
            common = _intersection(per_reference[id(t)] for t in references)
            if common:
                result[view] = common
        return result
    except Exception:
        return {}
