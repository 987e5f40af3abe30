"""Verification of the audit log: the hash chain, then the signed checkpoints.

Three sources are compared, trusted in this order:

1. the digest folder (signed with a key the database does not hold): the checkpoints;
2. the events themselves: every ``prev_hash`` must be the previous event's ``hash`` and every
   ``hash`` must match the event's fields;
3. the store's copies of the checkpoints: a copy without its digest file means the file was
   deleted.

What cannot be detected is said in ``VerifyReport.notes`` and in ``docs/audit.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meshlake.audit.anchor import AuditAnchor, Checkpoint, DigestFolderReport
from meshlake.catalog.audit_models import AuditCheckpointRow
from meshlake.catalog.models import AuditRow, MetaRow
from meshlake.catalog.store import CatalogStore

__all__ = ["GENESIS", "HEAD_KEY", "VerifyReport", "event_hash", "verify_log"]

GENESIS = "0" * 64
HEAD_KEY = "audit_head"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of ``AuditLog.verify``.

    Attributes:
        ok: no problem found.
        events: events read.
        first_bad_seq: the first event known to be wrong (when one is).
        problem: what is wrong, in words.
        kind: ``edited``, ``deleted``, ``truncated``, ``rewritten``, ``digest_missing``,
            ``digest_tampered``, ``key_missing`` or ``store_mismatch`` (empty when ok).
        checkpoints: signed checkpoints that verified.
        checkpoint_seq: the event the newest of them anchors (``None``: none yet).
        unanchored: events after that checkpoint: they can be removed or rewritten unseen
            until the next checkpoint.
        notes: what the report cannot vouch for.
    """

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""
    kind: str = ""
    checkpoints: int = 0
    checkpoint_seq: int | None = None
    unanchored: int = 0
    notes: tuple[str, ...] = field(default=())


