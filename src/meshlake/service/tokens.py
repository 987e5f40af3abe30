"""Bearer tokens of the server: one principal each, shown once, stored as hashes.

A token reads ``mlk_<id>_<secret>``: ``id`` is the primary key of its store row (so the
server finds it in one indexed lookup) and the row keeps only the SHA-256 of the whole text.
Tokens expire (``ttl``, default 30 days) and can be revoked; the server checks both on every
request, so an expired or revoked token is refused at once.

Who may do what: the mesh root for any principal (``root`` included), an account's admins for
that account's principals. Creating and revoking are audited (never the token itself).

>>> parse_ttl("30d"), parse_ttl("12h"), parse_ttl(90)
(datetime.timedelta(days=30), datetime.timedelta(seconds=43200), datetime.timedelta(seconds=90))
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from meshlake.catalog.token_models import TokenRow
from meshlake.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
)
from meshlake.ids import ROOT, PrincipalId
from meshlake.service.runtime import MeshRuntime, ServiceBase
from meshlake.service.unit import in_unit

__all__ = [
    "DEFAULT_TTL",
    "TOKEN_PREFIX",
    "NewToken",
    "TokenInfo",
    "TokensAPI",
    "authenticate",
    "parse_ttl",
    "token_id",
]

TOKEN_PREFIX = "mlk"
DEFAULT_TTL = timedelta(days=30)
MAX_TTL = timedelta(days=366)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TTL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{20,}})$")


def parse_ttl(ttl: str | int | float | timedelta | None) -> timedelta:
    """A time to live as a duration: ``30d``, ``12h``, ``15m``, ``90s``, ``2w``, seconds or a
    :class:`~datetime.timedelta` (``None``: :data:`DEFAULT_TTL`).

    Raises:
        InvalidInputError: not a positive duration of at most a year.
    """
    if ttl is None:
        return DEFAULT_TTL
    if isinstance(ttl, timedelta):
        value = ttl
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        value = timedelta(seconds=ttl)
    elif isinstance(ttl, str) and (m := _TTL.match(ttl)):
        value = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2) or "s"])
    else:
        raise InvalidInputError(f"ttl {ttl!r} is not a duration: write e.g. 30d, 12h, 15m or 90s")
    if value <= timedelta(0) or value > MAX_TTL:
        raise InvalidInputError(f"ttl must be positive and at most {MAX_TTL.days} days")
    return value


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(t: datetime) -> datetime:
    """SQLite returns naive datetimes: they are UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: everything but the token text."""

    id: str
    principal: str
    description: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and self.expires_at > datetime.now(UTC)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        for k in ("created_at", "expires_at", "revoked_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        out["active"] = self.active
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenInfo:
        """The inverse of :meth:`to_dict`."""

        def when(v: Any) -> datetime | None:
            return None if v is None else datetime.fromisoformat(v)

        return cls(
            id=data["id"],
            principal=data["principal"],
            description=data.get("description", ""),
            created_by=data["created_by"],
            created_at=when(data["created_at"]) or datetime.now(UTC),
            expires_at=when(data["expires_at"]) or datetime.now(UTC),
            revoked_at=when(data.get("revoked_at")),
            revoked_by=data.get("revoked_by"),
        )


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is shown this once and never stored."""

    token: str
    info: TokenInfo

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"token": self.token, **self.info.to_dict()}


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        principal=row.principal,
        description=row.description,
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at),
        revoked_at=None if row.revoked_at is None else _aware(row.revoked_at),
        revoked_by=row.revoked_by,
    )


_LOOKUP = (
    f"SELECT token_hash, principal, expires_at, revoked_at FROM {TokenRow.__tablename__} "
    "WHERE id = ?"
)


