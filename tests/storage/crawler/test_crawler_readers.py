"""Sniffing and reading whole files: csv (gzip), runs of spaces, JSON lines, Parquet."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from meshlake.errors import InvalidInputError
from meshlake.storage.crawler.detect import WHITESPACE, Classification
from meshlake.storage.crawler.location import open_location
from meshlake.storage.crawler.readers import conform, read_file, sniff_file


def _read(path: Path, sample_bytes: int = 1 << 20, hints=None):
    loc = open_location(str(path))
    file = loc.list_files()[0]
    sniff = sniff_file(loc, file, sample_bytes=sample_bytes)
    assert sniff is not None
    return sniff, read_file(loc, file, sniff, hints)


def test_gzip_csv_is_read_transparently_and_hashed_raw(tmp_path):
    raw = gzip.compress(b"id;name;score\n1;ann;2,5\n2;bob;3\n")
    path = tmp_path / "scores.csv.gz"
    path.write_bytes(raw)
    sniff, data = _read(path)
    assert sniff.compression == "gzip" and sniff.dialect and sniff.dialect.delimiter == ";"
    assert data.table.column_names == ["id", "name", "score"]
    assert data.table["score"].to_pylist() == ["2,5", "3"]  # decimal commas stay text
    assert data.sha256 == hashlib.sha256(raw).hexdigest()


def test_gzip_by_magic_without_suffix(tmp_path):
    (tmp_path / "blob").write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    sniff, data = _read(tmp_path / "blob")
    assert sniff.classification is Classification.JSON and data.table["a"].to_pylist() == [1, 2]


def test_values_beyond_the_sample_widen_the_column(tmp_path):
    lines = ["id,v"] + [f"{i},{i}" for i in range(2000)] + ["2000,2.5", "2001,abc"]
    (tmp_path / "w.csv").write_text("\n".join(lines) + "\n")
    sniff, data = _read(tmp_path / "w.csv", sample_bytes=256)
    assert sniff.schema.field("v").type == pa.int64()
    assert data.table.schema.field("v").type == pa.string()
    assert data.table.schema.field("id").type == pa.int64()
    assert data.table["v"][-1].as_py() == "abc" and data.table.num_rows == 2002


def test_runs_of_spaces_and_single_spaces_turning_into_runs_later(tmp_path):
    (tmp_path / "runs.txt").write_text("  a   b    c\n 1  2.5  x\n\n10 20 NULL\n   \n")
    sniff, data = _read(tmp_path / "runs.txt")
    assert sniff.dialect and sniff.dialect.delimiter == WHITESPACE and sniff.header
    assert data.table.to_pydict() == {"a": [1, 10], "b": [2.5, 20.0], "c": ["x", None]}
    body = "x y\n" + "".join(f"{i} {i}\n" for i in range(100)) + "7  8\n"
    (tmp_path / "late.txt").write_text(body)
    sniff, data = _read(tmp_path / "late.txt", sample_bytes=64)
    assert sniff.dialect and sniff.dialect.delimiter == " "
    assert data.table.num_rows == 101 and data.table["y"][-1].as_py() == 8


def test_whitespace_file_with_a_ragged_line_is_invalid(tmp_path):
    (tmp_path / "bad.txt").write_text("a  b\n1  2\n3  4  5\n")
    with pytest.raises(InvalidInputError, match="has 3 fields, expected 2"):
        _read(tmp_path / "bad.txt", sample_bytes=10)


def test_json_lines_and_parquet(tmp_path):
    (tmp_path / "e.jsonl").write_text('{"k": "a", "n": 1, "t": {"x": 1}}\n{"k": "b", "n": 2.5}\n')
    sniff, data = _read(tmp_path / "e.jsonl")
    assert sniff.classification is Classification.JSON
    assert data.table["n"].to_pylist() == [1.0, 2.5]
    pq.write_table(
        pa.table({"a": pa.array([1, 2], pa.int32()), "b": ["x", None]}), tmp_path / "p.parquet"
    )
    sniff, data = _read(tmp_path / "p.parquet")
    assert sniff.schema.field("a").type == pa.int64()  # normalised
    assert data.table.num_rows == 2
    assert data.sha256 == hashlib.sha256((tmp_path / "p.parquet").read_bytes()).hexdigest()


def test_hints_read_columns_as_the_table_types(tmp_path):
    (tmp_path / "h.csv").write_text("id,n\n1,2\n")
    _, data = _read(tmp_path / "h.csv", hints={"n": pa.float64(), "id": pa.list_(pa.int64())})
    assert data.table.schema.field("n").type == pa.float64()
    assert data.table.schema.field("id").type == pa.int64()  # nested hints do not apply to csv


def test_empty_and_blank_files_sniff_to_none(tmp_path):
    (tmp_path / "blank.csv").write_text("\n\n  \n")
    loc = open_location(str(tmp_path / "blank.csv"))
    assert sniff_file(loc, loc.list_files()[0]) is None


def test_conform_casts_fills_and_refuses():
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("p", pa.int64())])
    out = conform(pa.table({"x": [1, 2], "id": [5, 6]}), schema, {"p": "2024"})
    assert out.schema == schema and out.to_pydict() == {
        "id": [5, 6],
        "x": [1.0, 2.0],
        "p": [2024, 2024],
    }
    with pytest.raises(InvalidInputError, match="'id'"):
        conform(pa.table({"id": ["a"]}), schema)
    with pytest.raises(InvalidInputError, match="not in the table schema"):
        conform(pa.table({"zzz": [1]}), schema)


def test_bom_crlf_and_leading_blank_lines(tmp_path):
    (tmp_path / "win.csv").write_bytes(b"\xef\xbb\xbf\r\n\r\nid,name\r\n1,ann\r\n2,bob\r\n\r\n")
    sniff, data = _read(tmp_path / "win.csv")
    assert sniff.header and sniff.skip_rows == 3
    assert data.table.to_pydict() == {"id": [1, 2], "name": ["ann", "bob"]}
