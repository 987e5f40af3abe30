"""Append-only audit log with a hash chain (rules 27 and 28).

Each event stores the hash of the previous event (``prev_hash``) and its own ``hash`` over a
canonical JSON of its fields plus ``prev_hash``. Both columns are unique, so two writers can
never fork the chain; :meth:`AuditLog.verify` recomputes the chain and reports the first
event that was edited, deleted or inserted out of order. Signed checkpoints of the head
(``audit/anchor.py``), written every ``every_events`` events or ``every_seconds`` seconds
after the transaction that crossed the mark commits, make a truncated or rehashed tail
detectable too.
"""

from __future__ import annotations

import json
import logging
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, func, insert, select, update
from sqlalchemy.orm import Session

from meshlake.audit.anchor import AuditAnchor, Checkpoint
from meshlake.audit.verify import GENESIS, HEAD_KEY, VerifyReport, event_hash, verify_log
from meshlake.catalog.audit_models import AuditCheckpointRow
from meshlake.catalog.models import AuditRow, MetaRow
from meshlake.catalog.store import CatalogStore
from meshlake.errors import AuditError

__all__ = ["GENESIS", "AuditEvent", "AuditLog", "VerifyReport"]

log = logging.getLogger(__name__)

_META = cast(Table, MetaRow.__table__)
_HEAD = select(_META.c.value).where(_META.c.key == HEAD_KEY)
_HEAD_LOCKED = _HEAD.with_for_update()
_INSERT_EVENT = insert(cast(Table, AuditRow.__table__))
_INSERT_HEAD = insert(_META)
_UPDATE_HEAD = update(_META).where(_META.c.key == HEAD_KEY).values(value=bindparam("head"))
_CHECKPOINT_DUE = "meshlake.audit.checkpoint_due"
_digest = event_hash  # the chain's hash function (kept under its old name)


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


