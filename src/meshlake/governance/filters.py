"""Data filters: the row filter grammar (rule 19) and creating filters (rule 18).

The grammar: ``column op constant`` with ``= <> != < <= > >= BETWEEN IN LIKE IS [NOT] NULL``,
combined with ``AND``, ``OR``, ``NOT`` and parentheses; single-quoted string literals; no
functions, no column-to-column comparisons and no comments; under 2,048 characters. A
valid filter is
stored in canonical SQL (double-quoted identifiers) that DuckDB and Spark both accept.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from meshlake.errors import InvalidInputError

__all__ = ["MAX_FILTER_LENGTH", "compile_row_filter", "row_filter_columns"]

MAX_FILTER_LENGTH = 2048
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Like)
_NUMERIC = ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "DECIMAL", "SMALLINT", "TINYINT")


def _position(node: exp.Expression, text: str) -> int:
    """1-based character position of ``node`` in ``text`` (best effort)."""
    for ident in node.find_all(exp.Identifier):
        start = ident.meta.get("start") if ident.meta else None
        if start is not None:
            return int(start) + 1
    snippet = node.sql(dialect="duckdb")
    idx = text.lower().find(snippet.lower().split("(")[0])
    return idx + 1 if idx >= 0 else 1


def _fail(text: str, node: exp.Expression, why: str) -> InvalidInputError:
    pos = _position(node, text)
    return InvalidInputError(f"row filter {why} at position {pos}: {text!r}", position=pos)


def _refuse_comments(text: str) -> None:
    """Comments are not part of rule 19's grammar: a stored filter must say only what it does.

    >>> _refuse_comments("region = '--not a comment'")
    >>> _refuse_comments("amount > 5 -- for now")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    meshlake.errors.InvalidInputError: row filter has a comment at position 12, ...
    """
    for token in sqlglot.tokenize(text, read="duckdb"):
        if token.comments:
            starts = [i for i in (text.find("--"), text.find("/*")) if i >= 0]
            pos = min(starts) + 1 if starts else token.start + 1
            raise InvalidInputError(
                f"row filter has a comment at position {pos}, which the grammar does not "
                f"allow: remove it: {text!r}",
                position=pos,
            )


def compile_row_filter(text: str, columns: dict[str, str]) -> str:
    """Validate a row filter against the grammar and a table's visible columns.

    Args:
        text: the filter as the user wrote it.
        columns: the visible columns, name -> DuckDB type.

    Returns:
        The canonical SQL of the filter.

    Raises:
        InvalidInputError: naming the position of the first problem.

    >>> compile_row_filter("region = 'us' AND amount > 5",
    ...                    {"region": "VARCHAR", "amount": "DOUBLE"})
    '"region" = \\'us\\' AND "amount" > 5'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("a row filter must be a non-empty expression, or use all_rows")
    if len(text) >= MAX_FILTER_LENGTH:
        raise InvalidInputError(f"a row filter must be under {MAX_FILTER_LENGTH} characters")
    try:
        _refuse_comments(text)
        tree = sqlglot.parse_one(text, read="duckdb")
    except (ParseError, TokenError) as exc:
        err = exc.errors[0] if isinstance(exc, ParseError) and exc.errors else {}
        raise InvalidInputError(
            f"row filter does not parse at line {err.get('line', 1)}, column "
            f"{err.get('col', 1)}: {err.get('description', exc)}",
            position=err.get("col"),
        ) from exc
    by_lower = {c.lower(): c for c in columns}

    def column(node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or node.table:
            raise _fail(text, node, "expects a column name on the left of a comparison")
        name = by_lower.get(node.name.lower())
        if name is None:
            raise _fail(text, node, f"names unknown column {node.name!r}")
        node.set("this", exp.to_identifier(name, quoted=True))
        return name

    def constant(node: exp.Expression, col: str) -> None:
        lit = node.this if isinstance(node, exp.Neg) else node
        if not isinstance(lit, exp.Literal) or (isinstance(node, exp.Neg) and lit.is_string):
            raise _fail(
                text,
                node,
                "compares with something that is not a constant "
                "(no functions or column-to-column comparisons)",
            )
        numeric = columns[col].upper().startswith(_NUMERIC)
        if numeric and lit.is_string:
            try:
                float(lit.this)
            except ValueError:
                raise _fail(text, node, f"compares numeric column {col} with a string") from None
        if not numeric and not lit.is_string and columns[col].upper() == "VARCHAR":
            raise _fail(text, node, f"compares text column {col} with a number: quote it")

    def walk(node: exp.Expression) -> None:
        if isinstance(node, (exp.And, exp.Or)):
            walk(node.this)
            walk(node.expression)
        elif isinstance(node, (exp.Not, exp.Paren)):
            walk(node.this)
        elif isinstance(node, _COMPARISONS):
            constant(node.expression, column(node.this))
        elif isinstance(node, exp.Between):
            col = column(node.this)
            constant(node.args["low"], col)
            constant(node.args["high"], col)
        elif isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise _fail(text, node, "uses IN with something other than a list of constants")
            col = column(node.this)
            for item in node.expressions:
                constant(item, col)
        elif isinstance(node, exp.Is):
            column(node.this)
            if not isinstance(node.expression, exp.Null):
                raise _fail(text, node, "allows only IS NULL and IS NOT NULL")
        else:
            raise _fail(text, node, f"uses {node.key.upper()}, which the grammar does not allow")

    walk(tree)  # type: ignore[arg-type]
    return tree.sql(dialect="duckdb", identify=True)


def row_filter_columns(sql: str) -> frozenset[str]:
    """The column names a compiled row filter compares (lower case).

    >>> sorted(row_filter_columns('"region" = \\'us\\' AND "amount" > 10'))
    ['amount', 'region']
    """
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    return frozenset(c.name.lower() for c in tree.find_all(exp.Column))
