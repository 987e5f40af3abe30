"""Does a table match its contract? Missing and mistyped columns.

A contract column's ``logicalType`` is compared with the *family* of the table column's type.
Types may be given as pyarrow types or as type strings from Iceberg (``long``,
``timestamptz``, ``decimal(10, 2)``), DuckDB (``BIGINT``, ``VARCHAR``, ``INTEGER[]``) or Arrow
(``int64``, ``large_string``, ``timestamp[us, tz=UTC]``). Allowed pairs:

===========  ==========================================
logicalType  table column family
===========  ==========================================
integer      integer
number       integer or number (float, double, decimal)
string       string (also uuid and dictionary-encoded strings)
date         date
timestamp    timestamp (with or without time zone)
time         time
boolean      boolean
array        array;  ``vector`` too
object       struct
map          map
===========  ==========================================

A column without a ``logicalType`` is only checked for presence. Table columns the contract does
not describe are reported as non-fatal ``undocumented`` problems.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from meshlake.errors import InvalidInputError
from meshlake.products.model import Contract

__all__ = ["SchemaProblem", "check_contract_against_schema", "schema_problems", "type_family"]

_ALLOWED = {
    "integer": {"integer"},
    "number": {"integer", "number"},
    "string": {"string"},
    "date": {"date"},
    "timestamp": {"timestamp"},
    "time": {"time"},
    "boolean": {"boolean"},
    "array": {"array"},
    "vector": {"array"},
    "object": {"object"},
    "map": {"map"},
}
_WORDS = {
    "integer": "int integer long bigint smallint tinyint hugeint uhugeint short byte int2 int4 "
    "int8 int16 int32 int64 uint8 uint16 uint32 uint64 ubigint uinteger usmallint utinyint",
    "number": "float double real decimal decimal32 decimal64 decimal128 decimal256 numeric "
    "float4 float8 float16 float32 float64 halffloat double_precision number",
    "string": "string varchar char text utf8 large_string large_utf8 string_view bpchar "
    "nvarchar uuid",
    "date": "date date32 date64",
    "timestamp": "timestamp timestamptz timestamp_tz timestamp_ns timestamptz_ns timestamp_ms "
    "timestamp_s timestamp_us datetime timestamp_with_time_zone",
    "time": "time time32 time64 timetz time_with_time_zone",
    "boolean": "boolean bool logical",
    "array": "list array large_list fixed_size_list list_view",
    "object": "struct row record",
    "map": "map",
    "binary": "binary blob bytea varbinary fixed large_binary bytes",
}
_FAMILY_OF_WORD = {word: family for family, words in _WORDS.items() for word in words.split()}
_BASE = re.compile(r"[a-z_][a-z0-9_ ]*")


@dataclass(frozen=True)
class SchemaProblem:
    """One difference between a contract table and the table.

    ``kind`` is ``missing`` or ``mistyped`` (fatal) or ``undocumented`` (a table column the
    contract does not describe; not fatal).
    """

    kind: str
    column: str
    message: str
    expected: str | None = None
    actual: str | None = None

    @property
    def fatal(self) -> bool:
        """Whether the problem refuses a publish."""
        return self.kind != "undocumented"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "column": self.column,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
        }


def type_family(data_type: pa.DataType | str | object) -> str | None:
    """The family of a column type (``integer``, ``number``, ``string``, ...), None if unknown.

    Args:
        data_type: a pyarrow type, or any object whose ``str()`` is a type name (Iceberg,
            DuckDB and Arrow spellings).

    Returns:
        One of ``integer number string date timestamp time boolean array object map binary``
        or None.

    >>> type_family("decimal(10, 2)"), type_family("BIGINT"), type_family("INTEGER[]")
    ('number', 'integer', 'array')
    >>> type_family(pa.dictionary(pa.int8(), pa.string()))
    'string'
    """
    if isinstance(data_type, pa.DataType):
        return _arrow_family(data_type)
    text = str(data_type).strip().lower()
    if re.search(r"\[\d*\]$", text) and not text.startswith(("timestamp", "date", "time", "fixed")):
        return "array"  # DuckDB INTEGER[] / FLOAT[3]
    match = _BASE.match(text)
    if match is None:
        return None
    base = match.group(0).strip().replace(" ", "_")
    if base.startswith(("timestamp_with", "timestamp_without")):
        return "timestamp"
    return _FAMILY_OF_WORD.get(base)


def _arrow_family(t: pa.DataType) -> str | None:
    checks = (
        (pa.types.is_dictionary, None),
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "number"),
        (pa.types.is_decimal, "number"),
        (lambda x: pa.types.is_string(x) or pa.types.is_large_string(x), "string"),
        (pa.types.is_string_view, "string"),
        (pa.types.is_date, "date"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_time, "time"),
        (pa.types.is_boolean, "boolean"),
        (lambda x: pa.types.is_list(x) or pa.types.is_large_list(x), "array"),
        (pa.types.is_fixed_size_list, "array"),
        (pa.types.is_struct, "object"),
        (pa.types.is_map, "map"),
        (lambda x: pa.types.is_binary(x) or pa.types.is_large_binary(x), "binary"),
        (pa.types.is_fixed_size_binary, "binary"),
    )
    for check, family in checks:
        if check(t):
            return _arrow_family(t.value_type) if family is None else family
    return None


def schema_problems(
    contract: Contract,
    table_columns: Sequence[tuple[str, pa.DataType | str | object]],
    *,
    table: str | None = None,
) -> list[SchemaProblem]:
    """Every difference between a contract table and the table's columns.

    Args:
        contract: the loaded contract.
        table_columns: ``(name, type)`` of each column of the table, in table order.
        table: which contract table (physical name); None for the contract's only table.

    Returns:
        The problems: ``missing`` and ``mistyped`` in contract order, then ``undocumented``.

    Raises:
        InvalidInputError: ``table`` names no contract table (or is None with several).
    """
    ctable = contract.table_named(table)
    types = dict(table_columns)
    problems: list[SchemaProblem] = []
    for col in ctable.columns:
        name = col.physical_name
        if name not in types:
            hint = next((c for c in types if c.lower() == name.lower()), None)
            extra = f" (the table has {hint!r}: names are case-sensitive)" if hint else ""
            message = f"column {name!r} is missing{extra}"
            problems.append(SchemaProblem("missing", name, message, col.logical_type))
            continue
        if col.logical_type is None:
            continue
        actual = str(types[name])
        family = type_family(types[name])
        if family not in _ALLOWED.get(col.logical_type, {col.logical_type}):
            problems.append(
                SchemaProblem(
                    "mistyped",
                    name,
                    f"column {name!r} is {actual} ({family or 'unknown type'}), "
                    f"the contract says {col.logical_type}",
                    col.logical_type,
                    actual,
                )
            )
    described = {c.physical_name for c in ctable.columns}
    for name, data_type in table_columns:
        if name not in described:
            message = f"column {name!r} is not described by the contract"
            problems.append(SchemaProblem("undocumented", name, message, None, str(data_type)))
    return problems


def check_contract_against_schema(
    contract: Contract,
    table_columns: Sequence[tuple[str, pa.DataType | str | object]],
    *,
    table: str | None = None,
) -> list[SchemaProblem]:
    """Refuse a table that lacks a contract column or types one differently.

    Args:
        contract: the loaded contract.
        table_columns: ``(name, type)`` of each column of the table.
        table: which contract table (physical name); None for the contract's only table.

    Returns:
        The non-fatal problems (undocumented table columns), to show as warnings.

    Raises:
        InvalidInputError: some columns are missing or mistyped; the message lists them all
            and ``details["problems"]`` holds each as a dict.
    """
    problems = schema_problems(contract, table_columns, table=table)
    fatal = [p for p in problems if p.fatal]
    if fatal:
        name = contract.table_named(table).physical_name
        listed = "; ".join(p.message for p in fatal)
        raise InvalidInputError(
            f"table {name!r} does not match contract {contract.name!r}: {listed}",
            problems=[p.to_dict() for p in fatal],
        )
    return [p for p in problems if not p.fatal]
