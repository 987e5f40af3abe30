"""Grants, revokes, permission listings and decisions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from meshlake.errors import InvalidInputError
from meshlake.resources import resource_from_dict
from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import DEFAULT, Limit, Offset
from meshlake.server.wire import page

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["permissions"], route_class=SessionRoute)


class GrantBody(BaseModel):
    grantee: str
    resource: dict[str, Any]
    permissions: list[str]
    grantable: list[str] = []


class DecideBody(BaseModel):
    action: str
    resource: dict[str, Any]
    principal: str | None = None


@router.post("/grants", status_code=201)
def grant(body: GrantBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Grant permissions (``grantable`` ones with the grant option) on a resource."""
    return scrub.body(
        s.grant(body.grantee, resource_from_dict(body.resource), body.permissions, body.grantable)
    )


@router.post("/grants/revoke", status_code=204)
def revoke(body: GrantBody, s: CurrentSession) -> None:
    """Revoke permissions and, separately, grant options."""
    s.revoke(body.grantee, resource_from_dict(body.resource), body.permissions, body.grantable)


@router.get("/grants")
def list_permissions(
    s: CurrentSession,
    scrub: Scrub,
    principal: str | None = None,
    resource: Annotated[
        str | None, Query(description='A resource as JSON, e.g. {"kind": "database", ...}.')
    ] = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Explicit grants the caller may see (rule 26)."""
    res = None
    if resource is not None:
        try:
            res = resource_from_dict(json.loads(resource))
        except ValueError as exc:
            raise InvalidInputError(f"resource is not JSON: {exc}") from exc
    return page(s.list_permissions(principal, res), limit, offset, scrub)


@router.post("/decide")
def decide(body: DecideBody, s: CurrentSession, scrub: Scrub) -> Any:
    """The decision for the caller (or, for admins and root, another principal)."""
    return scrub.body(s.decide(body.action, resource_from_dict(body.resource), body.principal))


@router.post("/check")
def check(body: DecideBody, s: CurrentSession) -> dict[str, bool]:
    """Whether the caller may (``principal`` is ignored: ask ``/decide`` for others)."""
    return {"allowed": s.check(body.action, resource_from_dict(body.resource))}


@router.post("/explain")
def explain(body: DecideBody, s: CurrentSession, scrub: Scrub) -> Any:
    """The decision path for one (principal, action, resource)."""
    return scrub.body(s.explain(body.action, resource_from_dict(body.resource), body.principal))
