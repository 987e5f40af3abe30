"""Who am I, accounts and principals (changes: root), tokens, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import DEFAULT, STORE_INT_MAX, Limit, Offset
from meshlake.server.wire import MAX_LIMIT, audit_event, page

__all__ = ["router"]

router = APIRouter(prefix="/v1", route_class=SessionRoute)


@router.get("/session", tags=["session"])
async def whoami(s: CurrentSession) -> dict[str, Any]:  # async: nothing here blocks
    """The principal the bearer token stands for."""
    return {"principal": s.principal, "account": s.account}


# ---------------------------------------------------------------- accounts
class AccountBody(BaseModel):
    name: str
    description: str = ""


class AdminsBody(BaseModel):
    admins: list[str]


class PrincipalBody(BaseModel):
    principal: str
    kind: Literal["user", "role"] = "role"


@router.get("/accounts", tags=["accounts"])
def list_accounts(
    s: CurrentSession, scrub: Scrub, limit: Limit = DEFAULT, offset: Offset = 0
) -> dict[str, Any]:
    """Every account with its admins."""
    return page(s.accounts.list(), limit, offset, scrub)


@router.post("/accounts", tags=["accounts"], status_code=201)
def create_account(body: AccountBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create an account (root only)."""
    return scrub.body(s.accounts.create(body.name, body.description))


@router.get("/accounts/{name}", tags=["accounts"])
def get_account(name: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One account."""
    return scrub.body(s.accounts.get(name))


@router.put("/accounts/{name}/admins", tags=["accounts"])
def set_admins(name: str, body: AdminsBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Replace an account's admins (root only)."""
    return scrub.body(s.accounts.set_admins(name, body.admins))


@router.get("/principals", tags=["accounts"])
def list_principals(
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Principals, optionally of one account."""
    return page(s.principals.list(account), limit, offset, scrub)


@router.post("/principals", tags=["accounts"], status_code=201)
def create_principal(body: PrincipalBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a principal ``account/name`` (root only)."""
    return scrub.body(s.principals.create(body.principal, body.kind))


@router.get("/principals/{account}/{name}", tags=["accounts"])
def get_principal(account: str, name: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One principal."""
    return scrub.body(s.principals.get(f"{account}/{name}"))


# ---------------------------------------------------------------- tokens
class TokenBody(BaseModel):
    for_principal: str
    ttl: str | int | None = Field(None, description="30d, 12h, 15m, 90s or seconds.")
    description: str = ""


@router.post("/tokens", tags=["tokens"], status_code=201)
def create_token(body: TokenBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a token (root; admins for their account's principals); shown this once."""
    return scrub.body(s.tokens.create(body.for_principal, body.ttl, description=body.description))


@router.get("/tokens", tags=["tokens"])
def list_tokens(
    s: CurrentSession,
    scrub: Scrub,
    principal: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Tokens the caller may manage (never their texts)."""
    return page(s.tokens.list(principal), limit, offset, scrub)


@router.delete("/tokens/{token_id}", tags=["tokens"])
def revoke_token(token_id: str, s: CurrentSession, scrub: Scrub) -> Any:
    """Revoke a token now."""
    return scrub.body(s.tokens.revoke(token_id))


# ---------------------------------------------------------------- audit
@router.get("/audit", tags=["audit"])
def list_audit(
    s: CurrentSession,
    scrub: Scrub,
    category: Literal["change", "read"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT,
    after_seq: Annotated[
        int | None, Query(ge=0, le=STORE_INT_MAX, description="Page forward from here.")
    ] = None,
    before_seq: Annotated[
        int | None, Query(ge=0, le=STORE_INT_MAX, description="Page back from here.")
    ] = None,
) -> dict[str, Any]:
    """Audit events the caller may see, oldest first; ``next_cursor`` is the ``after_seq``
    of the next page when paging forward."""
    events = s.audit(category=category, limit=limit, after_seq=after_seq, before_seq=before_seq)
    forward = after_seq is not None and before_seq is None
    nxt = events[-1].seq if forward and len(events) == limit else None
    return {"items": scrub.body([audit_event(e) for e in events]), "next_cursor": nxt}


@router.post("/audit/checkpoints", tags=["audit"])
def checkpoint_audit(s: CurrentSession, scrub: Scrub) -> Any:
    """Sign the audit chain's head into the server's digest folder now (admins): the new
    checkpoint, the newest one when the head is already anchored, ``null`` for an empty log."""
    checkpoint = s.checkpoint_audit()
    return None if checkpoint is None else scrub.body(checkpoint)


@router.post("/audit/verify", tags=["audit"])
def verify_audit(s: CurrentSession, scrub: Scrub) -> Any:
    """Check the hash chain against the newest signed checkpoint (admins)."""
    return scrub.body(s.verify_audit())
