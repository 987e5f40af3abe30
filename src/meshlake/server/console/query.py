"""The SQL editor: governed queries with results, the principal's history, stored results
and the account's workgroups (created and changed here by the account's admins)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.errors import InvalidInputError, MeshError
from meshlake.mesh import Session
from meshlake.server.console.pages import (
    Acting,
    ConsoleRoute,
    Signed,
    administers,
    attempt,
    render,
    whole_number,
)
from meshlake.server.routes import STORE_INT_MAX
from meshlake.server.routes.query import MAX_RETENTION_S

__all__ = ["MAX_ROWS", "parse_retention", "router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

MAX_ROWS = 1000
HISTORY = 25
EDITOR = "/console/query"
_DAYS = re.compile(r"[0-9]{1,5}(\.[0-9]{1,6})?")

Text = Annotated[str, Form()]
"""A text field of a form (blank when left out)."""


def parse_retention(text: str) -> timedelta | None:
    """A form's retention in days (``None`` when blank).

    >>> parse_retention("1.5")
    datetime.timedelta(days=1, seconds=43200)

    Raises:
        InvalidInputError: not a number of days from above 0 to ten years.
    """
    text = text.strip()
    if not text:
        return None
    days = float(text) if _DAYS.fullmatch(text) else -1.0
    if not 0 < days * 86_400 <= MAX_RETENTION_S:
        raise InvalidInputError(
            f"keep results for a number of days above 0 and up to {MAX_RETENTION_S // 86_400}, "
            f"not {text!r}"
        )
    return timedelta(days=days)


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
        "may_manage": administers(session),
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


def _editor_page(
    request: Request, session: Session, exc: MeshError, form: dict[str, str]
) -> Response:
    data = _editor(session, "", "", "")
    return render(
        request, "query.html", data, session, status=exc.status, error=exc, extra={"form": form}
    )


@router.post("/workgroups")
def create_workgroup(
    request: Request,
    session: Acting,
    name: Text = "",
    retention_days: Text = "7",
    max_runtime_s: Text = "",
    memory_limit: Text = "",
    max_bytes_scanned: Text = "",
) -> Response:
    """Create a workgroup of the principal's account (its admins): how long its results
    are kept and its queries' limits (results go under the mesh's results folder)."""
    form = {
        "name": name,
        "retention_days": retention_days,
        "max_runtime_s": max_runtime_s,
        "memory_limit": memory_limit,
        "max_bytes_scanned": max_bytes_scanned,
    }

    def call() -> Any:
        limits: dict[str, Any] = {
            "memory_limit": memory_limit.strip() or None,
            "max_bytes_scanned": whole_number(
                "max_bytes_scanned", max_bytes_scanned, most=STORE_INT_MAX
            ),
        }
        runtime = whole_number("max_runtime_s", max_runtime_s, most=STORE_INT_MAX)
        if runtime is not None:
            limits["max_runtime_s"] = runtime
        retention = parse_retention(retention_days)
        if retention is not None:
            limits["retention"] = retention
        return session.queries.create_workgroup(name.strip(), **limits)

    return attempt(request, call, EDITOR, lambda exc: _editor_page(request, session, exc, form))


@router.post("/workgroups/{name}")
def update_workgroup(
    request: Request,
    session: Acting,
    name: str,
    retention_days: Text = "",
    max_runtime_s: Text = "",
    memory_limit: Text = "",
    max_bytes_scanned: Text = "",
) -> Response:
    """Change a workgroup's retention and limits (its account's admins): a blank retention
    or runtime keeps its value, a blank memory limit or byte limit removes that limit."""

    def call() -> Any:
        return session.queries.update_workgroup(
            name,
            retention=parse_retention(retention_days),
            max_runtime_s=whole_number("max_runtime_s", max_runtime_s, most=STORE_INT_MAX),
            memory_limit=memory_limit.strip() or None,
            max_bytes_scanned=whole_number(
                "max_bytes_scanned", max_bytes_scanned, most=STORE_INT_MAX
            ),
        )

    return attempt(request, call, EDITOR, lambda exc: _editor_page(request, session, exc, {}))
