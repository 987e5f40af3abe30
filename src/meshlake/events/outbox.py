"""The transactional outbox: an event row written in the transaction of its change.

:func:`append_event` runs inside the caller's open store transaction (the unit of work of
the change), so a change never commits without its event nor an event without its change.
It numbers the event among its source's events (the store's write lock serialises writers,
so ``max + 1`` is safe) and fans it out to a delivery row per matching subscription.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import DeliveryRow, EventRow, SubscriptionRow
from meshlake.events.cloud import EventLike, EventRecord

__all__ = ["EVENT_TYPES", "EventScope", "append_event", "matches"]

#: Every event type the mesh emits, with what it reports.
EVENT_TYPES: dict[str, str] = {
    "grant.created": "permissions granted (or added to an existing grant)",
    "grant.revoked": "permissions or grant options revoked",
    "tag.created": "a tag key created",
    "tag.updated": "values added to or removed from a tag key",
    "tag.deleted": "a tag key deleted",
    "tag.assigned": "tags assigned to a database, table or column",
    "tag.removed": "tags removed from a database, table or column",
    "database.created": "a database created",
    "database.dropped": "a database dropped",
    "table.created": "a table created",
    "table.dropped": "a table dropped",
    "table.updated": "rows appended to or overwritten in a table",
    "product.published": "a data product's first version",
    "product.updated": "a new version of a data product",
    "schema.changed": "a product version whose schema differs from the previous one",
    "quality.failed": "a publish refused because a blocking quality rule failed",
    "access.requested": "access to a data product requested",
    "access.decided": "an access request approved, denied or revoked",
    "crawl.finished": "a crawl run finished",
    "query.failed": "a governed query failed",
    "job.finished": "an ML processing, training or scoring job finished",
    "model.registered": "a model version registered",
    "model.approved": "a model version approved",
    "model.status_changed": "a model version's approval status changed (other than approval)",
    "pipeline.finished": "an ML pipeline execution finished",
    "drift.checked": "a trigger compared a product version's data with the previous one's",
}

INBOX = "inbox"
PENDING = "pending"

_MAX_SEQ = select(func.max(EventRow.seq)).where(EventRow.source == bindparam("source"))
_INSERT_EVENT = insert(EventRow.__table__)  # type: ignore[arg-type]
_INSERT_DELIVERY = insert(DeliveryRow.__table__)  # type: ignore[arg-type]
_SUBSCRIPTIONS = select(
    SubscriptionRow.id,
    SubscriptionRow.principal,
    SubscriptionRow.kind,
    SubscriptionRow.target,
    SubscriptionRow.types,
    SubscriptionRow.url,
).where(SubscriptionRow.active.is_(True))


@dataclass(frozen=True)
class EventScope:
    """What an event is about: decides who may see it and which subscriptions match.

    Attributes:
        resource: the governed resource (a ``resource_to_dict`` dict) whose DESCRIBE lets a
            principal see the event; ``None``: only the actor and admins of ``accounts``.
        accounts: accounts whose admins always see the event.
        product: the data product's name.
        database: ``account/database`` of the database (or the table's database).
        model_group: ``account/name`` of the model group.
    """

    resource: dict[str, Any] | None = None
    accounts: tuple[str, ...] = field(default_factory=tuple)
    product: str | None = None
    database: str | None = None
    model_group: str | None = None


@dataclass(frozen=True, slots=True)
class _Inserted:
    """The values of an event just inserted (a plain object: building an ORM row for
    matching and the record would cost more than the insert)."""

    id: int
    event_id: str
    type: str
    source: str
    seq: int
    subject: str
    time: datetime
    principal: str
    accounts: list[str]
    resource: dict[str, Any] | None
    product: str | None
    database: str | None
    model_group: str | None
    data: dict[str, Any]


def matches(sub: Any, row: EventRow | EventLike) -> bool:
    """Whether subscription ``sub`` (a ``SubscriptionRow`` or a row of its columns) wants
    event ``row`` (access is decided later)."""
    if sub.kind == "product":
        hit = row.product == sub.target
    elif sub.kind == "database":
        hit = row.database == sub.target
    elif sub.kind == "model_group":
        hit = row.model_group == sub.target
    else:
        hit = fnmatch.fnmatchcase(row.type, sub.target)
    return hit and (not sub.types or any(fnmatch.fnmatchcase(row.type, t) for t in sub.types))


def append_event(
    session: Session,
    *,
    type: str,
    source: str,
    subject: str,
    principal: str,
    data: dict[str, Any] | None = None,
    scope: EventScope | None = None,
) -> tuple[EventRecord, int]:
    """Write one event and its deliveries in ``session``'s transaction.

    Args:
        session: the open store transaction of the change (holding the write lock).
        type: the event type (see :data:`EVENT_TYPES`).
        source: the CloudEvents source; events are numbered per source.
        subject: what the event is about, readably.
        principal: who made the change.
        data: the payload (JSON-serialisable).
        scope: visibility and matching keys.

    Returns:
        The event and how many webhook deliveries it created.
    """
    scope = scope or EventScope()
    # Prebuilt Core statements on the session's connection (as the audit log does): this runs
    # in every audited change's transaction, where the ORM's unit of work would dominate.
    conn = session.connection()
    seq = int(conn.execute(_MAX_SEQ, {"source": source}).scalar() or 0) + 1
    now = datetime.now(UTC)
    values = {
        "event_id": str(uuid.uuid4()),
        "type": type,
        "source": source,
        "seq": seq,
        "subject": subject,
        "time": now,
        "principal": principal,
        "accounts": sorted({a for a in scope.accounts if a}),
        "resource": scope.resource,
        "product": scope.product,
        "database": scope.database,
        "model_group": scope.model_group,
        "data": json.loads(json.dumps(data or {}, default=str)),
    }
    pk = conn.execute(_INSERT_EVENT, values).inserted_primary_key
    assert pk is not None
    row = _Inserted(id=int(pk[0]), **values)
    deliveries = [
        {
            "event_pk": row.id,
            "subscription_id": sub.id,
            "principal": sub.principal,
            "endpoint": sub.url,
            "state": INBOX if sub.url is None else PENDING,
            "attempts": 0,
            "next_attempt_at": None if sub.url is None else now,
        }
        for sub in conn.execute(_SUBSCRIPTIONS)
        if matches(sub, row)
    ]
    if deliveries:
        conn.execute(_INSERT_DELIVERY, deliveries)
    return EventRecord.of(row), sum(d["endpoint"] is not None for d in deliveries)
