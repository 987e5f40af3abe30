"""Format, delimiter and header detection (Glue's classifier rules)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshlake.errors import InvalidInputError
from meshlake.storage.crawler.detect import (
    WHITESPACE,
    Classification,
    classify_content,
    column_names,
    decode_sample,
    detect_compression,
    detect_dialect,
    has_header,
    sample_types,
    split_rows,
)


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"PAR1\x15\x00", "data.bin", Classification.PARQUET),
        (b'{"a": 1}\n{"a": 2}\n', "x.data", Classification.JSON),
        (b'\xef\xbb\xbf  {"a": 1}\n', "x.json", Classification.JSON),
        (b"a,b\n1,2\n", "x.json", Classification.CSV),  # content wins over the name
        (b"laufkont laufzeit\n1 18\n", "SouthGermanCredit.asc", Classification.CSV),
    ],
)
def test_classify_content(head, name, expected):
    assert classify_content(head, name) is expected


@pytest.mark.parametrize(
    ("head", "name"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00", "img.png"), (b"[1, 2]", "a.json"), (b"a,b", "x.parquet")],
)
def test_unclassifiable_content_is_invalid_input(head, name):
    with pytest.raises(InvalidInputError):
        classify_content(head, name)


def test_compression_by_magic_or_suffix():
    assert detect_compression(b"\x1f\x8b\x08\x00", "plain.csv") == "gzip"
    assert detect_compression(b"a,b", "x.csv.gz") == "gzip"
    assert detect_compression(b"a,b", "x.csv") is None


@pytest.mark.parametrize(
    ("lines", "name", "delimiter"),
    [
        (["a,b,c", "1,2,3"], "x.csv", ","),
        (["a\tb", "1\t2"], "x.txt", "\t"),
        (["a;b;c", "1,5;2;3"], "x.txt", ";"),  # decimal commas do not fool it
        (["a|b", "1|2"], "x", "|"),
        (["a b c", "1 2 3"], "x.asc", " "),
        (["  a   b", " 1  2"], "x.data", WHITESPACE),
        (["a  \tb", "1\t\t2"], "x.data", WHITESPACE),
        (["name,city", '"Smith, J",New York', "Doe,Rome"], "x", ","),  # quoted delimiter
        (["justone", "column"], "x", ","),
    ],
)
def test_detect_dialect(lines, name, delimiter):
    assert detect_dialect(lines, name).delimiter == delimiter


def test_extension_delimiter_is_tried_first():
    # both comma and tab split consistently; .tsv decides
    assert detect_dialect(["a,x\tb", "1,y\t2"], "f.tsv").delimiter == "\t"
    assert detect_dialect(["a,x\tb,c", "1,y\t2,3"], "f.csv").delimiter == ","


def _header(rows):
    width = max(len(r) for r in rows)
    return has_header(rows, sample_types(rows[1:], width))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["id", "name"], ["1", "x"]], True),
        ([["name", "city"], ["ann", "rome"]], False),  # every data column is a string
        ([["A11", "6", "A34"], ["A12", "48", "A32"]], False),  # a numeric cell: data
        ([["a", "NULL"], ["1", "2"]], False),  # NULL is not a string
        ([["a", ""], ["1", "2"]], False),  # an empty cell
        ([["x" * 150, "b"], ["1", "2"]], False),  # too long (all but the last)
        ([["a", "y" * 200], ["1", "2"]], True),
        ([["a", "b"]], False),  # no data rows
        ([["d", "when"], ["2024-01-01", "x"]], True),
    ],
)
def test_glue_header_rule(rows, expected):
    assert _header(rows) is expected


def test_column_names_sanitised_and_unique_or_positional():
    assert column_names(["Credit Amount", "a.b", "A.B", "", "x"], 6, True) == (
        "Credit_Amount",
        "a_b",
        "A_B_2",
        "col3",
        "x",
        "col5",
    )
    assert column_names(["1", "2"], 3, False) == ("col0", "col1", "col2")


def test_decode_sample_drops_empty_and_cut_lines_and_reads_latin1():
    sample = decode_sample(b"a b\n1 2\n\n3 4\n\n5 ", complete=False)
    assert sample.lines == ("a b", "1 2", "3 4") and not sample.complete
    assert decode_sample(b"a\n1\n\n", complete=True).lines == ("a", "1")
    latin = decode_sample("stra\xdfe,x\n".encode("latin-1"), complete=True)
    assert latin.encoding == "latin-1" and latin.lines == ("stra\xdfe,x",)


def test_split_rows_and_sample_types():
    rows = split_rows(["a  b", " 1 2.5"], detect_dialect(["a  b", " 1 2.5"]))
    assert rows == [["a", "b"], ["1", "2.5"]]
    assert sample_types([["1", "x"], ["2"]], 2) == [pa.int64(), pa.string()]