def _stored_time(value: datetime | str) -> datetime:
    """A time as the store's driver returns it to a plain statement (SQLite: the text
    SQLAlchemy wrote, UTC), as an aware datetime."""
    return _aware(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _refused() -> AuthenticationError:
    """One message for every refusal, so a caller learns nothing about which tokens exist."""
    return AuthenticationError("the bearer token is not valid (unknown, expired or revoked)")


def token_id(token: str) -> str:
    """The id part of a token ``mlk_<id>_<secret>`` (no store read).

    Raises:
        AuthenticationError: not of that form (the message :func:`authenticate` gives).
    """
    m = _TOKEN.match(token.strip())
    if m is None:
        raise _refused()
    return m.group(1)


def authenticate(rt: MeshRuntime, token: str) -> str:
    """The principal a bearer token stands for (constant-time compare).

    The token's row is read on every call, with one indexed statement on the store's probe
    connection (:meth:`~meshlake.catalog.store.CatalogStore.probe`: committed data, no
    session), so a token revoked or expired a moment ago, by any process, is refused at
    once. Nothing is cached.

    Raises:
        AuthenticationError: malformed, unknown, revoked or expired token (one message for
            all, so a caller learns nothing about which tokens exist).
    """
    row = rt.store.probe(_LOOKUP, (token_id(token),))
    if row is None or not hmac.compare_digest(str(row[0]), _hash(token.strip())):
        raise _refused()
    _, principal, expires_at, revoked_at = row
    if revoked_at is not None or _stored_time(expires_at) <= datetime.now(UTC):
        raise _refused()
    if principal != ROOT and principal not in rt.engine.state().principals:
        raise _refused()
    return str(principal)


class TokensAPI(ServiceBase):
    """Create, list and revoke bearer tokens (root: any; admins: their account's)."""

    def _may_manage(self, principal: str, what: str) -> None:
        if self.principal == ROOT:
            return
        if principal == ROOT:
            raise AccessDeniedError(f"only the mesh root may {what} tokens of root")
        if not self.state().is_admin(self.principal, principal.split("/", 1)[0]):
            raise AccessDeniedError(
                f"only admins of account {principal.split('/', 1)[0]} (or the mesh root) may "
                f"{what} tokens of {principal}"
            )

    @in_unit
    def create(
        self,
        for_principal: str,
        ttl: str | int | float | timedelta | None = None,
        *,
        description: str = "",
    ) -> NewToken:
        """Create a token for ``for_principal`` (``account/name`` or ``root``).

        Args:
            for_principal: whom the token stands for.
            ttl: time to live (``30d``, ``12h``, seconds ...); default 30 days, at most a year.
            description: what the token is for (shown in listings).

        Returns:
            The token text (shown this once) and its listing.

        Raises:
            InvalidInputError: bad principal or ttl. NotFoundError: unknown principal.
            AccessDeniedError: neither root nor an admin of the principal's account.
        """
        pid = PrincipalId.parse(for_principal)
        if pid.is_account:
            raise InvalidInputError(
                f"a token stands for one principal: write 'account/name', not {for_principal!r}"
            )
        who = str(pid)
        if not pid.is_root and who not in self.state().principals:
            raise NotFoundError(f"principal {who} not found")
        life = parse_ttl(ttl)
        self._may_manage(who, "create")
        token_id = secrets.token_hex(8)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        row = TokenRow(
            id=token_id,
            principal=who,
            account=pid.account,
            token_hash=_hash(token),
            description=description,
            created_by=self.principal,
            created_at=now,
            expires_at=now + life,
        )
        after = {"id": token_id, "principal": who, "expires_at": row.expires_at.isoformat()}
        with self.change(
            "create_token", f"token:{token_id}", [pid.account], after=after, bump=False
        ) as (session, _):
            session.add(row)
        return NewToken(token, _info(row))

    def list(self, principal: str | None = None) -> builtins.list[TokenInfo]:
        """Tokens the caller may manage (root: all; admins: their accounts'), newest first.

        Args:
            principal: only this principal's tokens.
        """
        st = self.state()
        with self.rt.store.read() as session:
            stmt = select(TokenRow).order_by(TokenRow.created_at.desc(), TokenRow.id)
            if principal:
                stmt = stmt.where(TokenRow.principal == principal)
            if self.principal != ROOT:
                mine = sorted(a for a, ps in st.admins.items() if self.principal in ps)
                stmt = stmt.where(TokenRow.account.in_(mine), TokenRow.principal != ROOT)
            return [_info(r) for r in session.scalars(stmt)]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token now (idempotent: revoking a revoked token changes nothing).

        Raises:
            NotFoundError: no such token among those the caller may manage.
        """
        with self.unit(bump=False) as unit:
            row = unit.session.get(TokenRow, token_id)
            try:
                if row is None:
                    raise NotFoundError(f"token {token_id} not found")
                self._may_manage(row.principal, "revoke")
            except AccessDeniedError as exc:  # rule 0: what one may not manage is not there
                raise NotFoundError(f"token {token_id} not found") from exc
            if row.revoked_at is not None:
                return _info(row)
            with self.change(
                "revoke_token",
                f"token:{token_id}",
                [row.account],
                after={"id": token_id, "principal": row.principal},
                bump=False,
            ):
                row.revoked_at = datetime.now(UTC)
                row.revoked_by = self.principal
            return _info(row)
