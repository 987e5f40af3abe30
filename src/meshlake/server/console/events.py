"""Subscriptions, the inbox and webhook deliveries: follow a product, database, model group
or event type pattern in the inbox or at a webhook URL, read the events the principal may
see now, mark them read, unsubscribe; list the principal's webhook deliveries and send its
dead letters again.

A webhook's signing secret is generated when the form leaves it blank and shown in the
answer to the form only (that answer is the page itself, not a redirect: the secret is never
shown again)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.errors import InvalidInputError, MeshError
from meshlake.events.delivery import DEAD, DELIVERED, PENDING, SKIPPED
from meshlake.mesh import Session
from meshlake.server.console.pages import (
    Acting,
    ConsoleRoute,
    Signed,
    attempt,
    done,
    render,
    wants_json,
    whole_number,
)
from meshlake.server.routes import STORE_INT_MAX

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

TARGETS = ("product", "database", "model_group", "type")
DELIVERY_STATES = (PENDING, DELIVERED, DEAD, SKIPPED)
#: Deliveries a page lists (the newest).
SHOWN = 500
INBOX = "/console/inbox"
DEAD_LETTERS = f"/console/deliveries?state={DEAD}"

Text = Annotated[str, Form()]
"""A text field of a form (blank when left out)."""


def _inbox_page(
    request: Request,
    session: Session,
    unread: bool = False,
    *,
    error: MeshError | None = None,
    form: dict[str, str] | None = None,
    created: dict[str, Any] | None = None,
) -> Response:
    items = session.events.inbox(unread_only=unread, limit=200)
    data = {
        "unread_only": unread,
        "items": list(reversed(items)),
        "subscriptions": session.events.subscriptions(),
    }
    extra = {"targets": TARGETS, "form": form or {}, "created": created}
    status = error.status if error is not None else 200
    return render(request, "inbox.html", data, session, status=status, error=error, extra=extra)


@router.get("/inbox")
def inbox(request: Request, session: Signed, unread: bool = False) -> Response:
    """The inbox (newest first) and the principal's subscriptions."""
    return _inbox_page(request, session, unread)


@router.post("/inbox/read")
def mark_read(
    request: Request, session: Acting, ids: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Mark inbox events read."""
    changed = session.events.mark_read(ids or [])
    return done(request, INBOX, {"marked": changed})


@router.post("/subscriptions")
def subscribe(
    request: Request,
    session: Acting,
    product: Text = "",
    database: Text = "",
    model_group: Text = "",
    type: Text = "",
    account: Text = "",
    types: Text = "",
    url: Text = "",
    secret: Text = "",
) -> Response:
    """Follow one product, database, model group or event type pattern, in the inbox or,
    with ``url``, at a webhook (signed with ``secret``, generated when blank)."""
    form = {
        "product": product,
        "database": database,
        "model_group": model_group,
        "type": type,
        "account": account,
        "types": types,
        "url": url,
    }
    try:
        sub = session.events.subscribe(
            product=product.strip() or None,
            database=database.strip() or None,
            model_group=model_group.strip() or None,
            type=type.strip() or None,
            account=account.strip() or None,
            types=[t.strip() for t in types.split(",") if t.strip()] or None,
            url=url.strip() or None,
            secret=secret.strip() or None,
        )
    except MeshError as exc:
        return _inbox_page(request, session, error=exc, form=form)
    if sub.url and not secret.strip() and not wants_json(request):
        created = {"id": sub.id, "url": sub.url, "secret": sub.secret}
        return _inbox_page(request, session, created=created)
    return done(request, INBOX, {**sub.to_dict(), "secret": sub.secret})


@router.post("/subscriptions/{subscription_id}/delete")
def unsubscribe(request: Request, session: Acting, subscription_id: int) -> Response:
    """End one of the principal's subscriptions."""
    session.events.unsubscribe(subscription_id)
    return done(request, INBOX, {"unsubscribed": subscription_id})


def _deliveries_page(
    request: Request,
    session: Session,
    state: str = "",
    subscription: str = "",
    error: MeshError | None = None,
) -> Response:
    if state and state not in DELIVERY_STATES:
        raise InvalidInputError(
            f"a delivery's state is one of {', '.join(DELIVERY_STATES)}, not {state!r}"
        )
    sub_id = whole_number("subscription", subscription, most=STORE_INT_MAX)
    found = session.events.deliveries(state=state or None, subscription_id=sub_id)
    data = {
        "state": state,
        "subscription": sub_id,
        "total": len(found),
        "deliveries": list(reversed(found))[:SHOWN],
    }
    status = error.status if error is not None else 200
    extra = {"states": DELIVERY_STATES}
    return render(
        request, "deliveries.html", data, session, status=status, error=error, extra=extra
    )


@router.get("/deliveries")
def deliveries(
    request: Request, session: Signed, state: str = "", subscription: str = ""
) -> Response:
    """The principal's webhook deliveries (newest first), by state and subscription; the
    dead letters (``state=dead``) may be sent again."""
    return _deliveries_page(request, session, state, subscription)


@router.post("/deliveries/replay")
def replay(
    request: Request,
    session: Acting,
    ids: Annotated[list[str] | None, Form()] = None,
    every: Text = "",
) -> Response:
    """Queue the ticked dead letters (or, with ``every``, all of the principal's) again
    with a fresh attempt count."""

    def call() -> dict[str, int]:
        chosen = [n for i in ids or [] if (n := whole_number("delivery id", i, most=STORE_INT_MAX))]
        if not every and not chosen:
            raise InvalidInputError("tick the dead letters to send again, or send every one")
        return {"queued": session.events.replay(None if every else chosen)}

    return attempt(
        request,
        call,
        DEAD_LETTERS,
        lambda exc: _deliveries_page(request, session, DEAD, error=exc),
    )
