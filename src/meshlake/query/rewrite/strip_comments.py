"""Rule: drop every comment, so the SQL the engine runs holds only what was analysed."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

__all__ = ["strip_comments"]


def strip_comments(expression: exp.Expr, *, ctx: Any = None) -> exp.Expr:
    """Return a copy of ``expression`` without comments.

    Args:
        expression: a parsed query.
        ctx: unused (every rule takes the rewrite context).

    Returns:
        The query without comments (the input itself when it has none).

    >>> from sqlglot import parse_one
    >>> strip_comments(parse_one("SELECT 1 /* hi */ -- there")).sql()
    'SELECT 1'
    """
    if not any(node.comments for node in expression.walk()):
        return expression
    copy = expression.copy()
    for node in copy.walk():
        if node.comments:
            node.comments = None
    return copy
