"""The audit log: the events the principal may read (its own, and its administered
accounts'), filtered, newest first, with the hash chain's status (``verify_audit``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meshlake.audit.log import AuditEvent
from meshlake.errors import AccessDeniedError
from meshlake.server.console.pages import ConsoleRoute, Signed, render
from meshlake.server.wire import audit_event

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 100
#: Events read back at most per page while looking for filter matches.
SCAN = 5000
_BATCH = 500


def _matches(event: AuditEvent, principal: str, action: str, text: str) -> bool:
    if principal and event.principal != principal:
        return False
    if action and event.action != action:
        return False
    return not text or text.lower() in f"{event.resource} {event.data}".lower()


@router.get("/audit")
def audit(
    request: Request,
    session: Signed,
    category: str = "",
    principal: str = "",
    action: str = "",
    q: str = "",
    before_seq: int | None = None,
) -> Response:
    """One page of matching events, newest first, and the chain's status for admins."""
    who, what = principal.strip(), action.strip()
    found: list[AuditEvent] = []  # newest first
    cursor, scanned, exhausted = before_seq, 0, False
    while len(found) <= PAGE and scanned < SCAN:
        batch = session.audit(category=category or None, limit=_BATCH, before_seq=cursor)
        scanned += len(batch)
        found += [e for e in reversed(batch) if _matches(e, who, what, q)]
        if len(batch) < _BATCH:
            exhausted = True
            break
        cursor = batch[0].seq
    page = found[:PAGE]
    more = len(found) > PAGE or not exhausted
    chain: dict[str, Any] | None
    try:
        report = session.verify_audit()
        chain = {
            "ok": report.ok,
            "events": report.events,
            "problem": report.problem,
            "kind": report.kind,
            "first_bad_seq": report.first_bad_seq,
            "checkpoints": report.checkpoints,
            "checkpoint_seq": report.checkpoint_seq,
            "unanchored": report.unanchored,
        }
    except AccessDeniedError:
        chain = None  # only admins verify the chain
    data = {
        "filters": {"category": category, "principal": principal, "action": action, "q": q},
        "events": [audit_event(e) for e in page],
        "next_before_seq": page[-1].seq if page and more else None,
        "chain": chain,
    }
    return render(request, "audit.html", data, session)
