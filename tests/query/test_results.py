"""QueryResult: the Arrow table with pandas and plain-Python views."""

from __future__ import annotations

import pyarrow as pa

from meshlake.query.results import QueryResult


def test_views_of_a_result() -> None:
    table = pa.table({"id": [1, 2], "name": ["a", None]})
    result = QueryResult(table)
    assert result.columns == ["id", "name"]
    assert result.rows() == [(1, "a"), (2, None)]
    assert len(result) == result.num_rows == 2
    assert result.to_arrow() is table
    assert result.nbytes == table.nbytes
    frame = result.to_pandas()
    assert list(frame.columns) == ["id", "name"] and frame["id"].tolist() == [1, 2]
    assert result.query_id is None
    result.query_id = "q-1"
    assert result.to_dict() == {
        "query_id": "q-1",
        "columns": ["id", "name"],
        "rows": [[1, "a"], [2, None]],
    }
    assert "q-1" in repr(result)


def test_empty_results() -> None:
    empty = QueryResult(pa.table({"a": pa.array([], pa.int64())}))
    assert (
        empty.rows() == [] and empty.columns == ["a"] and empty.schema.field("a").type == pa.int64()
    )
    assert QueryResult(pa.table({})).rows() == []