def event_hash(
    time: datetime,
    category: str,
    principal: str,
    action: str,
    resource: str,
    accounts: Sequence[str],
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    """The SHA-256 an event's ``hash`` column holds: its fields and ``prev_hash``, as
    canonical JSON.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> len(event_hash(t, "change", "root", "bootstrap", "mesh", [], {}, GENESIS))
    64
    """
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


@dataclass
class _Chain:
    """One pass over the events: counts, the last event, the hashes at checkpointed seqs."""

    events: int = 0
    last_seq: int = 0
    head: str = GENESIS
    bad: VerifyReport | None = None
    at: dict[int, tuple[str, int]] = field(default_factory=dict)  # seq -> (hash, count)


def _scan(store: CatalogStore, wanted: set[int]) -> tuple[_Chain, str | None]:
    chain = _Chain()
    with store.read() as session:
        for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)):
            chain.events += 1
            if row.prev_hash != chain.head:
                chain.bad = VerifyReport(
                    False,
                    chain.events,
                    row.seq,
                    "an event before it was deleted or reordered",
                    "deleted",
                )
                break
            expected = event_hash(
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
                chain.bad = VerifyReport(
                    False, chain.events, row.seq, "the event was edited", "edited"
                )
                break
            chain.head, chain.last_seq = row.hash, row.seq
            if row.seq in wanted:
                chain.at[row.seq] = (row.hash, chain.events)
        head_row = session.get(MetaRow, HEAD_KEY)
    return chain, head_row.value if head_row is not None else None


def _against_checkpoints(chain: _Chain, checkpoints: list[Checkpoint]) -> VerifyReport | None:
    """The first checkpoint the events no longer match, as a report."""
    anchored = 0
    for cp in checkpoints:
        found = chain.at.get(cp.seq)
        where = f"checkpoint {cp.number} ({cp.time.isoformat()}) signed event {cp.seq}"
        if found is None and cp.seq > chain.last_seq:
            return VerifyReport(
                False,
                chain.events,
                chain.last_seq + 1,
                f"events were deleted from the tail: the log ends at event {chain.last_seq} "
                f"but {where} as the head",
                "truncated",
            )
        span = f"between events {anchored + 1} and {cp.seq}"
        if found is None:
            return VerifyReport(
                False,
                chain.events,
                cp.seq,
                f"the log was rewritten {span}: {where}, which is no longer in the log",
                "rewritten",
            )
        digest, count = found
        if digest != cp.head_hash or count != cp.events:
            return VerifyReport(
                False,
                chain.events,
                cp.seq,
                f"the log was rewritten {span} (events edited, removed or inserted, and every "
                f"later hash recomputed): {where} with hash {cp.head_hash[:12]}... after "
                f"{cp.events} events, the log now has {digest[:12]}... after {count}",
                "rewritten",
            )
        anchored = cp.seq
    return None


def _against_store(
    store: CatalogStore, anchor: AuditAnchor, checkpoints: list[Checkpoint]
) -> VerifyReport | None:
    """Store copies whose digest file is gone or differs (the store is not trusted, but a
    copy without its file means the file was deleted)."""
    by_number = {cp.number: cp for cp in checkpoints}
    with store.read() as session:
        rows = session.scalars(
            select(AuditCheckpointRow)
            .where(AuditCheckpointRow.folder == str(anchor.folder))
            .order_by(AuditCheckpointRow.number)
        ).all()
    for row in rows:
        cp = by_number.get(row.number)
        if cp is None:
            return VerifyReport(
                False,
                0,
                None,
                f"audit digest file {row.digest_file} is missing from {anchor.folder}: the "
                f"store recorded checkpoint {row.number} (event {row.seq}) at "
                f"{row.time.isoformat()}",
                "digest_missing",
            )
        if cp.sha256 != row.digest_sha256 or cp.head_hash != row.head_hash:
            return VerifyReport(
                False,
                0,
                None,
                f"the store's copy of checkpoint {row.number} differs from its digest file "
                f"{cp.file}: the store's audit tables were altered",
                "store_mismatch",
            )
    return None


def verify_log(store: CatalogStore, anchor: AuditAnchor | None) -> VerifyReport:
    """Check the chain, then the chain against the digest folder's checkpoints.

    Args:
        store: the catalog store holding the events.
        anchor: the digest folder and key (``None``: the chain alone, no checkpoints).
    """
    folder = DigestFolderReport([])
    key_file_exists = False
    if anchor is not None:
        key = anchor.key()
        key_file_exists = key is not None and key.source != "env"
        folder = anchor.read(key)
    checkpoints = folder.checkpoints
    chain, head = _scan(store, {cp.seq for cp in checkpoints})
    if chain.bad is not None:
        return chain.bad
    if head is not None and head != chain.head:
        return VerifyReport(
            False, chain.events, None, "the newest events were deleted", "truncated"
        )
    bad = _against_checkpoints(chain, checkpoints)
    if bad is None and folder.kind:
        bad = VerifyReport(False, chain.events, None, folder.problem, folder.kind)
    if bad is None and anchor is not None:
        bad = _against_store(store, anchor, checkpoints)
        if bad is None and not checkpoints and key_file_exists and chain.events:
            bad = VerifyReport(
                False,
                0,
                None,
                f"the audit key {anchor.key_file} exists but the digest folder "
                f"{anchor.folder} holds no checkpoint: the digest files were deleted",
                "digest_missing",
            )
    if bad is not None:
        return VerifyReport(
            False,
            chain.events,
            bad.first_bad_seq,
            bad.problem,
            bad.kind,
            len(checkpoints),
            checkpoints[-1].seq if checkpoints else None,
        )
    return _ok(chain, checkpoints)


def _ok(chain: _Chain, checkpoints: list[Checkpoint]) -> VerifyReport:
    if not checkpoints:
        note = (
            "no signed checkpoint yet: deleting the newest events, or editing one and "
            "recomputing every later hash, cannot be detected (run `meshlake audit checkpoint`)"
        )
        return VerifyReport(True, chain.events, unanchored=chain.events, notes=(note,))
    last = checkpoints[-1]
    unanchored = chain.events - last.events
    notes = []
    if unanchored:
        notes.append(
            f"{unanchored} events after the last checkpoint ({last.number}, event {last.seq}, "
            f"{last.time.isoformat()}) are not anchored yet: until the next checkpoint, whoever "
            "can write the database can remove, rewrite or forge them unseen"
        )
    return VerifyReport(
        True,
        chain.events,
        checkpoints=len(checkpoints),
        checkpoint_seq=last.seq,
        unanchored=unanchored,
        notes=tuple(notes),
    )
