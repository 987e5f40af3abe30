"""Rule: replace every catalog table reference by its governed view.

``FROM sales.orders o`` becomes ``FROM "__meshlake_scan_0" AS o``; a reference without alias
gets its table name as alias (``FROM sales.orders`` -> ``FROM "__meshlake_scan_0" AS
"orders"``) so that ``orders.id`` and ``sales.orders.id`` still resolve. CTE references,
table functions and ``VALUES`` are left alone. Time travel clauses stay for the next rule.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from meshlake.errors import InvalidQueryError
from meshlake.query.references import table_reference

__all__ = ["governed_views"]


def governed_views(expression: exp.Expr, *, ctx: Any) -> exp.Expr:
    """Return a copy of ``expression`` reading governed views instead of catalog tables.

    Args:
        expression: a parsed query.
        ctx: the rewrite context; ``ctx.views`` maps each table reference to a view name.

    Returns:
        The rewritten query.

    Raises:
        InvalidQueryError: a table reference has no view (the context does not match the
            query: a programming error surfaced as a refusal, never a silent pass-through).
    """
    copy = expression.copy()
    tables = [(t, table_reference(t)) for t in copy.find_all(exp.Table)]
    default_aliased: set[tuple[str, str]] = set()
    for table, ref in tables:
        if ref is None:
            continue
        view = ctx.views.get(ref)
        if view is None:
            raise InvalidQueryError(f"table {ref} was not planned")
        if table.args.get("alias") is None:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)))
            if ref.database:
                default_aliased.add((ref.database, ref.name))
        table.set("this", exp.to_identifier(view, quoted=True))
        table.set("db", None)
        table.set("catalog", None)
    if default_aliased:
        for column in copy.find_all(exp.Column):
            qualifier = (column.text("db").lower(), column.text("table").lower())
            if column.args.get("db") is not None and qualifier in default_aliased:
                column.set("db", None)
    return copy
