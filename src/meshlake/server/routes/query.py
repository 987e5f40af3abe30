"""Governed queries, query executions and workgroups.

Results come back as JSON (``{"query_id", "columns", "rows"}``, for small results) or, when
the request's ``Accept`` names :data:`ARROW_STREAM`, as an Arrow IPC stream with the query id
in the ``X-Meshlake-Query-Id`` header.

A fresh result of at most :data:`ONE_BODY_BYTES` is encoded whole in the route's worker
thread and answered as one body (a JSON answer always is): a streamed answer hands every
chunk from a worker thread to the event loop, which costs more than writing a small result.
Larger results are streamed record batch by record batch as the client reads them: a fresh
result from the governed result's batches, a stored one from its file, batch by batch, so
the server never holds a second copy of a large result.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from pydantic_core import to_json

from meshlake.errors import InvalidInputError
from meshlake.query.results import QueryResult
from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import StoreInt
from meshlake.server.wire import MAX_LIMIT, json_rows

__all__ = [
    "ARROW_STREAM",
    "JSON_MAX_ROWS",
    "ONE_BODY_BYTES",
    "QUERY_ID_HEADER",
    "arrow_body",
    "arrow_stream",
    "router",
]

router = APIRouter(prefix="/v1", tags=["query"], route_class=SessionRoute)

ARROW_STREAM = "application/vnd.apache.arrow.stream"
QUERY_ID_HEADER = "X-Meshlake-Query-Id"
JSON_MAX_ROWS = 10_000
BATCH_ROWS = 65_536
ONE_BODY_BYTES = 1 << 20
"""A fresh result up to this size (Arrow buffers) is answered in one body, not streamed."""
MAX_RETENTION_S = 3650 * 86_400  # ten years
RESULT_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {ARROW_STREAM: {}, "application/json": {}}}
}


class QueryBody(BaseModel):
    sql: str
    database: str | None = None
    workgroup: str | None = None
    query_id: str | None = None


class _Chunks(io.RawIOBase):
    """A write-only file collecting what the IPC writer wrote since the last :meth:`take`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def arrow_stream(reader: pa.RecordBatchReader) -> Iterator[bytes]:
    """The Arrow IPC stream of ``reader``'s batches, one chunk per batch (the schema first,
    the end-of-stream marker last)."""
    sink = _Chunks()
    with reader, pa.ipc.new_stream(sink, reader.schema) as writer:
        yield sink.take()
        for batch in reader:
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()


