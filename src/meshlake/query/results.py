"""Query results: an Arrow table with pandas and plain-Python views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["QueryResult"]


class QueryResult:
    """The rows a governed query returned.

    Args:
        table: the result.
        query_id: the query execution's id (set by the service that records it).

    >>> r = QueryResult(pa.table({"a": [1, 2]}))
    >>> r.columns, r.rows(), len(r)
    (['a'], [(1,), (2,)], 2)
    """

    def __init__(self, table: pa.Table, *, query_id: str | None = None) -> None:
        self._table = table
        self.query_id = query_id

    @property
    def columns(self) -> list[str]:
        """The result's column names, in order."""
        return list(self._table.column_names)

    @property
    def schema(self) -> pa.Schema:
        """The result's Arrow schema."""
        return self._table.schema

    @property
    def num_rows(self) -> int:
        """How many rows the query returned."""
        return self._table.num_rows

    @property
    def nbytes(self) -> int:
        """The result's size in memory (Arrow buffers), in bytes."""
        return int(self._table.nbytes)

    def __len__(self) -> int:
        return self._table.num_rows

    def to_arrow(self) -> pa.Table:
        """The result as an Arrow table."""
        return self._table

    def to_pandas(self, **kwargs: Any) -> pd.DataFrame:
        """The result as a pandas DataFrame (``kwargs`` go to ``pyarrow.Table.to_pandas``)."""
        return self._table.to_pandas(**kwargs)

    def rows(self) -> list[tuple[Any, ...]]:
        """The result as a list of tuples (Python values)."""
        columns = [column.to_pylist() for column in self._table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form: ``{"query_id", "columns", "rows"}``."""
        return {
            "query_id": self.query_id,
            "columns": self.columns,
            "rows": [list(row) for row in self.rows()],
        }

    def __repr__(self) -> str:
        return (
            f"QueryResult(query_id={self.query_id!r}, rows={self.num_rows}, columns={self.columns})"
        )
