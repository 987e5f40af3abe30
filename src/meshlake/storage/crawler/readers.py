"""Sniff a file (format, dialect, header, schema from a sample) and read it whole into Arrow.

Whole files are read with pyarrow's own readers (multi-threaded C++): ``pyarrow.csv`` with
the sampled column types (a value the sample did not foresee widens its column and the file
is read again), ``pyarrow.json`` and ``pyarrow.parquet``. Files separated by runs of spaces
are read as lines and split with ``pyarrow.compute``. Every read hashes the raw bytes in the
same pass, so a file is read once.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from meshlake.errors import InvalidInputError
from meshlake.storage.crawler.detect import (
    Classification,
    Dialect,
    classify_content,
    column_names,
    decode_sample,
    detect_compression,
    detect_dialect,
    has_header,
    sample_types,
    split_rows,
)
from meshlake.storage.crawler.infer import NULL_VALUES, normalize_schema
from meshlake.storage.crawler.location import DataFile, HashingReader, Location

__all__ = ["SAMPLE_BYTES", "FileData", "FileSniff", "conform", "read_file", "sniff_file"]

#: How much of a file (decompressed) the sniffer looks at.
SAMPLE_BYTES = 1 << 20

_CSV_COLUMN = re.compile(r"CSV column #(\d+)")
_TRUE = ["true", "True", "TRUE"]
_FALSE = ["false", "False", "FALSE"]
_CSV_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_date,
              pa.types.is_timestamp, pa.types.is_string, pa.types.is_decimal)  # fmt: skip


@dataclass(frozen=True)
class FileSniff:
    """What the sample of a file says: its format and its columns with their types."""

    classification: Classification
    compression: str | None
    schema: pa.Schema
    dialect: Dialect | None = None
    header: bool = False
    encoding: str = "utf-8"
    skip_rows: int = 0  # raw lines before the data: leading blank lines and the header


@dataclass(frozen=True)
class FileData:
    """A file read whole: its rows and the sha256 of its raw bytes."""

    table: pa.Table
    sha256: str


def _head(location: Location, file: DataFile, nbytes: int) -> tuple[bytes, str | None, bool]:
    raw = location.read_head(file, nbytes)
    compression = detect_compression(raw[:4], file.name)
    if compression is None:
        return raw, None, file.size <= nbytes
    with location.open_stream(file) as stream:
        head = bytes(pa.CompressedInputStream(stream, compression).read(nbytes))
    return head, compression, len(head) < nbytes


def sniff_file(
    location: Location, file: DataFile, *, sample_bytes: int = SAMPLE_BYTES
) -> FileSniff | None:
    """Detect a file's format, dialect and header and infer its schema from a sample.

    Args:
        location: where the file lives.
        file: the file.
        sample_bytes: how many (decompressed) bytes to look at.

    Returns:
        The sniff, or None when the file is empty (or only blank lines).

    Raises:
        InvalidInputError: the file is binary, in no supported format, or malformed.
    """
    try:
        return _sniff(location, file, sample_bytes)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise InvalidInputError(f"{file.path}: {exc}", path=file.path) from exc


def _sniff(location: Location, file: DataFile, sample_bytes: int) -> FileSniff | None:
    head, compression, complete = _head(location, file, sample_bytes)
    if not head.strip():
        return None
    kind = classify_content(head, file.name)
    if kind is Classification.PARQUET:
        with location.open_random_access(file) as f:
            schema = pq.read_schema(f)
        return FileSniff(kind, None, normalize_schema(schema))
    if kind is Classification.JSON:
        if not complete:
            head = head[: head.rfind(b"\n") + 1]
        sample = pajson.read_json(pa.BufferReader(head))
        return FileSniff(kind, compression, normalize_schema(sample.schema))
    text = decode_sample(head, complete=complete)
    dialect = detect_dialect(text.lines, file.name)
    rows = split_rows(text.lines, dialect)
    width = max(len(r) for r in rows)
    header = has_header(rows, sample_types(rows[1:], width))
    types = sample_types(rows[1:] if header else rows, width)
    names = column_names(rows[0], width, header)
    schema = normalize_schema(pa.schema(list(zip(names, types, strict=True))))
    skip = text.leading_blank + (1 if header else 0)
    return FileSniff(kind, compression, schema, dialect, header, text.encoding, skip)


def _open(location: Location, file: DataFile, compression: str | None) -> tuple[Any, HashingReader]:
    hasher = HashingReader(location.open_stream(file))
    source = pa.PythonFile(hasher, mode="r")
    return (pa.CompressedInputStream(source, compression) if compression else source), hasher


def read_file(
    location: Location,
    file: DataFile,
    sniff: FileSniff,
    hints: Mapping[str, pa.DataType] | None = None,
) -> FileData:
    """Read a whole file into an Arrow table (columns and types of ``sniff``, or ``hints``).

    Args:
        location: where the file lives.
        file: the file.
        sniff: its sniff (:func:`sniff_file`).
        hints: column types to read delimited columns as (the existing table's types).

    Returns:
        The rows (file columns only; not yet conformed to a table) and the file's sha256.

    Raises:
        InvalidInputError: the file cannot be parsed.
    """
    try:
        if sniff.classification is Classification.PARQUET:
            with location.open_stream(file) as stream:
                buf = stream.read_buffer()
            return FileData(pq.read_table(pa.BufferReader(buf)), _sha256(buf))
        if sniff.classification is Classification.JSON:
            source, hasher = _open(location, file, sniff.compression)
            with source:
                table = pajson.read_json(source)
            return FileData(table, hasher.hexdigest())
        return _read_delimited(location, file, sniff, dict(hints or {}))
    except (pa.ArrowException, UnicodeDecodeError, OSError) as exc:
        raise InvalidInputError(f"{file.path}: {exc}", path=file.path) from exc


def _sha256(buf: pa.Buffer) -> str:
    return hashlib.sha256(memoryview(buf)).hexdigest()


def _csv_types(sniff: FileSniff, hints: Mapping[str, pa.DataType]) -> dict[str, pa.DataType]:
    types = {}
    for f in sniff.schema:
        hint = hints.get(f.name)
        ok = hint is not None and any(check(hint) for check in _CSV_TYPES)
        types[f.name] = hint if ok and hint is not None else f.type
    return types


def _read_delimited(
    location: Location, file: DataFile, sniff: FileSniff, hints: Mapping[str, pa.DataType]
) -> FileData:
    assert sniff.dialect is not None
    names = sniff.schema.names
    types = _csv_types(sniff, hints)
    if sniff.dialect.collapses_spaces:
        return _read_whitespace(location, file, sniff, types)
    read_options = pacsv.ReadOptions(
        column_names=names, skip_rows=sniff.skip_rows, encoding=sniff.encoding
    )
    parse_options = pacsv.ParseOptions(
        delimiter=sniff.dialect.delimiter,
        quote_char=sniff.dialect.quote_char or False,
        ignore_empty_lines=True,
    )
    for _ in range(2 * len(names) + 1):
        convert = pacsv.ConvertOptions(
            column_types=types,
            null_values=list(NULL_VALUES),
            strings_can_be_null=True,
            true_values=_TRUE,
            false_values=_FALSE,
        )
        source, hasher = _open(location, file, sniff.compression)
        try:
            with source:
                table = pacsv.read_csv(source, read_options, parse_options, convert)
            return FileData(table, hasher.hexdigest())
        except pa.ArrowInvalid as exc:
            match = _CSV_COLUMN.search(str(exc))
            if match and int(match.group(1)) < len(names):
                name = names[int(match.group(1))]
                types[name] = _next_wider(types[name])
                continue
            if sniff.dialect.delimiter == " " and "Expected" in str(exc):
                return _read_whitespace(location, file, sniff, types)
            raise
    raise InvalidInputError(f"{file.path}: column types do not settle")  # pragma: no cover


def _next_wider(t: pa.DataType) -> pa.DataType:
    """One step up the widening ladder: int -> double -> string, date -> timestamp -> string."""
    if pa.types.is_integer(t):
        return pa.float64()
    if pa.types.is_date(t):
        return pa.timestamp("us")
    return pa.string()


def _read_whitespace(
    location: Location, file: DataFile, sniff: FileSniff, types: dict[str, pa.DataType]
) -> FileData:
    """Read a file whose fields are separated by runs of spaces: lines, then split."""
    source, hasher = _open(location, file, sniff.compression)
    with source:
        lines = pacsv.read_csv(
            source,
            pacsv.ReadOptions(
                column_names=["line"], skip_rows=sniff.skip_rows, encoding=sniff.encoding
            ),
            pacsv.ParseOptions(delimiter="\x1f", quote_char=False, ignore_empty_lines=True),
            pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
        )["line"]
    trimmed = pc.utf8_trim_whitespace(lines)
    trimmed = trimmed.filter(pc.not_equal(trimmed, ""))  # blank lines
    parts = pc.utf8_split_whitespace(trimmed)
    lengths = pc.list_value_length(parts)
    names = sniff.schema.names
    bad = pc.not_equal(lengths, len(names))
    if pc.any(bad).as_py():
        first = pc.index(bad, True).as_py()
        raise InvalidInputError(
            f"{file.path}: data line {first + 1} has {lengths[first].as_py()} fields, "
            f"expected {len(names)}",
            path=file.path,
        )
    nulls = pa.array(NULL_VALUES, pa.string())
    columns = []
    for i, name in enumerate(names):
        text = pc.list_element(parts, i)
        text = pc.if_else(pc.is_in(text, nulls), pa.scalar(None, pa.string()), text)
        columns.append(_cast_widening(text, name, types))
    return FileData(pa.table(columns, names=names), hasher.hexdigest())


def _cast_widening(text: Any, name: str, types: dict[str, pa.DataType]) -> Any:
    while True:
        try:
            return pc.cast(text, types[name]) if not pa.types.is_string(types[name]) else text
        except pa.ArrowInvalid:
            types[name] = _next_wider(types[name])


def conform(
    data: pa.Table, schema: pa.Schema, constants: Mapping[str, Any] | None = None
) -> pa.Table:
    """Shape a file's rows to a table schema: cast, fill missing columns with NULL.

    Args:
        data: the file's rows.
        schema: the table schema (every column of ``data`` must be in it).
        constants: values of columns the file does not hold (partition keys).

    Returns:
        A table with exactly ``schema``.

    Raises:
        InvalidInputError: a column's values do not convert to the table's type.

    >>> conform(pa.table({"b": [1]}), pa.schema([("a", pa.string()), ("b", pa.float64())]))
    pyarrow.Table
    a: string
    b: double
    ----
    a: [[null]]
    b: [[1]]
    """
    extra = set(data.column_names) - set(schema.names)
    if extra:
        raise InvalidInputError(f"columns {sorted(extra)} are not in the table schema")
    n, constants = data.num_rows, constants or {}
    arrays = []
    for f in schema:
        if f.name in data.column_names:
            column = data[f.name]
            if not column.type.equals(f.type):
                try:
                    column = pc.cast(column, f.type, safe=True)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InvalidInputError(
                        f"column {f.name!r}: values of type {column.type} do not convert "
                        f"to the table's type {f.type} ({exc})",
                        column=f.name,
                    ) from exc
            arrays.append(column)
        elif constants.get(f.name) is not None:
            value = constants[f.name]
            scalar = value if isinstance(value, pa.Scalar) else pa.scalar(value)
            arrays.append(pa.repeat(scalar.cast(f.type), n))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
