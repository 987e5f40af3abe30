"""The tag ontology page: the tag keys and values the principal can see; create a key with
its values (admins of the account), add and remove values (ALTER on the key), delete a key
(DROP on the key). Assigning tags happens on the database and table pages
(:mod:`.catalog`)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.errors import MeshError
from meshlake.mesh import Session
from meshlake.server.console.pages import (
    Acting,
    ConsoleRoute,
    Signed,
    administers,
    attempt,
    render,
)

__all__ = ["router", "split_values"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

HOME = "/console/tags"


def split_values(text: str) -> list[str]:
    """A form's comma-separated tag values (a value may hold spaces, never a comma).

    >>> split_values("gold, silver ,, bronze age")
    ['gold', 'silver', 'bronze age']
    """
    return [v.strip() for v in text.split(",") if v.strip()]


def _page(
    request: Request,
    session: Session,
    *,
    error: MeshError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    keys = session.tags.list()
    names = Counter(k.key for k in keys)
    rows: list[dict[str, Any]] = [
        {
            **k.to_dict(),
            # the facade names a key by its name: the caller's account's first, then a
            # share that is the only one of that name
            "editable": k.account == session.account or names[k.key] == 1,
        }
        for k in keys
    ]
    data = {"tags": rows, "may_create": administers(session)}
    status = error.status if error is not None else 200
    return render(
        request, "tags.html", data, session, status=status, error=error, extra={"form": form or {}}
    )


@router.get("/tags")
def tags(request: Request, session: Signed) -> Response:
    """The tag keys and values the principal can see, and the forms it may use on them."""
    return _page(request, session)


@router.post("/tags")
def create(
    request: Request,
    session: Acting,
    key: Annotated[str, Form()] = "",
    values: Annotated[str, Form()] = "",
) -> Response:
    """Create a tag key of the principal's account with its allowed values (admins)."""
    return attempt(
        request,
        lambda: session.tags.create(key, split_values(values)),
        HOME,
        lambda exc: _page(request, session, error=exc, form={"key": key, "values": values}),
    )


@router.post("/tags/values")
def change_values(
    request: Request,
    session: Acting,
    key: Annotated[str, Form()] = "",
    add: Annotated[str, Form()] = "",
    remove: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Add values to a key and remove values no resource carries (ALTER on the key)."""
    return attempt(
        request,
        lambda: session.tags.update(key, add=split_values(add), remove=remove or []),
        HOME,
        lambda exc: _page(request, session, error=exc),
    )


@router.post("/tags/delete")
def delete(request: Request, session: Acting, key: Annotated[str, Form()] = "") -> Response:
    """Delete a key: it leaves every resource and the grants on it go (DROP on the key)."""

    def call() -> dict[str, str]:
        session.tags.delete(key)
        return {"deleted": key}

    return attempt(request, call, HOME, lambda exc: _page(request, session, error=exc))
