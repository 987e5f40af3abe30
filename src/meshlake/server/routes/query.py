"""Governed queries and query executions.

Results come back as JSON (``{"query_id", "columns", "rows"}``, for small results) or, when
the request's ``Accept`` names :data:`ARROW_STREAM`, as an Arrow IPC stream with the query id
in the ``X-Meshlake-Query-Id`` header.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from meshlake.errors import InvalidInputError
from meshlake.query.results import QueryResult
from meshlake.server.auth import CurrentSession, Scrub
from meshlake.server.wire import MAX_LIMIT, jsonable

__all__ = ["ARROW_STREAM", "JSON_MAX_ROWS", "QUERY_ID_HEADER", "router"]

router = APIRouter(prefix="/v1", tags=["query"])

ARROW_STREAM = "application/vnd.apache.arrow.stream"
QUERY_ID_HEADER = "X-Meshlake-Query-Id"
JSON_MAX_ROWS = 10_000


class QueryBody(BaseModel):
    sql: str
    database: str | None = None
    workgroup: str | None = None
    query_id: str | None = None


def _answer(result: QueryResult, accept: str | None) -> Any:
    if accept and ARROW_STREAM in accept:
        sink = io.BytesIO()
        table = result.to_arrow()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(
            sink.getvalue(),
            media_type=ARROW_STREAM,
            headers={QUERY_ID_HEADER: result.query_id or ""},
        )
    if result.num_rows > JSON_MAX_ROWS:
        raise InvalidInputError(
            f"the result has {result.num_rows} rows, more than JSON answers carry "
            f"({JSON_MAX_ROWS}): ask for {ARROW_STREAM} in the Accept header"
        )
    return {
        "query_id": result.query_id,
        "columns": result.columns,
        "rows": [jsonable(list(r)) for r in result.rows()],
    }


@router.post(
    "/query",
    responses={200: {"content": {ARROW_STREAM: {}, "application/json": {}}}},
)
def run_query(
    body: QueryBody, s: CurrentSession, accept: Annotated[str | None, Header()] = None
) -> Any:
    """Run one governed SELECT as the token's principal."""
    result = s.query(
        body.sql, database=body.database, workgroup=body.workgroup, query_id=body.query_id
    )
    return _answer(result, accept)


@router.get("/queries")
def list_queries(
    s: CurrentSession,
    scrub: Scrub,
    principal: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Executions the caller may see (own; admins: their accounts'), newest first."""
    return {"items": scrub.body(s.queries.list(limit=limit, principal=principal))}


@router.get("/queries/{query_id}")
def get_query(query_id: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One execution."""
    return scrub.body(s.queries.get(query_id))


@router.post("/queries/{query_id}/cancel")
def cancel_query(query_id: str, s: CurrentSession, scrub: Scrub) -> Any:
    """Stop a running query."""
    return scrub.body(s.queries.cancel(query_id))


@router.get(
    "/queries/{query_id}/result",
    responses={200: {"content": {ARROW_STREAM: {}, "application/json": {}}}},
)
def query_result(
    query_id: str, s: CurrentSession, accept: Annotated[str | None, Header()] = None
) -> Any:
    """A stored result (410 once its retention has passed)."""
    return _answer(s.queries.result(query_id), accept)
