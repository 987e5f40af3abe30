"""Type inference, widening, normalisation and schema merging."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlake.storage.crawler.infer import (
    NULL_VALUES,
    infer_type,
    merge_schemas,
    normalize_schema,
    normalize_type,
    value_type,
    widen,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+3"], pa.int64()),
        (["1", "2.5", "1e3", ".5"], pa.float64()),
        (["1", "NaN"], pa.float64()),
        (["true", "FALSE"], pa.bool_()),
        (["1", "true"], pa.string()),
        (["0", "1"], pa.int64()),  # 0/1 stay numbers
        (["2024-01-31", ""], pa.date32()),
        (["2024-01-31 10:00", "2024-01-31T10:00:01.5"], pa.timestamp("us")),
        (["2024-01-31T10:00:00Z", "2024-01-31 10:00+01:00"], pa.timestamp("us", tz="UTC")),
        (["2024-01-31", "2024-01-31 10:00"], pa.timestamp("us")),  # dates widen
        (["2024-01-31", "2024-01-31 10:00Z"], pa.string()),
        (["1234567890123456789"], pa.string()),  # beyond int64's safe digits
        (["", "NULL", "\\N", None], pa.null()),
        (["NA", "1"], pa.string()),  # "NA" is data, not NULL
    ],
)
def test_infer_type(values, expected):
    assert infer_type(values) == expected


def test_value_type_matches_infer_type():
    for text in ["7", "7.5", "x", "true", "2024-01-01", ""]:
        assert value_type(text) == infer_type([text])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-(10**17), 10**17),
            st.floats(allow_nan=False, allow_infinity=False, width=32),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_inferred_numeric_types_are_what_pyarrow_parses(numbers):
    texts = [repr(n) if isinstance(n, float) else str(n) for n in numbers]
    typ = infer_type(texts)
    data = ("x\n" + "\n".join(texts) + "\n").encode()
    table = pacsv.read_csv(
        io.BytesIO(data),
        convert_options=pacsv.ConvertOptions(
            column_types={"x": typ}, null_values=list(NULL_VALUES)
        ),
    )
    assert table.num_rows == len(numbers)
    assert typ == (pa.int64() if all(isinstance(n, int) for n in numbers) else pa.float64())


def test_widen_lattice():
    assert widen(pa.null(), pa.int64()) == pa.int64()
    assert widen(pa.int64(), pa.float64()) == pa.float64()
    assert widen(pa.float64(), pa.string()) == pa.string()
    assert widen(pa.bool_(), pa.int64()) == pa.string()
    assert widen(pa.date32(), pa.timestamp("us")) == pa.timestamp("us")
    assert widen(pa.timestamp("us"), pa.timestamp("us", tz="UTC")) == pa.string()
    a = pa.struct([("x", pa.int64())])
    b = pa.struct([("x", pa.float64()), ("y", pa.string())])
    assert widen(a, b) == pa.struct([("x", pa.float64()), ("y", pa.string())])
    assert widen(pa.list_(pa.int64()), pa.list_(pa.float64())) == pa.list_(pa.float64())


def test_normalize_types():
    schema = pa.schema(
        [
            pa.field("a", pa.int8(), nullable=False),
            ("b", pa.float32()),
            ("c", pa.large_string()),
            ("d", pa.dictionary(pa.int32(), pa.string())),
            ("e", pa.timestamp("ns", tz="Europe/Berlin")),
            ("f", pa.list_(pa.int16())),
            ("g", pa.null()),
            ("h", pa.decimal128(10, 2)),
        ]
    )
    out = normalize_schema(schema)
    assert [str(t) for t in out.types] == [
        "int64",
        "double",
        "string",
        "string",
        "timestamp[us, tz=UTC]",
        "list<item: int64>",
        "string",
        "decimal128(10, 2)",
    ]
    assert all(f.nullable for f in out)
    assert normalize_type(pa.struct([("x", pa.int32())])) == pa.struct([("x", pa.int64())])


def test_merge_schemas_keeps_existing_columns_and_widens_new_ones():
    base = pa.schema([("id", pa.int64()), ("v", pa.string())])
    files = [
        pa.schema([("id", pa.float64()), ("w", pa.int64())]),
        pa.schema([("w", pa.float64()), ("z", pa.null())]),
    ]
    merged, added = merge_schemas(base, files)
    assert [(f.name, str(f.type)) for f in merged] == [
        ("id", "int64"),
        ("v", "string"),
        ("w", "double"),
        ("z", "string"),
    ]
    assert added == ("w", "z")
    fresh, added_fresh = merge_schemas(None, files)
    assert fresh.names == ["id", "w", "z"] and added_fresh == ("id", "w", "z")
