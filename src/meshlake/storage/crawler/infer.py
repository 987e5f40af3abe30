"""Column types: inferred from a sample of text values, normalised, widened and merged.

A crawled table only ever holds the types Iceberg and every engine agree on: ``int64``,
``float64``, ``bool``, ``date32``, ``timestamp[us]`` (``tz=UTC`` when the values carry an
offset), ``string``, plus binary, decimal and nested types coming from Parquet or JSON.
Inference follows Glue's classifiers: a column is the narrowest type every non-null sample
value parses as; conflicting types widen ``int -> double -> string``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "NULL_VALUES",
    "infer_type",
    "merge_schemas",
    "normalize_schema",
    "normalize_type",
    "value_type",
    "widen",
]

#: Text values read as NULL in delimited files (pyarrow's defaults are too eager: "NA", "nan").
NULL_VALUES: tuple[str, ...] = ("", "NULL", "null", "\\N")

_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_EXP = r"(?:[eE][+-]?\d+)"
# integers of up to 18 digits, decimals, exponents, nan / inf; longer digit strings are ids
_FLOAT = (
    rf"^[+-]?(?:\d{{1,18}}|\d+\.\d*{_EXP}?|\.\d+{_EXP}?|\d+{_EXP})$"
    r"|^(?i:[+-]?(?:nan|inf|infinity))$"
)
_CHECKS: tuple[tuple[pa.DataType, str], ...] = (
    (pa.bool_(), r"^(?i:true|false)$"),
    (pa.int64(), r"^[+-]?\d{1,18}$"),
    (pa.float64(), _FLOAT),
    (pa.date32(), r"^\d{4}-\d{2}-\d{2}$"),
    (pa.timestamp("us"), rf"^\d{{4}}-\d{{2}}-\d{{2}}(?:[ T]{_TIME})?$"),  # dates widen
    (pa.timestamp("us", tz="UTC"), rf"^\d{{4}}-\d{{2}}-\d{{2}}[ T]{_TIME}{_ZONE}$"),
)
_PY_CHECKS = tuple((t, re.compile(rx)) for t, rx in _CHECKS)


def value_type(text: str | None) -> pa.DataType:
    """The narrowest type one text value parses as (``null`` for a NULL token).

    >>> value_type("42"), value_type("4.2"), value_type("kredit"), value_type("")
    (DataType(int64), DataType(double), DataType(string), DataType(null))
    """
    if text is None or text in NULL_VALUES:
        return pa.null()
    for typ, rx in _PY_CHECKS:
        if rx.match(text):
            return typ
    return pa.string()


def infer_type(values: pa.Array | Sequence[str | None]) -> pa.DataType:
    """The narrowest type all non-null values of a column parse as.

    Args:
        values: the column's text values (an Arrow string array or a Python sequence);
            NULL tokens (:data:`NULL_VALUES`) count as missing.

    Returns:
        ``null`` when every value is missing, else the first of bool, int64, float64, date32,
        timestamp[us], timestamp[us, UTC] that fits every value, else string.

    >>> infer_type(["1", "2", ""]), infer_type(["1", "2.5"]), infer_type(["1", "x"])
    (DataType(int64), DataType(double), DataType(string))
    """
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    present = pc.drop_null(arr)
    if len(NULL_VALUES):
        present = present.filter(pc.invert(pc.is_in(present, pa.array(NULL_VALUES))))
    if len(present) == 0:
        return pa.null()
    for typ, rx in _CHECKS:
        if pc.all(pc.match_substring_regex(present, rx)).as_py():
            return typ
    return pa.string()


def widen(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The narrowest type both ``a`` and ``b`` convert to without loss of meaning.

    >>> widen(pa.int64(), pa.float64()), widen(pa.date32(), pa.timestamp("us"))
    (DataType(double), TimestampType(timestamp[us]))
    >>> widen(pa.bool_(), pa.int64())
    DataType(string)
    """
    if a.equals(b) or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if _is_number(a) and _is_number(b):
        return pa.float64()
    if {_temporal_rank(a), _temporal_rank(b)} == {1, 2}:
        return pa.timestamp("us")
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return _widen_struct(a, b)
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(widen(a.value_type, b.value_type))
    return pa.string()


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _temporal_rank(t: pa.DataType) -> int:
    if pa.types.is_date(t):
        return 1
    if pa.types.is_timestamp(t) and t.tz is None:
        return 2
    return 0


def _widen_struct(a: pa.StructType, b: pa.StructType) -> pa.DataType:
    fields = {f.name: f.type for f in a}
    for f in b:
        fields[f.name] = widen(fields[f.name], f.type) if f.name in fields else f.type
    return pa.struct([pa.field(name, typ) for name, typ in fields.items()])


def normalize_type(t: pa.DataType) -> pa.DataType:
    """The crawled-table type for an Arrow type (see the module docstring).

    >>> normalize_type(pa.int32()), normalize_type(pa.timestamp("s")), normalize_type(pa.null())
    (DataType(int64), TimestampType(timestamp[us]), DataType(string))
    """
    if pa.types.is_null(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_dictionary(t):
        return normalize_type(t.value_type)
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_time(t):
        return pa.time64("us")
    if any(
        check(t)
        for check in (
            pa.types.is_large_binary,
            pa.types.is_binary_view,
            pa.types.is_fixed_size_binary,
        )
    ):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(normalize_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, normalize_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(normalize_type(t.key_type), normalize_type(t.item_type))
    return t


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with every type normalised and every field nullable, without metadata."""
    return pa.schema([pa.field(f.name, normalize_type(f.type), nullable=True) for f in schema])


def merge_schemas(
    base: pa.Schema | None, schemas: Iterable[pa.Schema]
) -> tuple[pa.Schema, tuple[str, ...]]:
    """Merge file schemas into a table schema.

    Columns of ``base`` (an existing table) keep their name, order and type: an existing
    Iceberg column cannot change type. Columns only the files have are appended in order of
    first appearance, their types widened across the files.

    Args:
        base: the existing table's schema, or None for a new table.
        schemas: the files' (normalised) schemas.

    Returns:
        The merged schema and the names of the columns it adds to ``base``.

    >>> s, added = merge_schemas(pa.schema([("a", pa.int64())]),
    ...     [pa.schema([("a", pa.float64()), ("b", pa.int64())]), pa.schema([("b", pa.float64())])])
    >>> [str(f.type) for f in s], added
    (['int64', 'double'], ('b',))
    """
    fixed = {f.name: f.type for f in base} if base is not None else {}
    new: dict[str, pa.DataType] = {}
    for schema in schemas:
        for f in schema:
            if f.name in fixed:
                continue
            new[f.name] = widen(new[f.name], f.type) if f.name in new else f.type
    fields = [pa.field(f.name, f.type, f.nullable) for f in base] if base is not None else []
    fields += [pa.field(name, normalize_type(typ), nullable=True) for name, typ in new.items()]
    return pa.schema(fields), tuple(new)
