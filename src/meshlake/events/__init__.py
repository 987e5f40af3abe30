"""Events: the transactional outbox, subscriptions, deliveries (inbox, webhooks), relays.

A change and the event that reports it are written in one store transaction
(:func:`~meshlake.events.outbox.append_event`); the event fans out, in that transaction, to a
delivery row per matching subscription. Inbox deliveries are read by their principal;
webhook deliveries are sent by a :class:`~meshlake.events.delivery.Dispatcher` (in-process
after commit, or ``meshlake worker``), signed (:mod:`meshlake.events.webhook`), retried with
backoff and jitter, and dead-lettered after too many failures. A relay
(:mod:`meshlake.events.transport`) carries the outbox to a broker (NATS JetStream).

This package decides nothing about access: who may see an event is asked of a ``can_see``
callable that the service layer builds on the governance engine.
"""

from __future__ import annotations

from meshlake.events.cloud import EventRecord, from_json, to_cloudevent, to_json
from meshlake.events.outbox import EVENT_TYPES, EventScope, append_event

__all__ = [
    "EVENT_TYPES",
    "EventRecord",
    "EventScope",
    "append_event",
    "from_json",
    "to_cloudevent",
    "to_json",
]
