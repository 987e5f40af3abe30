"""Rule: remove time travel clauses from governed view references.

A view already reads the snapshot the clause asked for (the rewrite context keys views by
reference *and* time travel), so the clause must not reach the engine.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

__all__ = ["strip_time_travel"]

_CLAUSES = ("version", "when")


def _is_view(table: exp.Table, views: set[str]) -> bool:
    return isinstance(table.this, exp.Identifier) and not table.db and table.name in views


def strip_time_travel(expression: exp.Expr, *, ctx: Any) -> exp.Expr:
    """Return a copy of ``expression`` whose view references carry no time travel clause.

    Args:
        expression: a query whose catalog tables were replaced by governed views.
        ctx: the rewrite context (its ``views`` name the governed views).

    Returns:
        The query without ``FOR VERSION/TIMESTAMP AS OF`` or ``AT (...)`` on views.
    """
    views = set(ctx.views.values())
    targets = [
        t
        for t in expression.find_all(exp.Table)
        if _is_view(t, views) and any(t.args.get(k) is not None for k in _CLAUSES)
    ]
    if not targets:
        return expression
    copy = expression.copy()
    for table in copy.find_all(exp.Table):
        if _is_view(table, views):
            for key in _CLAUSES:
                table.set(key, None)
    return copy
