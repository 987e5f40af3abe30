"""Column types: SQL type names <-> Arrow <-> Iceberg <-> DuckDB type text."""

from __future__ import annotations

import re

import pyarrow as pa
from pyiceberg import types as it

from meshlake.errors import InvalidInputError

__all__ = ["arrow_type", "duckdb_type_of_arrow", "duckdb_type_of_iceberg"]

_SIMPLE: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "int8": pa.int64(),
    "long": pa.int64(),
    "int64": pa.int64(),
    "integer": pa.int32(),
    "int": pa.int32(),
    "int4": pa.int32(),
    "int32": pa.int32(),
    "smallint": pa.int32(),
    "tinyint": pa.int32(),
    "double": pa.float64(),
    "float8": pa.float64(),
    "float64": pa.float64(),
    "double precision": pa.float64(),
    "float": pa.float32(),
    "real": pa.float32(),
    "float4": pa.float32(),
    "varchar": pa.string(),
    "string": pa.string(),
    "text": pa.string(),
    "char": pa.string(),
    "boolean": pa.bool_(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "datetime": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
    "blob": pa.binary(),
    "bytea": pa.binary(),
}
MAX_DECIMAL_PRECISION = 38
_DECIMAL = re.compile(r"^(?:decimal|numeric)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")
_VARCHAR_N = re.compile(r"^(?:varchar|char|character varying)\s*\(\s*\d+\s*\)$")


def arrow_type(type_name: str) -> pa.DataType:
    """The Arrow type for a SQL type name.

    >>> arrow_type("BIGINT")
    DataType(int64)
    >>> arrow_type("decimal(10, 2)")
    Decimal128Type(decimal128(10, 2))

    Raises:
        InvalidInputError: an unknown type, or a decimal whose scale and precision do not
            satisfy 0 <= scale <= precision, 1 <= precision <= 38.
    """
    name = " ".join(str(type_name).strip().lower().split())
    if name in _SIMPLE:
        return _SIMPLE[name]
    if _VARCHAR_N.match(name):
        return pa.string()
    m = _DECIMAL.match(name)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
            raise InvalidInputError(
                f"column type {type_name!r} is not a valid decimal: write decimal(p,s) with "
                f"scale <= precision <= {MAX_DECIMAL_PRECISION} and precision >= 1, "
                "e.g. decimal(10,2)"
            )
        return pa.decimal128(precision, scale)
    raise InvalidInputError(
        f"unknown column type {type_name!r}: use bigint, integer, double, float, varchar, "
        "boolean, date, timestamp, timestamptz, decimal(p,s) or binary"
    )


def duckdb_type_of_arrow(t: pa.DataType) -> str:
    """DuckDB's name for an Arrow type (used for crawled and created tables)."""
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_floating(t):
        return "FLOAT"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BLOB"
    return str(t).upper()


def duckdb_type_of_iceberg(t: it.IcebergType) -> str:
    """DuckDB's name for an Iceberg type (what governed scans cast to)."""
    simple: dict[type, str] = {
        it.LongType: "BIGINT",
        it.IntegerType: "INTEGER",
        it.DoubleType: "DOUBLE",
        it.FloatType: "FLOAT",
        it.StringType: "VARCHAR",
        it.BooleanType: "BOOLEAN",
        it.DateType: "DATE",
        it.TimestampType: "TIMESTAMP",
        it.TimestamptzType: "TIMESTAMPTZ",
        it.BinaryType: "BLOB",
        it.UUIDType: "UUID",
        it.TimeType: "TIME",
    }
    for cls, name in simple.items():
        if isinstance(t, cls):
            return name
    if isinstance(t, it.DecimalType):
        return f"DECIMAL({t.precision},{t.scale})"
    raise InvalidInputError(
        f"column type {t} is not supported by governed scans yet: store it as varchar "
        "(JSON text) or as columns of plain types"
    )
