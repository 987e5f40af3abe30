"""Asynchronous operations: their status, result or typed error.

Routes that start long work answer ``202 Accepted`` with the operation and a ``Location``
header naming ``/v1/operations/{id}``; that route answers the operation's state (QUEUED,
RUNNING, SUCCEEDED, FAILED) with its ``result`` or ``error`` (``{"type", "message"}``). An
operation is visible only to its principal and to the mesh root.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from meshlake.server.auth import CurrentSession, Runner, Scrub, SessionRoute
from meshlake.server.operations import MAX_WAIT_S
from meshlake.server.wire import MAX_LIMIT, Scrubber
from meshlake.service.operations import Operation

__all__ = ["ACCEPTED", "accepted", "router"]

router = APIRouter(prefix="/v1", tags=["operations"], route_class=SessionRoute)

#: The OpenAPI description of a 202 answer.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: follow the operation at the `Location` header "
        "(`GET /v1/operations/{id}`)."
    }
}


def accepted(op: Operation, scrub: Scrubber) -> JSONResponse:
    """The ``202`` answer of a route that started an operation."""
    return JSONResponse(
        scrub.body(op.to_dict()),
        status_code=202,
        headers={"Location": f"/v1/operations/{op.id}"},
    )


@router.get("/operations")
def list_operations(
    s: CurrentSession,
    scrub: Scrub,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """The caller's operations, newest first (the mesh root: everyone's)."""
    return {"items": scrub.body(s.operations.list(limit=limit))}


@router.get("/operations/{operation_id}")
def get_operation(
    operation_id: str,
    s: CurrentSession,
    scrub: Scrub,
    runner: Runner,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the operation to end."),
    ] = 0,
) -> Any:
    """One operation: QUEUED, RUNNING, SUCCEEDED (with ``result``) or FAILED (with
    ``error``); with ``wait``, answered once it ended or ``wait`` seconds passed."""
    return scrub.body(runner.wait(s.operations, operation_id, wait).to_dict())
