"""Append-only audit log with a hash chain (rules 27 and 28).

Each event stores the hash of the previous event (``prev_hash``) and its own ``hash`` over a
canonical JSON of its fields plus ``prev_hash``. Both columns are unique, so two writers can
never fork the chain; :meth:`AuditLog.verify` recomputes the chain and reports the first
event that was edited, deleted or inserted out of order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from meshlake.catalog.models import AuditRow, MetaRow
from meshlake.catalog.store import CatalogStore

__all__ = ["GENESIS", "AuditEvent", "AuditLog", "VerifyReport"]

GENESIS = "0" * 64
HEAD_KEY = "audit_head"

_META = cast(Table, MetaRow.__table__)
_HEAD = select(_META.c.value).where(_META.c.key == HEAD_KEY)
_HEAD_LOCKED = _HEAD.with_for_update()
_INSERT_EVENT = insert(cast(Table, AuditRow.__table__))
_INSERT_HEAD = insert(_META)
_UPDATE_HEAD = update(_META).where(_META.c.key == HEAD_KEY).values(value=bindparam("head"))


@dataclass(frozen=True)
class AuditEvent:
    """One audit event as readers see it."""

    seq: int
    time: datetime
    category: str
    principal: str
    action: str
    resource: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON form: the rule 27/28 fields at the top level."""
        out = {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "category": self.category,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
        for k, v in self.data.items():
            out.setdefault(k, v)
        return out


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :meth:`AuditLog.verify`."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


def _digest(
    time: datetime,
    category: str,
    principal: str,
    action: str,
    resource: str,
    accounts: Sequence[str],
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    payload = json.dumps(
        [
            time.astimezone(UTC).isoformat(timespec="microseconds"),
            category,
            principal,
            action,
            resource,
            sorted(accounts),
            data,
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class AuditLog:
    """Writes and reads the audit log of one store."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    def append(
        self,
        session: Session,
        *,
        category: str,
        principal: str,
        action: str,
        resource: str,
        accounts: Iterable[str],
        data: dict[str, Any] | None = None,
    ) -> str:
        """Append one event inside the caller's transaction; returns its hash.

        Args:
            session: the open store transaction the change itself is written in.
            category: ``change`` (rule 28) or ``read`` (rule 27).
            principal: the actor.
            action: what happened (``grant``, ``create_table``, ``SELECT`` ...).
            resource: a readable name of the resource.
            accounts: the accounts whose admins may read the event.
            data: the event's other fields (``before``/``after``, columns, rows ...).
        """
        # Prebuilt Core statements on the session's connection: this runs inside every
        # query's bookkeeping transaction, where building statements and the ORM's unit of
        # work would be most of the cost.
        conn = session.connection()
        head = conn.execute(_HEAD if self.store.is_sqlite else _HEAD_LOCKED).scalar_one_or_none()
        prev = head if head is not None else GENESIS
        now = datetime.now(UTC)
        accts = sorted(set(accounts))
        payload = json.loads(json.dumps(data or {}, default=str))
        digest = _digest(now, category, principal, action, resource, accts, payload, prev)
        conn.execute(
            _INSERT_EVENT,
            {
                "time": now,
                "category": category,
                "principal": principal,
                "action": action,
                "resource": resource,
                "accounts": accts,
                "data": payload,
                "prev_hash": prev,
                "hash": digest,
            },
        )
        if head is None:
            conn.execute(_INSERT_HEAD, {"key": HEAD_KEY, "value": digest})
        else:
            conn.execute(_UPDATE_HEAD, {"head": digest})
        return digest

    def events(
        self,
        *,
        viewer: str | None = None,
        admin_of: Iterable[str] = (),
        category: str | None = None,
        limit: int | None = None,
        after_seq: int = 0,
    ) -> list[AuditEvent]:
        """Events visible to ``viewer``: its own, plus those of accounts it administers.

        ``viewer=None`` returns every event (the mesh root).
        """
        admin_accounts = set(admin_of)
        stmt = select(AuditRow).where(AuditRow.seq > after_seq).order_by(AuditRow.seq)
        if category:
            stmt = stmt.where(AuditRow.category == category)
        out: list[AuditEvent] = []
        with self.store.read() as session:
            for row in session.scalars(stmt):
                if (
                    viewer is not None
                    and row.principal != viewer
                    and not (admin_accounts & set(row.accounts or ()))
                ):
                    continue
                out.append(
                    AuditEvent(
                        row.seq,
                        row.time,
                        row.category,
                        row.principal,
                        row.action,
                        row.resource,
                        dict(row.data or {}),
                        row.prev_hash,
                        row.hash,
                    )
                )
                if limit is not None and len(out) >= limit:
                    break
        return out

    def verify(self) -> VerifyReport:
        """Recompute the chain; report the first event that does not fit."""
        prev = GENESIS
        count = 0
        with self.store.read() as session:
            for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)):
                count += 1
                if row.prev_hash != prev:
                    return VerifyReport(
                        False, count, row.seq, "an event before it was deleted or reordered"
                    )
                expected = _digest(
                    row.time,
                    row.category,
                    row.principal,
                    row.action,
                    row.resource,
                    row.accounts or [],
                    dict(row.data or {}),
                    row.prev_hash,
                )
                if expected != row.hash:
                    return VerifyReport(False, count, row.seq, "the event was edited")
                prev = row.hash
            head = session.get(MetaRow, HEAD_KEY)
        if head is not None and head.value != prev:
            return VerifyReport(False, count, None, "the newest events were deleted")
        return VerifyReport(True, count)
