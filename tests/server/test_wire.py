"""The wire form of query results: JSON rows built column by column."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from meshlake.query.results import QueryResult
from meshlake.server.wire import json_rows, jsonable


def test_json_rows_are_the_rows_jsonable_makes_value_by_value() -> None:
    table = pa.table(
        {
            "i": pa.array([1, None, 2**62], pa.int64()),
            "u": pa.array([0, 255, None], pa.uint8()),
            "f": pa.array([0.5, float("nan"), float("-inf")]),
            "f32": pa.array([1.5, None, float("inf")], pa.float32()),
            "s": ["a", None, "é"],
            "ls": pa.array(["x", "y", None], pa.large_string()),
            "b": [True, False, None],
            "n": pa.array([None, None, None], pa.null()),
            "d": pa.array([date(2024, 1, 31), None, date(1970, 1, 1)]),
            "ts": pa.array(
                [datetime(2024, 1, 1, tzinfo=UTC), None, None], pa.timestamp("us", "UTC")
            ),
            "dec": pa.array([Decimal("1.25"), None, Decimal("-3")], pa.decimal128(6, 2)),
            "bin": pa.array([b"\x00\xff", None, b""]),
            "list": pa.array([[1.0, float("nan")], None, []]),
            "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": None}]),
            "dict": pa.array(["p", "q", "p"]).dictionary_encode(),
        }
    )
    expected = [jsonable(list(r)) for r in QueryResult(table).rows()]
    assert json_rows(table) == expected
    assert expected[1][2] is None and expected[2][3] is None  # non-finite floats: null
    assert json_rows(table.slice(0, 0)) == [] and json_rows(pa.table({})) == []
