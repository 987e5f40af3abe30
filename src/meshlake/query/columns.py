"""Qualify a rewritten query and list the columns it reads from each governed view.

Step 3 of the governed query pipeline (ARCHITECTURE.md §5). sqlglot's ``qualify`` runs over
the rewritten query with a schema made of the **visible** columns of each governed view only,
so a hidden column is exactly as unknown as a column that does not exist: both give
:class:`~meshlake.errors.NotFoundError` ``column X not found`` (rule 8), with no position,
so that neither the message nor its details tell them apart.

Constructs that read "the whole row" (``SELECT t``, ``COLUMNS(...)``, ``#1``, ``t.*`` inside a
function) count as reading every visible column of the views in scope. When sqlglot cannot
qualify a query that DuckDB accepts, the analysis falls back to "every visible column of
every view" (``exact=False``) and DuckDB binds the query against the views, which hold
visible columns only: the views, not this analysis, are the security boundary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from meshlake.errors import InvalidQueryError, NotFoundError
from meshlake.query.context import ScanColumn

__all__ = ["ColumnUsage", "column_not_found", "read_columns"]

_UNRESOLVED = (
    re.compile(
        r"Column '(?P<column>[^']*)' could not be resolved(?: for table: '(?P<table>[^']*)')?"
    ),
    re.compile(r"Unknown column: (?P<column>.+)$"),
    re.compile(r"Cannot automatically join: (?P<join>.+)$"),
)


#: Names DuckDB resolves, when no column has them, to session values (``SELECT user``).
_SESSION_WORDS = frozenset(
    {"current_role", "user", "current_schema", "current_user", "session_user", "current_catalog"}
)


@dataclass(frozen=True)
class ColumnUsage:
    """The columns a query reads.

    Attributes:
        columns: per governed view, the visible columns read (their real names, table order).
        analyzed: the qualified query (every column qualified, stars expanded), or the
            rewritten query unchanged when qualification fell back.
        exact: False when the analysis fell back to "every visible column".
    """

    columns: Mapping[str, tuple[str, ...]]
    analyzed: exp.Expr
    exact: bool


def column_not_found(column: str, table: str | None = None) -> NotFoundError:
    """The one error for a hidden or missing column (rule 8).

    >>> column_not_found("ssn").message
    'column ssn not found'
    """
    name = f"{table}.{column}" if table else column
    return NotFoundError(f"column {name} not found")


def _has_other_sources(expression: exp.Expr) -> bool:
    """True when the query reads something besides views and CTEs (VALUES, unnest, range)."""
    if expression.find(exp.Values, exp.Unnest) is not None:
        return True
    return any(not isinstance(t.this, exp.Identifier) for t in expression.find_all(exp.Table))


@functools.lru_cache(maxsize=1024)
def _schema_type(type_text: str) -> str:
    """A type sqlglot can read (``UNKNOWN`` for one it cannot: qualify needs no type)."""
    try:
        exp.DataType.build(type_text, dialect="duckdb")
    except Exception:
        return "UNKNOWN"
    return type_text


def _aliases(expression: exp.Expr, views: Mapping[str, object]) -> dict[str, set[str]]:
    """View name -> the aliases it is known by in the query (lower-cased)."""
    found: dict[str, set[str]] = {}
    for table in expression.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and table.name in views:
            found.setdefault(table.name, set()).add(table.alias_or_name.lower())
    return found


def _translate(
    exc: OptimizeError, expression: exp.Expr, visible: Mapping[str, set[str]]
) -> Exception | None:
    """The user-facing error for a qualify failure, or None to fall back to DuckDB."""
    match = next((m for p in _UNRESOLVED if (m := p.search(str(exc))) is not None), None)
    if match is None:
        return None
    groups = match.groupdict()
    if groups.get("join"):  # USING (c) with c missing on one side
        return column_not_found(groups["join"].strip().lower())
    column = groups["column"].strip().lower()
    table = (groups.get("table") or "").lower()
    aliases = _aliases(expression, visible)
    if table:
        owners = [view for view, names in aliases.items() if table in names]
        if owners and all(column not in visible[v] for v in owners):
            return column_not_found(column)
        if not owners and not _has_other_sources(expression):
            return column_not_found(column, table)
        return None
    if column in _SESSION_WORDS:  # DuckDB would answer these itself: never leave them to it
        return column_not_found(column)
    holders = [view for view in aliases if column in visible[view]]
    if len(holders) > 1:
        return InvalidQueryError(f"column {column} is ambiguous: qualify it with a table name")
    if not holders and not _has_other_sources(expression):
        return column_not_found(column)
    return None


def _check_session_words(expression: exp.Expr, visible: Mapping[str, set[str]]) -> None:
    """Refuse ``user``, ``current_schema``... unless the query defines a column of that name.

    DuckDB binds such a bare name to a column when one is in scope and otherwise answers a
    session value; sqlglot may attribute it to a table function's output instead of failing.
    """
    names = {
        c.name.lower()
        for c in expression.find_all(exp.Column)
        if not c.text("table") and c.name.lower() in _SESSION_WORDS
    }
    if not names:
        return
    defined = set().union(*visible.values()) if visible else set()
    defined |= {a.alias.lower() for a in expression.find_all(exp.Alias)}
    for alias in expression.find_all(exp.TableAlias):
        defined |= {c.name.lower() for c in alias.columns}
    for name in sorted(names - defined):
        raise column_not_found(name)


def _source(scope: Scope | None, alias: str) -> object | None:
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _view_of(source: object, views: Mapping[str, object]) -> str | None:
    if isinstance(source, exp.Table) and source.name in views:
        return source.name
    return None


def _scope_views(scope: Scope, views: Mapping[str, object]) -> list[str]:
    found = (_view_of(source, views) for source in scope.sources.values())
    return [view for view in found if view is not None]


def _usage(qualified: exp.Expr, visible: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Columns read per view, from the scopes of a qualified query."""
    read: dict[str, set[str]] = {view: set() for view in visible}
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            view = _view_of(_source(scope, column.table), visible)
            if view is not None and column.name.lower() in visible[view]:
                read[view].add(column.name.lower())
        whole_row: set[str] = set()
        for star in scope.stars:
            table = star.table if isinstance(star, exp.Column) else ""
            view = _view_of(_source(scope, table), visible) if table else None
            whole_row.update([view] if view else _scope_views(scope, visible))
        if scope.find(exp.Columns, exp.PositionalColumn) is not None:
            whole_row.update(_scope_views(scope, visible))
        for node in scope.find_all(exp.Column, exp.TableColumn):
            if isinstance(node, exp.TableColumn) or not node.text("table"):
                view = _view_of(_source(scope, node.name), visible)
                if view is not None and (
                    isinstance(node, exp.TableColumn) or node.name.lower() not in visible[view]
                ):
                    whole_row.add(view)
        for view in whole_row:
            read[view].update(visible[view])
    return read


