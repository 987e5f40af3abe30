"""Format, compression, delimiter and header detection from a file's first bytes.

The rules follow Glue's built-in classifiers:

* **Format**: Parquet by its ``PAR1`` magic, gzip by its magic (or a ``.gz`` suffix) and then
  the decompressed content, JSON lines when the first line is a JSON object, else delimited
  text. The extension (``.csv``, ``.tsv``, ``.json``, ``.parquet``) is a hint, content wins.
* **Delimiter**: comma, tab, semicolon or pipe when every sample line splits into the same
  number (> 1) of fields (the extension's delimiter first), else single spaces or runs of
  spaces (``whitespace``).
* **Header** (Glue): the first row is a header only when each of its cells is a non-empty
  string (not a number, boolean, date or NULL), none but the last is 150 characters or more,
  and some column of the data rows is not a string. Otherwise the columns are named
  ``col0 .. colN`` and the first row is data.
* Empty lines (a trailing empty line) are ignored.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from meshlake.errors import InvalidInputError
from meshlake.storage.crawler.infer import infer_type, value_type

__all__ = [
    "WHITESPACE",
    "Classification",
    "Dialect",
    "TextSample",
    "classify_content",
    "column_names",
    "decode_sample",
    "detect_compression",
    "detect_dialect",
    "has_header",
    "sample_types",
    "sanitize_name",
    "split_rows",
]

#: The delimiter value meaning "one or more spaces or tabs" (fields never contain spaces).
WHITESPACE = "whitespace"

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_DELIMITERS = (",", "\t", ";", "|")
_EXT_DELIMITER = {"csv": ",", "tsv": "\t", "tab": "\t", "psv": "|"}
_EXT_FORMAT = {
    "csv": "csv", "tsv": "csv", "tab": "csv", "psv": "csv", "txt": "csv",
    "json": "json", "jsonl": "json", "ndjson": "json",
    "parquet": "parquet", "pq": "parquet",
}  # fmt: skip
_MAX_HEADER_CELL = 150
_NAME_BAD = re.compile(r"[^A-Za-z0-9_\-]+")
_MAX_DIALECT_LINES = 200


class Classification(StrEnum):
    """A file's data format (Glue's ``classification`` table property)."""

    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


@dataclass(frozen=True)
class Dialect:
    """How a delimited text file splits into fields."""

    delimiter: str  # one character, or WHITESPACE
    quote_char: str | None = '"'

    @property
    def collapses_spaces(self) -> bool:
        """True when fields are separated by runs of spaces (not one pyarrow delimiter)."""
        return self.delimiter == WHITESPACE


@dataclass(frozen=True)
class TextSample:
    """The first lines of a text file, decoded."""

    lines: tuple[str, ...]  # non-empty lines, without their line ends
    encoding: str  # "utf-8", or "latin-1" when the bytes are not UTF-8
    complete: bool  # True when the sample holds the whole file
    leading_blank: int = 0  # blank lines before the first line (readers must skip them)


def _extension(name: str) -> tuple[str, bool]:
    """The data extension of a file name (lower case) and whether it ends in ``.gz``."""
    parts = name.lower().rsplit("/", 1)[-1].split(".")
    gz = len(parts) > 1 and parts[-1] in ("gz", "gzip")
    if gz:
        parts = parts[:-1]
    return (parts[-1] if len(parts) > 1 else ""), gz


def detect_compression(head: bytes, name: str) -> str | None:
    """``"gzip"`` when the raw bytes start with gzip's magic or the name ends in ``.gz``.

    >>> detect_compression(b"\\x1f\\x8b\\x08", "x.csv"), detect_compression(b"a,b", "x.csv")
    ('gzip', None)
    """
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    return "gzip" if _extension(name)[1] and not head.startswith(_PARQUET_MAGIC) else None


def classify_content(head: bytes, name: str) -> Classification:
    """The format of a file from its first (decompressed) bytes and its name.

    Raises:
        InvalidInputError: binary content that is not Parquet, or a JSON array document.

    >>> classify_content(b'{"a": 1}\\n', "x.txt").value, classify_content(b"a;b\\n", "x").value
    ('json', 'csv')
    """
    if head.startswith(_PARQUET_MAGIC):
        return Classification.PARQUET
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return Classification.JSON
    if text.startswith(b"[") and _EXT_FORMAT.get(_extension(name)[0]) == "json":
        raise InvalidInputError(
            f"{name}: a JSON array document is not supported; write one JSON object per line"
        )
    if b"\x00" in head[:4096]:
        raise InvalidInputError(f"{name}: binary content in no known format (csv, json, parquet)")
    if _EXT_FORMAT.get(_extension(name)[0]) == "parquet":
        raise InvalidInputError(f"{name}: named like Parquet but has no Parquet magic bytes")
    return Classification.CSV


def decode_sample(head: bytes, *, complete: bool, max_lines: int = 20_000) -> TextSample:
    """Decode the first bytes of a text file into non-empty lines.

    Args:
        head: the first (decompressed) bytes.
        complete: True when ``head`` is the whole file; otherwise its last, possibly cut,
            line is dropped.
        max_lines: keep at most this many lines.

    Returns:
        The sample.
    """
    if not complete:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else head
    try:
        text, encoding = head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = head.decode("latin-1"), "latin-1"
    text = text.removeprefix("\ufeff")
    all_lines = text.splitlines()
    leading = next((i for i, line in enumerate(all_lines) if line.strip()), len(all_lines))
    lines = tuple(line for line in all_lines if line.strip())[:max_lines]
    return TextSample(lines=lines, encoding=encoding, complete=complete, leading_blank=leading)


def _field_counts(lines: Sequence[str], delimiter: str) -> list[int]:
    if delimiter == WHITESPACE:
        return [len(line.split()) for line in lines]
    return [len(row) for row in csv.reader(lines, delimiter=delimiter, quotechar='"')]


def _consistent(counts: Sequence[int]) -> int:
    """The common field count when (nearly) every line has it, else 0."""
    if not counts:
        return 0
    count, times = Counter(counts).most_common(1)[0]
    return count if times >= 0.9 * len(counts) else 0


def detect_dialect(lines: Sequence[str], name: str = "") -> Dialect:
    """The delimiter that splits every sample line into the same number of fields.

    Args:
        lines: sample lines (non-empty).
        name: the file name; its extension's delimiter is tried first.

    Returns:
        The dialect (comma when nothing splits the lines: a single column).

    >>> detect_dialect(["a b  c", "1 2  3"]).delimiter
    'whitespace'
    >>> detect_dialect(["a;b", "1;2"]).delimiter
    ';'
    """
    sample = list(lines[:_MAX_DIALECT_LINES])
    hint = _EXT_DELIMITER.get(_extension(name)[0])
    candidates = ([hint] if hint else []) + [d for d in _DELIMITERS if d != hint]
    best: tuple[int, str] | None = None
    for delimiter in candidates:
        count = _consistent(_field_counts(sample, delimiter))
        if count > 1 and delimiter == hint:
            return Dialect(delimiter)
        if count > 1 and (best is None or count > best[0]):
            best = (count, delimiter)
    if best is not None:
        return Dialect(best[1])
    if _consistent(_field_counts(sample, WHITESPACE)) > 1:
        single = _field_counts(sample, " ")
        if single == _field_counts(sample, WHITESPACE) and "\t" not in "".join(sample):
            return Dialect(" ")
        return Dialect(WHITESPACE, quote_char=None)
    return Dialect(hint or ",")


def split_rows(lines: Sequence[str], dialect: Dialect) -> list[list[str]]:
    """Split sample lines into fields with ``dialect``."""
    if dialect.collapses_spaces:
        return [line.split() for line in lines]
    reader = csv.reader(lines, delimiter=dialect.delimiter, quotechar=dialect.quote_char or '"')
    return [list(row) for row in reader]


def has_header(rows: Sequence[Sequence[str]], data_types: Sequence[pa.DataType]) -> bool:
    """Glue's header rule (see the module docstring).

    Args:
        rows: the sample rows, the candidate header first.
        data_types: the column types inferred from the rows after the first.

    Returns:
        True when the first row is a header.

    >>> has_header([["a", "b"], ["1", "x"]], [pa.int64(), pa.string()])
    True
    >>> has_header([["a", "b"], ["x", "y"]], [pa.string(), pa.string()])
    False
    """
    if len(rows) < 2 or not rows[0]:
        return False
    first = rows[0]
    if any(not cell.strip() or not pa.types.is_string(value_type(cell)) for cell in first):
        return False
    if any(len(cell) >= _MAX_HEADER_CELL for cell in first[:-1]):
        return False
    return any(not pa.types.is_string(t) and not pa.types.is_null(t) for t in data_types)


def sanitize_name(name: str, index: int) -> str:
    """A column name meshlake accepts: letters, digits, ``_`` and ``-``; ``col<index>`` if empty.

    >>> sanitize_name(" Credit Amount ", 4), sanitize_name("", 2), sanitize_name("-x", 0)
    ('Credit_Amount', 'col2', '_-x')
    """
    cleaned = _NAME_BAD.sub("_", name.strip())
    if not cleaned.strip("_"):
        cleaned = f"col{index}"
    if cleaned.startswith("-"):
        cleaned = "_" + cleaned
    return cleaned[:128]


def column_names(first_row: Sequence[str], width: int, header: bool) -> tuple[str, ...]:
    """Column names: the sanitised, de-duplicated header, or ``col0 .. col<width-1>``.

    >>> column_names(["a", "a", "b"], 3, True), column_names([], 2, False)
    (('a', 'a_2', 'b'), ('col0', 'col1'))
    """
    if not header:
        return tuple(f"col{i}" for i in range(width))
    names: list[str] = []
    seen: set[str] = set()
    for i in range(max(width, len(first_row))):
        base = sanitize_name(first_row[i] if i < len(first_row) else "", i)
        name, n = base, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.lower())
        names.append(name)
    return tuple(names)


def sample_types(rows: Sequence[Sequence[str]], width: int) -> list[pa.DataType]:
    """The inferred type of each of ``width`` columns over ``rows`` (short rows pad NULL)."""
    columns: list[list[str | None]] = [[] for _ in range(width)]
    for row in rows:
        for i in range(width):
            columns[i].append(row[i] if i < len(row) else None)
    return [infer_type(col) for col in columns]
