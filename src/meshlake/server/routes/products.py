"""Data products (list, get, versions, search, publish) and access requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from meshlake.errors import InvalidInputError
from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import DEFAULT, Limit, Offset
from meshlake.server.wire import page

__all__ = ["router"]

router = APIRouter(prefix="/v1", route_class=SessionRoute)


class PublishBody(BaseModel):
    contract: str = Field(description="The ODCS contract's YAML text (never a path).")
    database: str
    table: str | None = None
    account: str | None = None


class RequestBody(BaseModel):
    product: str
    permissions: list[str]
    reason: str
    columns: list[str] | None = None
    for_principal: str | None = None


class DenyBody(BaseModel):
    reason: str = ""


@router.get("/products", tags=["products"])
def list_products(
    s: CurrentSession, scrub: Scrub, limit: Limit = DEFAULT, offset: Offset = 0
) -> dict[str, Any]:
    """Published products (listings are visible to every principal)."""
    return page(s.products.list(), limit, offset, scrub)


@router.get("/products/search", tags=["products"])
def search_products(
    s: CurrentSession,
    scrub: Scrub,
    q: Annotated[str, Query(description="Search text.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Full-text search over the visible products."""
    return {"items": scrub.body(s.products.search(q, limit=limit))}


@router.post("/products", tags=["products"], status_code=201)
def publish_product(body: PublishBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Publish (or re-publish) a product from its contract's YAML text."""
    if "\n" not in body.contract.strip():
        # one line could name a file on the server: the server reads no client-named files
        raise InvalidInputError("send the contract's YAML text, not a file name")
    return scrub.body(
        s.products.publish(
            body.contract, database=body.database, table=body.table, account=body.account
        )
    )


@router.get("/products/{name}", tags=["products"])
def get_product(name: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One product with its contract summary."""
    return scrub.body(s.products.get(name))


@router.get("/products/{name}/versions", tags=["products"])
def product_versions(name: str, s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """Published versions of a product, oldest first."""
    return {"items": scrub.body(s.products.versions(name))}


# ---------------------------------------------------------------- access requests
@router.post("/access-requests", tags=["access"], status_code=201)
def request_access(body: RequestBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Ask a product's owner account for access."""
    return scrub.body(
        s.access.request(
            body.product,
            body.permissions,
            body.reason,
            columns=body.columns,
            for_principal=body.for_principal,
        )
    )


@router.get("/access-requests", tags=["access"])
def pending_requests(
    s: CurrentSession, scrub: Scrub, limit: Limit = DEFAULT, offset: Offset = 0
) -> dict[str, Any]:
    """Pending requests the caller may decide or made."""
    return page(s.access.pending(), limit, offset, scrub)


@router.get("/access-requests/{request_id}", tags=["access"])
def get_request(request_id: int, s: CurrentSession, scrub: Scrub) -> Any:
    """One access request."""
    return scrub.body(s.access.get(request_id))


@router.post("/access-requests/{request_id}/approve", tags=["access"])
def approve_request(request_id: int, s: CurrentSession, scrub: Scrub) -> Any:
    """Approve: grants, re-grant and link in one unit of work."""
    return scrub.body(s.access.approve(request_id))


@router.post("/access-requests/{request_id}/deny", tags=["access"])
def deny_request(request_id: int, body: DenyBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Deny a pending request."""
    return scrub.body(s.access.deny(request_id, body.reason))


@router.post("/access-requests/{request_id}/revoke", tags=["access"])
def revoke_request(request_id: int, s: CurrentSession, scrub: Scrub) -> Any:
    """Revoke an approved request's grants."""
    return scrub.body(s.access.revoke(request_id))
