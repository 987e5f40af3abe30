"""Safe SQL expressions for ``derive`` and ``filter`` steps.

An expression is parsed with sqlglot (DuckDB dialect) and may only contain column
references (unqualified), literals, arithmetic, comparisons, boolean logic, ``CASE`` /
``IF``, ``IN`` / ``BETWEEN`` / ``LIKE`` / ``IS NULL``, casts, and calls to a small
allow-list of pure functions. Anything else (subqueries, table functions such as
``read_csv``, ``*``, unknown functions, several statements) is refused before DuckDB sees it.
The expression is then rendered back with every identifier quoted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from meshlake.errors import InvalidInputError

__all__ = ["ALLOWED_FUNCTIONS", "SafeExpression", "check_columns", "parse_expression"]

#: Functions an expression may call (sqlglot's names for them, lower case).
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs", "round", "floor", "ceil", "sqrt", "ln", "log", "exp", "power", "sign",
        "least", "greatest", "coalesce", "nullif", "if", "case", "cast", "try_cast",
        "lower", "upper", "trim", "length", "substring", "concat", "replace", "left", "right",
        "starts_with", "regexp_like", "strpos", "lpad", "rpad",
        "year", "month", "day", "dayofweek", "datediff", "date_diff", "timestamp_trunc",
        "date_trunc", "time_to_str",
    }
)  # fmt: skip

_ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Neg,
    exp.Not, exp.And, exp.Or, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv,
    exp.DPipe, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In,
    exp.Between, exp.Like, exp.ILike, exp.Case, exp.If, exp.DataType, exp.DataTypeParam,
    exp.Tuple, exp.Cast,
)  # fmt: skip
_UNIT_PARENTS: tuple[type[exp.Expr], ...] = (
    exp.DateDiff, exp.TimestampTrunc, exp.DateTrunc, exp.TimestampDiff
)  # fmt: skip


@dataclass(frozen=True)
class SafeExpression:
    """A checked expression: its DuckDB SQL and the columns it reads."""

    sql: str
    columns: frozenset[str]


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def parse_expression(text: str, *, what: str = "expression") -> SafeExpression:
    """Parse and check an expression; return its quoted DuckDB SQL and the columns it reads.

    Args:
        text: the expression (``amount / duration``, ``age >= 18 AND status <> 'x'``).
        what: how error messages name it.

    Returns:
        The checked expression.

    Raises:
        InvalidInputError: it does not parse, or uses something not allowed.

    >>> parse_expression("amount / duration").sql
    '"amount" / "duration"'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} is empty")
    try:
        parsed = [e for e in sqlglot.parse(text, dialect="duckdb") if e is not None]
    except (ParseError, sqlglot.errors.TokenError) as exc:
        raise InvalidInputError(f"{what} {text!r} does not parse: {exc}") from exc
    if len(parsed) != 1:
        raise InvalidInputError(f"{what} {text!r} must be exactly one expression")
    tree = parsed[0]
    columns: set[str] = set()
    for node in tree.walk():
        _check_node(node, text, what)
        if isinstance(node, exp.Column):
            columns.add(str(node.name))
    return SafeExpression(sql=tree.sql(dialect="duckdb", identify=True), columns=frozenset(columns))


def _check_node(node: exp.Expr, text: str, what: str) -> None:
    if isinstance(node, exp.Column):
        if node.table or isinstance(node.this, exp.Star):
            raise InvalidInputError(f"{what} {text!r}: refer to columns by name only")
        return
    if isinstance(node, _ALLOWED_NODES):
        return
    if isinstance(node, exp.Var) and isinstance(node.parent, _UNIT_PARENTS):
        return  # a date part such as 'day'
    if isinstance(node, exp.Func):
        name = _function_name(node)
        if name not in ALLOWED_FUNCTIONS or isinstance(node, exp.AggFunc):
            raise InvalidInputError(
                f"{what} {text!r}: function {name}() is not allowed "
                f"(allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))})"
            )
        return
    raise InvalidInputError(
        f"{what} {text!r}: {type(node).__name__.lower()} is not allowed; use columns, "
        "literals, arithmetic, comparisons, CASE and allowed functions"
    )


def check_columns(expr: SafeExpression, available: Collection[str], *, what: str) -> None:
    """Raise when the expression reads a column that is not available.

    Raises:
        InvalidInputError: naming the unknown column(s).
    """
    lower = {c.lower() for c in available}
    missing = sorted(c for c in expr.columns if c.lower() not in lower)
    if missing:
        raise InvalidInputError(
            f"{what} reads unknown column(s) {', '.join(missing)} (columns: {', '.join(available)})"
        )
