"""Subscriptions and the inbox: follow a product, database, model group or event type, read
the events the principal may see now, mark them read, unsubscribe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, done, render

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

TARGETS = ("product", "database", "model_group", "type")


@router.get("/inbox")
def inbox(request: Request, session: Signed, unread: bool = False) -> Response:
    """The inbox (newest first) and the principal's subscriptions."""
    items = session.events.inbox(unread_only=unread, limit=200)
    data = {
        "unread_only": unread,
        "items": list(reversed(items)),
        "subscriptions": session.events.subscriptions(),
    }
    return render(request, "inbox.html", data, session, extra={"targets": TARGETS})


@router.post("/inbox/read")
def mark_read(
    request: Request, session: Acting, ids: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Mark inbox events read."""
    changed = session.events.mark_read(ids or [])
    return done(request, "/console/inbox", {"marked": changed})


@router.post("/subscriptions")
def subscribe(
    request: Request,
    session: Acting,
    product: Annotated[str, Form()] = "",
    database: Annotated[str, Form()] = "",
    model_group: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    account: Annotated[str, Form()] = "",
    types: Annotated[str, Form()] = "",
) -> Response:
    """Follow one product, database, model group or event type pattern in the inbox."""
    sub = session.events.subscribe(
        product=product.strip() or None,
        database=database.strip() or None,
        model_group=model_group.strip() or None,
        type=type.strip() or None,
        account=account.strip() or None,
        types=[t.strip() for t in types.split(",") if t.strip()] or None,
    )
    return done(request, "/console/inbox", sub)


@router.post("/subscriptions/{subscription_id}/delete")
def unsubscribe(request: Request, session: Acting, subscription_id: int) -> Response:
    """End one of the principal's subscriptions."""
    session.events.unsubscribe(subscription_id)
    return done(request, "/console/inbox", {"unsubscribed": subscription_id})
