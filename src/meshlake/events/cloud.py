"""The CloudEvents 1.0 form of an outbox row (structured JSON mode, the ``cloudevents`` SDK).

Attributes: ``id`` (a UUID: the idempotency key), ``source``, ``type``, ``subject``,
``time``, ``datacontenttype`` ``application/json``, and the extensions ``sequence`` (the
event's position among its source's events, as the CloudEvents *sequence* extension
writes it: a string) and ``meshlakeposition`` (its mesh-wide position).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from meshlake.catalog.event_models import EventRow

__all__ = [
    "CONTENT_TYPE",
    "EventLike",
    "EventRecord",
    "aware",
    "from_json",
    "to_cloudevent",
    "to_json",
]

CONTENT_TYPE = "application/cloudevents+json"
_FORMAT = JSONFormat()


class EventLike(Protocol):
    """An outbox event's columns: a stored ``EventRow``, or the values just inserted."""

    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def subject(self) -> str: ...
    @property
    def time(self) -> datetime: ...
    @property
    def principal(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def product(self) -> str | None: ...
    @property
    def database(self) -> str | None: ...
    @property
    def model_group(self) -> str | None: ...


@dataclass(frozen=True)
class EventRecord:
    """One event as subscribers see it.

    Attributes:
        position: mesh-wide position (the outbox row id).
        id: the CloudEvents id (a UUID; receivers deduplicate on it).
        type, source, subject, time: the CloudEvents attributes.
        sequence: the position among the events of ``source`` (1, 2, ...).
        principal: who made the change.
        data: the event's payload.
    """

    position: int
    id: str
    type: str
    source: str
    sequence: int
    subject: str
    time: datetime
    principal: str
    data: dict[str, Any]

    @classmethod
    def of(cls, row: EventRow | EventLike) -> EventRecord:
        """The record of an outbox row."""
        return cls(
            row.id,
            row.event_id,
            row.type,
            row.source,
            row.seq,
            row.subject,
            aware(row.time),
            row.principal,
            dict(row.data or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents JSON form, as a dict."""
        import json

        return dict(json.loads(to_json(self)))


def aware(when: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite returns naive ones)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def to_cloudevent(record: EventRecord) -> CloudEvent:
    """The SDK's CloudEvent for ``record``."""
    time = aware(record.time)
    return CloudEvent(
        {
            "id": record.id,
            "source": record.source,
            "type": record.type,
            "specversion": "1.0",
            "subject": record.subject,
            "time": time,
            "datacontenttype": "application/json",
            "sequence": str(record.sequence),
            "meshlakeposition": str(record.position),
            "meshlakeprincipal": record.principal,
        },
        record.data,
    )


def to_json(record: EventRecord) -> bytes:
    """The structured-mode JSON body (``application/cloudevents+json``)."""
    return _FORMAT.write(to_cloudevent(record))


def from_json(body: bytes | str) -> dict[str, Any]:
    """A received structured-mode body's attributes and ``data`` (a receiver's helper).

    >>> from datetime import UTC, datetime
    >>> when = datetime(2026, 1, 1, tzinfo=UTC)
    >>> r = EventRecord(7, "e-1", "grant.created", "/grants/x", 3, "t", when, "a/b", {"x": 1})
    >>> got = from_json(to_json(r))
    >>> got["id"], got["sequence"], got["data"]
    ('e-1', '3', {'x': 1})
    """
    event = _FORMAT.read(None, body)
    out: dict[str, Any] = dict(event.get_attributes())
    out["data"] = event.get_data()
    return out
