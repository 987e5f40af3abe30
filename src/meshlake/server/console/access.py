"""Access request pages: request access to a product, review, approve, deny, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, done, render

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


@router.get("/access")
def requests(request: Request, session: Signed, state: str | None = None) -> Response:
    """Requests to decide (admins of owner accounts) and every request the principal may see."""
    data = {
        "state": state or "",
        "pending": session.access.pending(),
        "requests": session.access.list(state=state or None),
    }
    return render(request, "access.html", data, session)


@router.get("/access/new")
def new_request(request: Request, session: Signed, product: str) -> Response:
    """The request form of one product (its contract's columns to choose from)."""
    p = session.products.get(product)
    columns = [c.physical_name for t in p.contract.tables for c in t.columns]
    principals = [x.id for x in session.principals.list(session.account)]
    data = {
        "product": p.name,
        "owner_account": p.owner_account,
        "columns": columns,
        "principals": principals,
    }
    return render(request, "access_new.html", data, session)


@router.post("/access")
def create_request(
    request: Request,
    session: Acting,
    product: Annotated[str, Form()],
    reason: Annotated[str, Form()],
    permissions: Annotated[list[str], Form()],
    for_principal: Annotated[str, Form()] = "",
    columns: Annotated[list[str] | None, Form()] = None,
    all_columns: Annotated[str, Form()] = "",
) -> Response:
    """Ask the product's owner account for access (for the caller or a principal of its
    account; every column, or the chosen ones)."""
    req = session.access.request(
        product,
        permissions,
        reason,
        columns=None if all_columns or not columns else columns,
        for_principal=for_principal.strip() or None,
    )
    return done(request, f"/console/access/{req.id}", req)


@router.get("/access/{request_id}")
def one_request(request: Request, session: Signed, request_id: int) -> Response:
    """One request with its decision; the owner's admins get the buttons."""
    req = session.access.get(request_id)
    owner_admin = session.principal in session.accounts.get(req.owner_account).admins
    data = {
        "request": req,
        "may_decide": req.state == "PENDING" and owner_admin,
        "may_revoke": req.state == "APPROVED" and owner_admin,
    }
    return render(request, "access_one.html", data, session)


@router.post("/access/{request_id}/approve")
def approve(request: Request, session: Acting, request_id: int) -> Response:
    """Approve: the grants, the consumer admin's re-grant and the resource link."""
    return done(request, f"/console/access/{request_id}", session.access.approve(request_id))


@router.post("/access/{request_id}/deny")
def deny(
    request: Request, session: Acting, request_id: int, reason: Annotated[str, Form()] = ""
) -> Response:
    """Deny a pending request."""
    return done(request, f"/console/access/{request_id}", session.access.deny(request_id, reason))


@router.post("/access/{request_id}/revoke")
def revoke(request: Request, session: Acting, request_id: int) -> Response:
    """Revoke an approved request's grants."""
    return done(request, f"/console/access/{request_id}", session.access.revoke(request_id))