def arrow_body(table: pa.Table) -> bytes:
    """The whole Arrow IPC stream of ``table`` (the same bytes :func:`arrow_stream` sends
    in chunks)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            writer.write_batch(batch)
    return bytes(sink.getvalue())


def _stream(reader: pa.RecordBatchReader, query_id: str | None) -> StreamingResponse:
    return StreamingResponse(
        arrow_stream(reader), media_type=ARROW_STREAM, headers={QUERY_ID_HEADER: query_id or ""}
    )


def _arrow(result: QueryResult) -> Response:
    """A fresh result as Arrow IPC: one body when small, else streamed batch by batch."""
    table = result.to_arrow()
    if table.nbytes <= ONE_BODY_BYTES:
        return Response(
            arrow_body(table),
            media_type=ARROW_STREAM,
            headers={QUERY_ID_HEADER: result.query_id or ""},
        )
    reader = pa.RecordBatchReader.from_batches(
        table.schema, table.to_batches(max_chunksize=BATCH_ROWS)
    )
    return _stream(reader, result.query_id)


def _json(result: QueryResult) -> Response:
    """A result as JSON, encoded here (in the route's worker thread), so FastAPI neither
    validates nor encodes it again on the event loop."""
    if result.num_rows > JSON_MAX_ROWS:
        raise InvalidInputError(
            f"the result has {result.num_rows} rows, more than JSON answers carry "
            f"({JSON_MAX_ROWS}): ask for {ARROW_STREAM} in the Accept header"
        )
    body = {
        "query_id": result.query_id,
        "columns": result.columns,
        "rows": json_rows(result.to_arrow()),
    }
    return Response(to_json(body), media_type="application/json")


def _wants_arrow(accept: str | None) -> bool:
    return bool(accept and ARROW_STREAM in accept)


@router.post("/query", responses=RESULT_CONTENT)
def run_query(
    body: QueryBody, s: CurrentSession, accept: Annotated[str | None, Header()] = None
) -> Any:
    """Run one governed SELECT as the token's principal."""
    result = s.query(
        body.sql, database=body.database, workgroup=body.workgroup, query_id=body.query_id
    )
    return _arrow(result) if _wants_arrow(accept) else _json(result)


@router.post("/queries", status_code=202, responses={202: {"description": "Started."}})
def start_query(body: QueryBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Start a query in the background (QUEUED); follow it at ``GET /v1/queries/{id}``."""
    ex = s.queries.start(
        body.sql, database=body.database, workgroup=body.workgroup, query_id=body.query_id
    )
    return JSONResponse(
        scrub.body(ex), status_code=202, headers={"Location": f"/v1/queries/{ex.query_id}"}
    )


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


@router.get("/queries/{query_id}/result", responses=RESULT_CONTENT)
def query_result(
    query_id: str, s: CurrentSession, accept: Annotated[str | None, Header()] = None
) -> Any:
    """A stored result (410 once its retention has passed); as Arrow, streamed from its
    file batch by batch."""
    if _wants_arrow(accept):
        return _stream(s.queries.result_reader(query_id), query_id)
    return _json(s.queries.result(query_id))


# ---------------------------------------------------------------- workgroups
class WorkgroupBody(BaseModel):
    name: str
    result_location: str | None = Field(
        None, description="A registered location (default: under the mesh's results)."
    )
    retention_s: int = Field(
        7 * 86_400, gt=0, le=MAX_RETENTION_S, description="How long results are kept."
    )
    max_runtime_s: int = 300
    memory_limit: str | None = None
    max_bytes_scanned: StoreInt | None = None


class WorkgroupLimitsBody(BaseModel):
    retention_s: int | None = Field(None, gt=0, le=MAX_RETENTION_S)
    max_runtime_s: int | None = None
    memory_limit: str | None = Field(None, description="null removes the limit.")
    max_bytes_scanned: StoreInt | None = Field(None, description="null removes the limit.")


@router.post("/workgroups", tags=["workgroups"], status_code=201)
def create_workgroup(body: WorkgroupBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a workgroup of the caller's account (its admins)."""
    return scrub.body(
        s.queries.create_workgroup(
            body.name,
            result_location=body.result_location,
            retention=timedelta(seconds=body.retention_s),
            max_runtime_s=body.max_runtime_s,
            memory_limit=body.memory_limit,
            max_bytes_scanned=body.max_bytes_scanned,
        )
    )


@router.get("/workgroups", tags=["workgroups"])
def list_workgroups(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """The workgroups of the caller's account (no result locations)."""
    return {"items": scrub.body(s.queries.workgroups())}


@router.get("/workgroups/{name}", tags=["workgroups"])
def get_workgroup(name: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One workgroup of the caller's account."""
    return scrub.body(s.queries.workgroup(name))


@router.patch("/workgroups/{name}", tags=["workgroups"])
def update_workgroup(name: str, body: WorkgroupLimitsBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Change a workgroup's retention or limits (its account's admins); fields left out
    keep their value, ``null`` removes ``memory_limit`` or ``max_bytes_scanned``."""
    given = body.model_fields_set
    limits: dict[str, Any] = {}
    if "memory_limit" in given:
        limits["memory_limit"] = body.memory_limit
    if "max_bytes_scanned" in given:
        limits["max_bytes_scanned"] = body.max_bytes_scanned
    return scrub.body(
        s.queries.update_workgroup(
            name,
            retention=None if body.retention_s is None else timedelta(seconds=body.retention_s),
            max_runtime_s=body.max_runtime_s,
            **limits,
        )
    )
