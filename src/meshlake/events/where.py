"""The ``where`` condition of a trigger: a small boolean language over an event's fields.

Grammar (SQL expression syntax, parsed with ``sqlglot``; nothing is ever evaluated as code)::

    condition  := condition AND condition | condition OR condition | NOT condition
                | ( condition ) | operand op operand | operand [NOT] IN (literal, ...)
                | operand IS [NOT] NULL | TRUE | FALSE
    op         := = | != | <> | < | <= | > | >=
    operand    := field | 'string' | number | TRUE | FALSE | NULL | -number
    field      := type | source | subject | product | database | model_group | principal
                | data.<key>[.<key>...]

e.g. ``data.max_psi > 0.2 and product = 'credit_card'`` or
``type in ('product.updated', 'schema.changed') and not data.quality_ok = false``.

A comparison is true only between values of one kind (numbers with numbers, strings with
strings, booleans with booleans); anything else, or a missing field, is false (SQL's NULL
semantics collapsed to false). :func:`compile_where` checks an expression once (at trigger
creation: a bad one is an :class:`~meshlake.errors.InvalidInputError`); the compiled
:class:`Condition` is a tree of plain data evaluated by :meth:`Condition.test`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from meshlake.errors import InvalidInputError

__all__ = ["FIELDS", "Condition", "compile_where", "equality_expression"]

#: Event attributes a condition may name (``data.<path>`` reaches into the payload).
FIELDS = ("type", "source", "subject", "product", "database", "model_group", "principal")
MAX_LENGTH = 2000

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SYMBOL: dict[type, str] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _comparable(a: Any, b: Any) -> bool:
    kind = _kind(a)
    return kind is not None and kind == _kind(b)


@dataclass(frozen=True)
class Condition:
    """A compiled ``where`` node: ``op`` with its ``args`` (fields are ``("field", path)``,
    literals ``("lit", value)``)."""

    op: str
    args: tuple[Any, ...]
    text: str = ""

    def test(self, lookup: Callable[[str], Any]) -> bool:
        """Whether the event whose fields ``lookup(path)`` returns satisfies the condition.

        >>> c = compile_where("data.psi > 0.2 and subject = 'credit'")
        >>> c.test({"data.psi": 0.3, "subject": "credit"}.get)
        True
        >>> c.test({"data.psi": "0.3", "subject": "credit"}.get)  # a string is not a number
        False
        """
        return bool(self._eval(lookup))

    def _value(self, arg: tuple[str, Any], lookup: Callable[[str], Any]) -> Any:
        kind, value = arg
        return lookup(value) if kind == "field" else value

    def _eval(self, lookup: Callable[[str], Any]) -> bool:
        op, args = self.op, self.args
        if op == "and":
            return all(a._eval(lookup) for a in args)
        if op == "or":
            return any(a._eval(lookup) for a in args)
        if op == "not":
            return not args[0]._eval(lookup)
        if op == "const":
            return bool(args[0])
        if op == "truthy":
            return self._value(args[0], lookup) is True
        if op == "is_null":
            return self._value(args[0], lookup) is None
        if op == "in":
            value = self._value(args[0], lookup)
            return any(_comparable(value, v) and value == v for v in args[1])
        left, right = self._value(args[0], lookup), self._value(args[1], lookup)
        return _comparable(left, right) and _COMPARE[op](left, right)


def _path(node: exp.Expression) -> str:
    parts = [p.name for p in node.parts] if isinstance(node, exp.Column | exp.Dot) else []
    path = ".".join(parts)
    if not parts or any(not p for p in parts):
        raise InvalidInputError(f"not a field: {node.sql()}")
    if path in FIELDS or (path.startswith("data.") and len(parts) > 1):
        return path
    raise InvalidInputError(
        f"unknown field {path!r} in where: use {', '.join(FIELDS)} or data.<key>"
    )


def _literal(node: exp.Expression) -> Any:
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg):
        value = _literal(node.this)
        if _kind(value) != "number":
            raise InvalidInputError(f"cannot negate {node.this.sql()}")
        return -value
    if isinstance(node, exp.Literal):
        if node.is_string:
            return str(node.this)
        text = str(node.this)
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError as exc:
                raise InvalidInputError(f"bad number {text!r} in where") from exc
    raise InvalidInputError(f"expected a field or a literal, got {node.sql()!r}")


def _operand(node: exp.Expression) -> tuple[str, Any]:
    if isinstance(node, exp.Column | exp.Dot):
        return ("field", _path(node))
    return ("lit", _literal(node))


def _compile(node: exp.Expression) -> Condition:
    if isinstance(node, exp.Paren):
        return _compile(node.this)
    if isinstance(node, exp.And | exp.Or):
        op = "and" if isinstance(node, exp.And) else "or"
        return Condition(op, (_compile(node.this), _compile(node.expression)))
    if isinstance(node, exp.Not):
        return Condition("not", (_compile(node.this),))
    if isinstance(node, exp.Boolean):
        return Condition("const", (bool(node.this),))
    if isinstance(node, exp.Column | exp.Dot):
        return Condition("truthy", (_operand(node),))
    if type(node) in _SYMBOL:
        return Condition(_SYMBOL[type(node)], (_operand(node.this), _operand(node.expression)))
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise InvalidInputError("IS takes only NULL (IS NULL, IS NOT NULL)")
        return Condition("is_null", (_operand(node.this),))
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("field") is not None:
            raise InvalidInputError("IN takes a list of literals")
        values = tuple(_literal(v) for v in node.expressions)
        if not values:
            raise InvalidInputError("IN needs at least one value")
        return Condition("in", (_operand(node.this), values))
    raise InvalidInputError(
        f"unsupported in where: {node.sql()!r} (use comparisons, IN, IS NULL, AND, OR, NOT)"
    )


def compile_where(text: str) -> Condition:
    """Parse and check a ``where`` expression.

    Raises:
        InvalidInputError: empty, too long, not parseable, or using anything outside the
            grammar (functions, subqueries, arithmetic, unknown fields, several statements).

    >>> compile_where("data.psi > 0.2").test({"data.psi": 0.5}.get)
    True
    >>> compile_where("__import__('os')")
    Traceback (most recent call last):
    ...
    meshlake.errors.InvalidInputError: unsupported in where: ...
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("where must be a non-empty expression")
    if len(text) > MAX_LENGTH:
        raise InvalidInputError(f"where is longer than {MAX_LENGTH} characters")
    try:
        trees = sqlglot.parse(text)
    except (ParseError, TokenError) as exc:
        raise InvalidInputError(f"cannot parse where {text!r}: {exc}") from exc
    if len(trees) != 1 or trees[0] is None:
        raise InvalidInputError("where must be one expression")
    tree = trees[0]
    if not isinstance(tree, exp.Expression):
        raise InvalidInputError("where must be one expression")
    condition = _compile(tree)
    return Condition(condition.op, condition.args, text)


def _quote(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InvalidInputError(f"where values must be strings, numbers or booleans: {value!r}")


def equality_expression(fields: Mapping[str, Any]) -> str:
    """The expression of a field-equality mapping (the older ``where={...}`` form).

    >>> equality_expression({"product": "credit_card", "data.version": 2})
    "product = 'credit_card' AND data.version = 2"
    """
    parts = []
    for path, value in fields.items():
        if value is None:
            parts.append(f"{path} IS NULL")
        else:
            parts.append(f"{path} = {_quote(value)}")
    return " AND ".join(parts) or "TRUE"
