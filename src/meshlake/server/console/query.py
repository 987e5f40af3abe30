"""The SQL editor: governed queries with results, the principal's history, stored results
and the account's workgroups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.errors import MeshError
from meshlake.mesh import Session
from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, render

__all__ = ["MAX_ROWS", "router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

MAX_ROWS = 1000
HISTORY = 25


def _editor(session: Session, sql: str, workgroup: str, database: str) -> dict[str, Any]:
    return {
        "sql": sql,
        "workgroup": workgroup,
        "database": database,
        "workgroups": [
            {
                "name": w.name,
                "retention_seconds": w.retention_seconds,
                "max_runtime_s": w.max_runtime_s,
                "memory_limit": w.memory_limit,
                "max_bytes_scanned": w.max_bytes_scanned,
            }
            for w in session.queries.workgroups()
        ],
        "history": [
            {
                "query_id": q.query_id,
                "sql": q.sql,
                "state": q.state,
                "rows": q.rows,
                "workgroup": q.workgroup,
                "submitted_at": q.submitted_at,
            }
            for q in session.queries.list(limit=HISTORY, principal=session.principal)
        ],
        "result": None,
    }


def _result(result: Any) -> dict[str, Any]:
    return {
        "query_id": result.query_id,
        "columns": list(result.columns),
        "rows": [list(r) for r in result.rows()[:MAX_ROWS]],
        "num_rows": result.num_rows,
        "truncated": result.num_rows > MAX_ROWS,
    }


@router.get("/query")
def editor(
    request: Request, session: Signed, sql: str = "", workgroup: str = "", database: str = ""
) -> Response:
    """The editor (optionally pre-filled), the workgroups and the principal's history."""
    return render(request, "query.html", _editor(session, sql, workgroup, database), session)


@router.post("/query")
def run(
    request: Request,
    session: Acting,
    sql: Annotated[str, Form()],
    workgroup: Annotated[str, Form()] = "",
    database: Annotated[str, Form()] = "",
) -> Response:
    """Run one governed SELECT and show up to 1,000 rows."""
    try:
        result = session.query(sql, database=database or None, workgroup=workgroup or None)
    except MeshError as exc:
        data = _editor(session, sql, workgroup, database)
        return render(request, "query.html", data, session, status=exc.status, error=exc)
    data = _editor(session, sql, workgroup, database)
    data["result"] = _result(result)
    return render(request, "query.html", data, session)


@router.get("/queries/{query_id}")
def execution(request: Request, session: Signed, query_id: str) -> Response:
    """One recorded execution and, while it is kept, its stored result."""
    ex = session.queries.get(query_id)
    stored = None
    note = ""
    if ex.state == "SUCCEEDED":
        try:
            stored = _result(session.queries.result(query_id))
        except MeshError as exc:
            note = exc.message
    data = {"execution": ex, "result": stored, "note": note}
    return render(request, "execution.html", data, session)
