"""Checks of the shape of API arguments, so a wrong type is an error naming the parameter.

Without them a list where a dict is expected fails deep inside with ``AttributeError``, and
a string where a list is expected is silently taken letter by letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import pyarrow as pa

from meshlake.errors import InvalidInputError

__all__ = ["require_arrow_schema", "require_arrow_table", "require_mapping", "require_str_list"]

K = TypeVar("K")
V = TypeVar("V")


def _kind(value: object) -> str:
    return f"a {type(value).__module__.split('.')[0]}.{type(value).__name__}".replace(
        "a builtins.", "a "
    )


def require_mapping(parameter: str, value: Mapping[K, V], example: str) -> Mapping[K, V]:
    """``value`` if it is a dict (a mapping), else InvalidInputError naming ``parameter``.

    >>> require_mapping("tags", {"pii": "yes"}, "{'pii': 'yes'}")
    {'pii': 'yes'}
    >>> require_mapping("tags", ["pii"], "{'pii': 'yes'}")
    Traceback (most recent call last):
    ...
    meshlake.errors.InvalidInputError: tags must be a dict such as {'pii': 'yes'}, not a list
    """
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{parameter} must be a dict such as {example}, not {_kind(value)}",
            parameter=parameter,
        )
    return value


def require_str_list(parameter: str, value: Any) -> list[str]:
    """``value`` as a list of strings; a bare string is refused (it is not a list of them).

    >>> require_str_list("values", ("a", "b"))
    ['a', 'b']
    >>> require_str_list("values", "abc")
    Traceback (most recent call last):
    ...
    meshlake.errors.InvalidInputError: values must be a list of strings such as ['abc'], not \
a single string
    """
    if isinstance(value, str):
        raise InvalidInputError(
            f"{parameter} must be a list of strings such as [{value!r}], not a single string",
            parameter=parameter,
        )
    if isinstance(value, bytes | Mapping) or not isinstance(value, Sequence | set | frozenset):
        raise InvalidInputError(
            f"{parameter} must be a list of strings, not {_kind(value)}", parameter=parameter
        )
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise InvalidInputError(
            f"{parameter} must hold strings only, not {_kind(bad[0])} ({bad[0]!r})",
            parameter=parameter,
        )
    return list(value)


def require_arrow_table(parameter: str, value: Any) -> pa.Table:
    """``value`` if it is a ``pyarrow.Table``; a DataFrame gets a hint how to convert it.

    >>> require_arrow_table("data", pa.table({"a": [1]})).num_rows
    1
    """
    if isinstance(value, pa.Table):
        return value
    hint = ""
    if type(value).__name__ == "DataFrame":
        hint = ": convert it with pyarrow.Table.from_pandas(df, preserve_index=False)"
    raise InvalidInputError(
        f"{parameter} must be a pyarrow.Table, not {_kind(value)}{hint}", parameter=parameter
    )


def require_arrow_schema(parameter: str, value: Any) -> pa.Schema:
    """``value`` if it is a ``pyarrow.Schema``.

    >>> require_arrow_schema("schema", pa.schema([("note", pa.string())])).names
    ['note']
    """
    if not isinstance(value, pa.Schema):
        raise InvalidInputError(
            f"{parameter} must be a pyarrow.Schema such as pa.schema([('note', pa.string())]), "
            f"not a {type(value).__name__}",
            parameter=parameter,
        )
    return value
