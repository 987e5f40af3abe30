"""Rewrite rules: turn an analysed query into the SQL the engine runs over governed views.

Each rule is a small pure function ``rule(expression, *, ctx) -> expression`` in a module of
its own, with golden fixtures in ``tests/query/fixtures/<rule>.yaml`` (the habit of sqlglot's
optimizer). :data:`RULES` lists them in the order :func:`rewrite` applies them. A rule never
mutates its input: it returns a changed copy (or the input itself when nothing changes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from meshlake.query.references import TableReference
from meshlake.query.rewrite.governed_views import governed_views
from meshlake.query.rewrite.strip_comments import strip_comments
from meshlake.query.rewrite.strip_time_travel import strip_time_travel

__all__ = ["RULES", "RewriteContext", "Rule", "rewrite", "view_name"]


@dataclass(frozen=True)
class RewriteContext:
    """What the rules need to know about one query.

    Attributes:
        views: the governed view standing for each catalog table reference; a reference's
            time travel clause is part of its key, so ``t`` and ``t FOR VERSION AS OF 3``
            get distinct views (the engine reads a different snapshot for each).
    """

    views: Mapping[TableReference, str] = field(default_factory=dict)


Rule = Callable[..., exp.Expr]

#: The rewrite rules, in order.
RULES: tuple[Rule, ...] = (strip_comments, governed_views, strip_time_travel)


def view_name(index: int) -> str:
    """The name of the ``index``-th governed view of a query.

    >>> view_name(0)
    '__meshlake_scan_0'
    """
    return f"__meshlake_scan_{index}"


def rewrite(expression: exp.Expr, *, ctx: RewriteContext) -> exp.Expr:
    """Apply every rule of :data:`RULES` in order.

    Args:
        expression: the parsed query (left unchanged).
        ctx: the views standing for its table references.

    Returns:
        The rewritten query.
    """
    for rule in RULES:
        expression = rule(expression, ctx=ctx)
    return expression
