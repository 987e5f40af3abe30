"""Relaying the outbox to a broker: a small transport interface and NATS JetStream.

A :class:`Relay` reads outbox events after its cursor (``ml_event_cursors``), hands them to a
:class:`Transport` in order, and moves the cursor past what the transport acknowledged. Every
event goes to subject ``meshlake.events.<type>`` with the CloudEvents JSON as its body and the
CloudEvents id as ``Nats-Msg-Id``, so JetStream drops a re-sent event (a relay killed after
publishing but before moving its cursor) inside the stream's duplicate window.

Broker consumers see every event: give the stream's credentials only to systems that may.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import EventCursorRow, EventRow
from meshlake.catalog.store import CatalogStore
from meshlake.events.cloud import CONTENT_TYPE, EventRecord, to_json

__all__ = ["SUBJECT_PREFIX", "NatsTransport", "Relay", "Transport", "subject_of"]

SUBJECT_PREFIX = "meshlake.events"


def subject_of(record: EventRecord) -> str:
    """The broker subject of an event.

    >>> from datetime import UTC, datetime
    >>> r = EventRecord(1, "i", "product.updated", "/p", 1, "s", datetime.now(UTC), "a/b", {})
    >>> subject_of(r)
    'meshlake.events.product.updated'
    """
    return f"{SUBJECT_PREFIX}.{record.type}"


class Transport(ABC):
    """Carries events to a broker."""

    @abstractmethod
    def publish(self, records: Sequence[EventRecord]) -> int:
        """Publish ``records`` in order; returns how many leading ones the broker
        acknowledged (the relay resumes after them)."""

    def close(self) -> None:  # noqa: B027 - optional: nothing to release by default
        """Release connections."""


class NatsTransport(Transport):
    """NATS JetStream (``nats-py``): one stream holding ``meshlake.events.>``.

    Args:
        servers: NATS URL(s), e.g. ``nats://127.0.0.1:4222``.
        stream: the JetStream stream (created when missing).
        timeout_s: per-publish acknowledgement timeout.
    """

    def __init__(
        self, servers: str | list[str], *, stream: str = "MESHLAKE_EVENTS", timeout_s: float = 5.0
    ) -> None:
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.stream = stream
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None

    async def _connect(self) -> Any:
        if self._js is None:
            import nats
            from nats.js.errors import NotFoundError

            self._nc = await nats.connect(servers=self.servers, connect_timeout=self.timeout_s)
            self._js = self._nc.jetstream(timeout=self.timeout_s)
            try:
                await self._js.stream_info(self.stream)
            except NotFoundError:
                await self._js.add_stream(name=self.stream, subjects=[f"{SUBJECT_PREFIX}.>"])
        return self._js

    async def _publish(self, records: Sequence[EventRecord]) -> int:
        js = await self._connect()
        done = 0
        for record in records:
            await js.publish(
                subject_of(record),
                to_json(record),
                headers={"Nats-Msg-Id": record.id, "Content-Type": CONTENT_TYPE},
                stream=self.stream,
            )
            done += 1
        return done

    def publish(self, records: Sequence[EventRecord]) -> int:
        """Publish ``records`` and wait for JetStream's acknowledgements."""
        return self._loop.run_until_complete(self._publish(records))

    def close(self) -> None:
        """Drain the connection and close the loop."""
        if self._nc is not None:
            self._loop.run_until_complete(self._nc.drain())
            self._nc = self._js = None
        self._loop.close()


class Relay:
    """Moves the outbox to a transport, from a cursor named ``name``.

    Publishing happens outside any store transaction (never holding the write lock over
    network I/O); the cursor moves by compare-and-set afterwards. Two relays racing on one
    name may publish an event twice: JetStream drops the copy by its ``Nats-Msg-Id``. Outbox
    ids follow commit order, because every unit that emits holds the store's write lock.
    """

    def __init__(self, store: CatalogStore, transport: Transport, *, name: str = "nats") -> None:
        self.store = store
        self.transport = transport
        self.name = name

    def position(self) -> int:
        """The last relayed event position (0: none yet)."""
        with Session(self.store.read_engine) as session:
            row = session.get(EventCursorRow, self.name)
            return 0 if row is None else int(row.position)

    def run_once(self, *, batch: int = 500) -> int:
        """Relay the next ``batch`` events; returns how many were published."""
        start = self.position()
        with Session(self.store.read_engine) as session:
            rows = session.scalars(
                select(EventRow).where(EventRow.id > start).order_by(EventRow.id).limit(batch)
            ).all()
            records = [EventRecord.of(r) for r in rows]
        if not records:
            return 0
        done = self.transport.publish(records)
        if done:
            end = records[done - 1].position
            with Session(self.store.engine) as session, session.begin():
                cursor = session.get(EventCursorRow, self.name)
                if cursor is None:
                    session.add(EventCursorRow(name=self.name, position=end))
                elif cursor.position < end:
                    cursor.position = end
        return done

    def drain(self) -> int:
        """Relay until the outbox is empty after the cursor; returns how many were sent."""
        total = 0
        while n := self.run_once():
            total += n
        return total
