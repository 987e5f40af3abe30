"""Accounts and principals (rule 1): created by the mesh root, visible to every principal."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select

from meshlake.catalog.models import AccountAdminRow, AccountRow, PrincipalRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.ids import ROOT, PrincipalId, check_name
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit

__all__ = ["AccountInfo", "AccountsAPI", "PrincipalInfo", "PrincipalsAPI"]

PRINCIPAL_KINDS = ("user", "role")


@dataclass(frozen=True)
class AccountInfo:
    """An account and its admins."""

    name: str
    admins: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class PrincipalInfo:
    """A principal."""

    id: str
    account: str
    name: str
    kind: str


class _RootOnly(ServiceBase):
    def _require_root(self, what: str) -> None:
        if self.principal != ROOT:
            raise AccessDeniedError(f"only the mesh root may {what}: run it as the root session")


class AccountsAPI(_RootOnly):
    """Accounts of the mesh."""

    @in_unit
    def create(self, name: str, description: str = "") -> AccountInfo:
        """Create an account (root only).

        Raises:
            InvalidInputError: bad name. AccessDeniedError: not root. ConflictError: exists.
        """
        check_name("account", name)
        if name == ROOT:
            raise InvalidInputError(f"{ROOT!r} is reserved for the mesh root")
        self._require_root("create accounts")
        if name in self.state().accounts:
            raise ConflictError(f"account {name} already exists")
        with self.change("create_account", f"account:{name}", [name], after={"name": name}) as (
            session,
            _,
        ):
            session.add(
                AccountRow(name=name, description=description, created_at=datetime.now(UTC))
            )
        return AccountInfo(name, (), description)

    def list(self) -> list[AccountInfo]:
        """Every account with its admins (every principal may list them)."""
        st = self.state()
        return [AccountInfo(a, tuple(sorted(st.admins.get(a, ())))) for a in sorted(st.accounts)]

    def get(self, name: str) -> AccountInfo:
        """One account. Raises NotFoundError."""
        st = self.state()
        if name not in st.accounts:
            raise NotFoundError(f"account {name} not found")
        return AccountInfo(name, tuple(sorted(st.admins.get(name, ()))))

    @in_unit
    def set_admins(self, name: str, admins: builtins.list[str]) -> AccountInfo:
        """Replace an account's admins (root only); each must be a principal of the account."""
        st = self.state()
        if name not in st.accounts:
            raise NotFoundError(f"account {name} not found")
        for p in admins:
            if p not in st.principals:
                raise NotFoundError(f"principal {p} not found")
            if PrincipalId.parse(p).account != name:
                raise InvalidInputError(f"{p} is not a principal of account {name}")
        self._require_root("set account admins")
        before = sorted(st.admins.get(name, ()))
        with self.change(
            "set_admins", f"account:{name}", [name], before=before, after=sorted(set(admins))
        ) as (session, _):
            session.execute(delete(AccountAdminRow).where(AccountAdminRow.account == name))
            for p in sorted(set(admins)):
                session.add(AccountAdminRow(account=name, principal=p))
        return AccountInfo(name, tuple(sorted(set(admins))))


class PrincipalsAPI(_RootOnly):
    """Users and roles."""

    @in_unit
    def create(self, principal: str, kind: str = "role") -> PrincipalInfo:
        """Create ``account/name`` (root only).

        Raises:
            InvalidInputError: malformed id or kind. NotFoundError: unknown account.
            ConflictError: already exists.
        """
        pid = PrincipalId.parse(principal)
        if pid.is_account or pid.is_root:
            raise InvalidInputError(f"write a principal as 'account/name', not {principal!r}")
        if kind not in PRINCIPAL_KINDS:
            raise InvalidInputError(f"principal kind must be one of {PRINCIPAL_KINDS}")
        st = self.state()
        if pid.account not in st.accounts:
            raise NotFoundError(f"account {pid.account} not found: create it first")
        self._require_root("create principals")
        if str(pid) in st.principals:
            raise ConflictError(f"principal {pid} already exists")
        with self.change(
            "create_principal",
            f"principal:{pid}",
            [pid.account],
            after={"id": str(pid), "kind": kind},
        ) as (session, _):
            session.add(
                PrincipalRow(
                    id=str(pid),
                    account=pid.account,
                    name=pid.name,
                    kind=kind,
                    created_at=datetime.now(UTC),
                )
            )
        return PrincipalInfo(str(pid), pid.account, pid.name, kind)

    def list(self, account: str | None = None) -> list[PrincipalInfo]:
        """Principals, optionally of one account."""
        with self.rt.store.read() as session:
            stmt = select(PrincipalRow).order_by(PrincipalRow.id)
            if account:
                stmt = stmt.where(PrincipalRow.account == account)
            return [PrincipalInfo(r.id, r.account, r.name, r.kind) for r in session.scalars(stmt)]

    def get(self, principal: str) -> PrincipalInfo:
        """One principal. Raises NotFoundError."""
        with self.rt.store.read() as session:
            row = session.get(PrincipalRow, principal)
        if row is None:
            raise NotFoundError(f"principal {principal} not found")
        return PrincipalInfo(row.id, row.account, row.name, row.kind)