class AuditLog:
    """Writes and reads the audit log of one store.

    Args:
        store: the catalog store holding the events.
        anchor: where signed checkpoints go (``None``: the hash chain alone).
    """

    def __init__(self, store: CatalogStore, anchor: AuditAnchor | None = None) -> None:
        self.store = store
        self.anchor = anchor
        # (seq, wall-clock time) of the newest checkpoint this process knows of; None until
        # the first append reads it from the digest folder
        self._anchored: tuple[int | None, float] | None = None

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

        When a checkpoint is due (``anchor.every_events`` events or ``anchor.every_seconds``
        since the last one), one is written right after the caller's transaction commits.

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
        digest = event_hash(now, category, principal, action, resource, accts, payload, prev)
        inserted = conn.execute(
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
        if self.anchor is not None and _CHECKPOINT_DUE not in session.info:
            pk = inserted.inserted_primary_key
            seq = int(pk[0]) if pk and pk[0] is not None else None
            if self._due(seq):
                session.info[_CHECKPOINT_DUE] = seq
                event.listen(session, "after_commit", self._after_commit, once=True)
        return digest

    # ------------------------------------------------------------ checkpoints
    def _due(self, seq: int | None) -> bool:
        """Whether the event ``seq`` calls for a checkpoint (two comparisons, once the
        newest checkpoint is known)."""
        assert self.anchor is not None
        if self._anchored is None:
            try:
                latest = self.anchor.latest(None)
            except Exception:  # an unreadable digest: verify reports it, appends go on
                latest = None
            self._anchored = (
                (latest.seq, latest.time.timestamp()) if latest else (None, _time.time())
            )
        anchored_seq, at = self._anchored
        if anchored_seq is None or seq is None:
            return True
        return (
            seq - anchored_seq >= self.anchor.every_events
            or _time.time() - at >= self.anchor.every_seconds
        )

    def _after_commit(self, session: Session) -> None:
        seq = session.info.pop(_CHECKPOINT_DUE, None)
        try:
            self.checkpoint(auto=True)
        except Exception as exc:  # the change is committed: never fail it afterwards
            self._anchored = (seq or 0, _time.time())  # wait a whole period before retrying
            log.warning("audit checkpoint failed: %s", exc)

    def checkpoint(self, *, auto: bool = False) -> Checkpoint | None:
        """Sign the current head into a new digest file and the store.

        Args:
            auto: only when one is due (``every_events`` new events or ``every_seconds``).

        Returns:
            The new checkpoint; the newest existing one when the head is already anchored;
            ``None`` when the log is empty, there is no anchor, or (``auto``) none is due.

        Raises:
            AuditError: the key or the digest folder is unusable, or the newest digest does
                not verify.
        """
        anchor = self.anchor
        if anchor is None:
            return None
        with anchor.lock():
            key = anchor.key(create=not anchor.files())
            if key is None:
                raise AuditError(
                    f"the audit key {anchor.key_file} is missing but digest files exist: "
                    "restore it (or set MESHLAKE_AUDIT_KEY to it) before writing checkpoints"
                )
            latest = anchor.latest(key)
            with self.store.read() as session:
                row = session.execute(
                    select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
                ).first()
                if row is None:
                    return latest
                seq, head_hash = int(row[0]), str(row[1])
                if latest is not None and latest.seq == seq:
                    self._anchored = (seq, latest.time.timestamp())
                    return latest
                if auto and latest is not None:
                    fresh = seq - latest.seq < anchor.every_events
                    recent = _time.time() - latest.time.timestamp() < anchor.every_seconds
                    if fresh and recent:
                        self._anchored = (latest.seq, latest.time.timestamp())
                        return None
                since = select(func.count()).select_from(AuditRow).where(AuditRow.seq <= seq)
                if latest is not None:
                    since = since.where(AuditRow.seq > latest.seq)
                events = int(session.execute(since).scalar_one()) + (latest.events if latest else 0)
            cp = anchor.write(key, seq=seq, events=events, head_hash=head_hash, previous=latest)
            with self.store.transaction(bump=False) as session:
                session.add(
                    AuditCheckpointRow(
                        folder=str(anchor.folder),
                        number=cp.number,
                        time=cp.time,
                        seq=cp.seq,
                        events=cp.events,
                        head_hash=cp.head_hash,
                        digest_file=cp.file,
                        digest_sha256=cp.sha256,
                        key_id=cp.key_id,
                        signature=cp.signature,
                    )
                )
            self._anchored = (cp.seq, cp.time.timestamp())
            return cp

    # ------------------------------------------------------------ reading
    def events(
        self,
        *,
        viewer: str | None = None,
        admin_of: Iterable[str] = (),
        category: str | None = None,
        limit: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Events visible to ``viewer``: its own, plus those of accounts it administers.

        Always in chronological order. With ``limit``, the *newest* ``limit`` events (those
        before ``before_seq`` when given: paging back); with ``after_seq`` alone, the oldest
        ``limit`` events after it (paging forward, or tailing the log).

        Args:
            viewer: ``None`` returns every event (the mesh root).
            admin_of: accounts whose events the viewer may read.
            category: ``change`` or ``read`` only.
            limit: at most this many events (``None``: all).
            after_seq: only events with a larger ``seq``.
            before_seq: only events with a smaller ``seq``.
        """
        if limit is not None and limit <= 0:
            return []
        admin_accounts = set(admin_of)
        forward = limit is None or (after_seq is not None and before_seq is None)
        stmt = select(AuditRow).order_by(AuditRow.seq if forward else AuditRow.seq.desc())
        if after_seq is not None:
            stmt = stmt.where(AuditRow.seq > after_seq)
        if before_seq is not None:
            stmt = stmt.where(AuditRow.seq < before_seq)
        if category:
            stmt = stmt.where(AuditRow.category == category)
        out: list[AuditEvent] = []
        with self.store.read() as session:
            for row in session.scalars(stmt.execution_options(yield_per=500)):
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
        return out if forward else out[::-1]

    def verify(self) -> VerifyReport:
        """Recompute the chain and check it against the signed checkpoints."""
        return verify_log(self.store, self.anchor)