def read_columns(
    expression: exp.Expr,
    views: Mapping[str, Sequence[ScanColumn]],
    *,
    dialect: str = "duckdb",
) -> ColumnUsage:
    """Qualify ``expression`` against the views' visible columns and list what it reads.

    Args:
        expression: the rewritten query (reads governed views by name); left unchanged.
        views: view name -> its visible columns (table order).
        dialect: the dialect of ``expression``.

    Returns:
        The columns read per view and the qualified query.

    Raises:
        NotFoundError: a column that is hidden or does not exist (same message either way).
        InvalidQueryError: an ambiguous column name.
    """
    visible = {view: {c.name.lower() for c in cols} for view, cols in views.items()}
    schema: dict[str, object] = {
        view: {c.name.lower(): _schema_type(c.type) for c in cols} for view, cols in views.items()
    }
    _check_session_words(expression, visible)
    try:
        qualified = qualify(
            expression.copy(), schema=schema, dialect=dialect, validate_qualify_columns=True
        )
        read = _usage(qualified, visible)
        exact = True
    except OptimizeError as exc:
        error = _translate(exc, expression, visible)
        if error is not None:
            raise error from None
        qualified, read, exact = expression, {v: set(c) for v, c in visible.items()}, False
    except Exception:  # sqlglot cannot model the query: DuckDB binds it against the views
        qualified, read, exact = expression, {v: set(c) for v, c in visible.items()}, False
    columns = {
        view: tuple(c.name for c in cols if c.name.lower() in read[view])
        for view, cols in views.items()
    }
    return ColumnUsage(columns, qualified, exact)
