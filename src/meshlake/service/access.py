"""Access requests to data products: request, review, approve (grants), deny, revoke.

Approving grants SELECT (and DESCRIBE) on the product's table. Inside the owner account the
principal receives the grant directly. Across accounts the consumer account receives it with
the grant option, and one of the consumer account's admins re-grants it to the principal,
creates the resource link ``rl_<database>`` if missing and grants DESCRIBE on it (rule 25).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meshlake.catalog.product_models import AccessRequestRow, ProductRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.events import EventScope
from meshlake.ids import ROOT, PrincipalId
from meshlake.resources import Database, Table
from meshlake.service.catalog import CatalogAPI
from meshlake.service.grants import GrantsAPI
from meshlake.service.products import ProductsAPI
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit

__all__ = ["AccessAPI", "AccessRequest", "link_name"]

ALLOWED = ("SELECT", "DESCRIBE")
STATES = ("PENDING", "APPROVED", "DENIED", "REVOKED")


def link_name(database: str) -> str:
    """The resource link a consumer account reaches a producer database through."""
    return f"rl_{database}"


@dataclass(frozen=True)
class AccessRequest:
    """One access request and its decision."""

    id: int
    product: str
    owner_account: str
    table_account: str
    database: str
    table: str
    requester: str
    for_principal: str
    permissions: tuple[str, ...]
    columns: tuple[str, ...] | None
    reason: str
    state: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = dict(self.__dict__)
        out["permissions"] = list(self.permissions)
        out["columns"] = None if self.columns is None else list(self.columns)
        for k in ("decided_at", "created_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out


def _view(r: AccessRequestRow, p: ProductRow) -> AccessRequest:
    return AccessRequest(
        r.id,
        p.name,
        p.owner_account,
        p.table_account,
        p.database,
        p.table,
        r.requester,
        r.for_principal,
        tuple(r.permissions),
        None if r.columns is None else tuple(r.columns),
        r.reason,
        r.state,
        r.decided_by,
        _aware(r.decided_at),
        _aware(r.created_at),
    )


def _granted(req: AccessRequest) -> builtins.list[str]:
    """What approving ``req`` grants: SELECT and DESCRIBE on the table, or SELECT alone on a
    request limited to some columns (a column-limited grant gives SELECT only, rule 8; it
    makes the table and those columns visible)."""
    if req.columns is not None:
        return ["SELECT"]
    return sorted({"SELECT", "DESCRIBE"} | set(req.permissions))


def _aware(t: Any) -> Any:
    """SQLite returns naive datetimes: they are UTC."""
    return t if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)


class AccessAPI(ServiceBase):
    """Access requests to data products."""

    @in_unit
    def request(
        self,
        product: str,
        permissions: list[str] | str,
        reason: str,
        *,
        columns: list[str] | None = None,
        for_principal: str | None = None,
    ) -> AccessRequest:
        """Ask the product's owner account for access.

        Args:
            product: the product name (it must be visible to the caller).
            permissions: ``SELECT`` and/or ``DESCRIBE``.
            reason: why (shown to the reviewers).
            columns: restrict to these columns (None: every column).
            for_principal: who receives access (default the caller); of the caller's account.

        Raises:
            NotFoundError: unknown product or principal. InvalidInputError: bad permissions,
            columns or principal.
        """
        p = ProductsAPI(self.rt, self.principal).get(product)
        perms = sorted(
            {x.upper() for x in ([permissions] if isinstance(permissions, str) else permissions)}
        )
        if not perms or any(x not in ALLOWED for x in perms):
            raise InvalidInputError(f"request some of {', '.join(ALLOWED)}; got {perms}")
        target = for_principal or self.principal
        pid = PrincipalId.parse(target)
        if pid.is_root or pid.is_account or pid.account != self.account:
            raise InvalidInputError(f"access can be requested for a principal of {self.account}")
        if target not in self.state().principals:
            raise NotFoundError(f"principal {target} not found")
        cols = None
        if columns is not None:
            known = {c.physical_name for c in p.contract.table.columns}
            unknown = [c for c in columns if c not in known]
            if unknown or not columns:
                raise InvalidInputError(f"unknown or no columns: {unknown}")
            cols = sorted(set(columns))
        now = datetime.now(UTC)
        with self.change(
            "request_access",
            f"product:{p.name}",
            [p.owner_account, self.account],
            after={"for": target, "permissions": perms, "columns": cols},
            bump=False,
        ) as (session, record):
            row_p = session.scalars(select(ProductRow).where(ProductRow.name == p.name)).one()
            row = AccessRequestRow(
                product_id=row_p.id,
                requester=self.principal,
                for_principal=target,
                permissions=perms,
                columns=cols,
                reason=reason,
                state="PENDING",
                created_at=now,
            )
            session.add(row)
            session.flush()
            record["after"] = {**record["after"], "request": row.id}
            view = _view(row, row_p)
            self.emit(
                "access.requested",
                f"/products/{p.name}/access",
                f"access_request:{row.id}",
                {**record["after"], "product": p.name, "reason": reason},
                EventScope(accounts=(p.owner_account, self.account), product=p.name),
            )
        return view

    # ------------------------------------------------------------------ review
    def pending(self) -> builtins.list[AccessRequest]:
        """Pending requests to the products of the accounts the caller administers."""
        st = self.state()
        with self.rt.store.read() as session:
            rows = session.execute(
                select(AccessRequestRow, ProductRow)
                .join(ProductRow, ProductRow.id == AccessRequestRow.product_id)
                .where(AccessRequestRow.state == "PENDING")
                .order_by(AccessRequestRow.id)
            ).all()
            return [_view(r, p) for r, p in rows if st.is_admin(self.principal, p.owner_account)]

    def list(
        self, *, product: str | None = None, state: str | None = None
    ) -> builtins.list[AccessRequest]:
        """Requests the caller may see (those it made, those for it, and every request to
        the products of the accounts it administers), newest first.

        Args:
            product: only requests to this product.
            state: only requests in this state (``PENDING``, ``APPROVED``, ``DENIED``,
                ``REVOKED``).

        Raises:
            InvalidInputError: an unknown state.
        """
        if state is not None and state.upper() not in STATES:
            raise InvalidInputError(f"state is one of {', '.join(STATES)}, not {state!r}")
        query = (
            select(AccessRequestRow, ProductRow)
            .join(ProductRow, ProductRow.id == AccessRequestRow.product_id)
            .order_by(AccessRequestRow.id.desc())
        )
        if product is not None:
            query = query.where(ProductRow.name == product)
        if state is not None:
            query = query.where(AccessRequestRow.state == state.upper())
        st = self.state()
        with self.rt.store.read() as session:
            rows = session.execute(query).all()
            return [
                _view(r, p)
                for r, p in rows
                if self.principal in (ROOT, r.requester, r.for_principal)
                or st.is_admin(self.principal, p.owner_account)
            ]

    def get(self, request_id: int) -> AccessRequest:
        """One request (visible to its requester, its principal and the owner's admins)."""
        req = self._load(request_id)
        if self.principal not in (req.requester, req.for_principal) and not self._is_owner(req):
            raise NotFoundError(f"access request {request_id} not found")
        return req

    def _load(self, request_id: int) -> AccessRequest:
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise InvalidInputError(f"an access request id is a number, not {request_id!r}")
        if not 0 < request_id < 2**63:  # no row has such an id (and a store cannot hold it)
            raise NotFoundError(f"access request {request_id} not found")
        with self.rt.store.read() as session:
            row = session.get(AccessRequestRow, request_id)
            if row is None:
                raise NotFoundError(f"access request {request_id} not found")
            product = session.get(ProductRow, row.product_id)
            assert product is not None
            return _view(row, product)

    def _is_owner(self, req: AccessRequest) -> bool:
        return self.state().is_admin(self.principal, req.owner_account)

    def _decide(self, request_id: int, expect: str) -> AccessRequest:
        req = self._load(request_id)
        if not self._is_owner(req):
            raise AccessDeniedError(
                f"only admins of {req.owner_account} decide requests to product {req.product}"
            )
        if req.state != expect:
            raise ConflictError(f"access request {request_id} is {req.state}, not {expect}")
        return req

    def _set_state(self, req: AccessRequest, action: str, state: str, **extra: Any) -> None:
        now = datetime.now(UTC)
        with self.change(
            action,
            f"access_request:{req.id}",
            [req.owner_account, PrincipalId.parse(req.for_principal).account],
            before={"state": req.state},
            after={"state": state, **extra},
            bump=False,
        ) as (session, _):
            row = session.get(AccessRequestRow, req.id)
            assert row is not None
            row.state, row.decided_by, row.decided_at = state, self.principal, now
            self.emit(
                "access.decided",
                f"/products/{req.product}/access",
                f"access_request:{req.id}",
                {
                    "request": req.id,
                    "product": req.product,
                    "for": req.for_principal,
                    "decision": action,
                    "before": req.state,
                    "state": state,
                    **extra,
                },
                EventScope(
                    accounts=(req.owner_account, PrincipalId.parse(req.for_principal).account),
                    product=req.product,
                ),
            )

    def _consumer_admin(self, account: str) -> str:
        admins = sorted(self.state().admins.get(account, frozenset()))
        if not admins:
            raise InvalidInputError(f"account {account} has no admin to accept the share")
        return admins[0]

    def _check_link(self, consumer: str, link: str, req: AccessRequest) -> bool:
        """Whether the consumer's link to the product's database exists already.

        Raises:
            ConflictError: ``link`` names something else in the consumer account.
        """
        st = self.state()
        db_id = st.db_by_name.get((consumer, link))
        if db_id is None:
            return False
        db = st.databases[db_id]
        if not db.is_link or (db.link_account, db.link_database) != (
            req.table_account,
            req.database,
        ):
            raise ConflictError(
                f"account {consumer} has a database {link} that is not a link to "
                f"{req.table_account}.{req.database}: rename it, then approve again"
            )
        return True

    def _resource(self, req: AccessRequest) -> Table:
        return Table(req.database, req.table, columns=req.columns, account=req.table_account)

    @in_unit
    def approve(self, request_id: int) -> AccessRequest:
        """Approve a pending request and grant the access (admins of the owner account).

        Raises:
            NotFoundError, AccessDeniedError, ConflictError (not pending).
        """
        req = self._decide(request_id, "PENDING")
        perms = _granted(req)
        consumer = PrincipalId.parse(req.for_principal).account
        owner_grants = GrantsAPI(self.rt, self.principal)
        if consumer == req.owner_account:
            owner_grants.grant(req.for_principal, self._resource(req), perms)
        else:
            # Everything that can be checked is checked before the first grant is written:
            # the steps below commit one by one (each re-grant needs the previous one).
            admin = self._consumer_admin(consumer)
            link = link_name(req.database)
            link_exists = self._check_link(consumer, link, req)
            owner_grants.grant(consumer, self._resource(req), perms, grantable=perms)
            c_grants = GrantsAPI(self.rt, admin)
            c_grants.grant(req.for_principal, self._resource(req), perms)
            if not link_exists:
                CatalogAPI(self.rt, admin).create_resource_link(
                    link, account=req.table_account, database=req.database
                )
            c_grants.grant(req.for_principal, Database(link, consumer), ["DESCRIBE"])
        self._set_state(req, "approve_access", "APPROVED", permissions=perms)
        return self._load(request_id)

    @in_unit
    def deny(self, request_id: int, reason: str = "") -> AccessRequest:
        """Deny a pending request (admins of the owner account)."""
        req = self._decide(request_id, "PENDING")
        self._set_state(req, "deny_access", "DENIED", reason=reason)
        return self._load(request_id)

    @in_unit
    def revoke(self, request_id: int) -> AccessRequest:
        """Revoke an approved request's grants; the principal's access ends at once."""
        req = self._decide(request_id, "APPROVED")
        perms = _granted(req)
        consumer = PrincipalId.parse(req.for_principal).account
        owner_grants = GrantsAPI(self.rt, self.principal)
        if consumer == req.owner_account:
            owner_grants.revoke(req.for_principal, self._resource(req), perms)
        else:
            admin = self._consumer_admin(consumer)
            c_grants = GrantsAPI(self.rt, admin)
            c_grants.revoke(req.for_principal, self._resource(req), perms)
            if not self._other_approved(req, same_principal=True):
                link = Database(link_name(req.database), consumer)
                c_grants.revoke(req.for_principal, link, ["DESCRIBE"])
            if not self._other_approved(req, same_principal=False):
                owner_grants.revoke(consumer, self._resource(req), perms)
        self._set_state(req, "revoke_access", "REVOKED")
        return self._load(request_id)

    def _other_approved(self, req: AccessRequest, *, same_principal: bool) -> bool:
        """Another approved request still relies on the link (same principal and database)
        or on the account grant (same consumer account and product)."""
        consumer = PrincipalId.parse(req.for_principal).account
        with self.rt.store.read() as session:
            rows = session.execute(
                select(AccessRequestRow, ProductRow)
                .join(ProductRow, ProductRow.id == AccessRequestRow.product_id)
                .where(AccessRequestRow.state == "APPROVED", AccessRequestRow.id != req.id)
            ).all()
        if same_principal:
            return any(
                p.owner_account == req.owner_account
                and p.database == req.database
                and r.for_principal == req.for_principal
                for r, p in rows
            )
        return any(
            p.name == req.product and PrincipalId.parse(r.for_principal).account == consumer
            for r, p in rows
        )
