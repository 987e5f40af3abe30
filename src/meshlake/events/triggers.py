"""Triggers: ``on <event type> [where <field = value ...>] do <action>``, run once per event.

A trigger belongs to an account and runs as its owner. The runner reads the outbox after its
cursor (``ml_event_cursors`` row ``triggers``), and for every active trigger an event matches
(and its owner may see, asked of ``can_see``) claims the pair by inserting a
``ml_trigger_runs`` row: the unique (trigger, event) key makes several runners act at most
once per event. The action itself (re-crawl, pipeline, drift check) is the service layer's:
this module hands it a :class:`TriggerCall` and records the outcome.

``where`` compares event fields by equality: ``type``, ``source``, ``subject``, ``product``,
``database``, ``model_group``, or ``data.<key>`` (dotted paths into the payload).
"""

from __future__ import annotations

import fnmatch
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import EventCursorRow, EventRow, TriggerRow, TriggerRunRow
from meshlake.catalog.store import CatalogStore
from meshlake.events.cloud import EventRecord
from meshlake.events.delivery import CanSee

__all__ = ["ACTIONS", "TriggerCall", "TriggerRunner", "field_of", "trigger_matches"]

ACTIONS = ("recrawl", "pipeline", "drift_check")
CURSOR = "triggers"


@dataclass(frozen=True)
class TriggerCall:
    """What an action receives: the trigger and the event that fired it."""

    trigger_id: int
    name: str
    account: str
    owner: str
    action: str
    params: dict[str, Any]
    event: EventRecord
    event_row: EventRow


def field_of(row: EventRow, path: str) -> Any:
    """An event field by ``where`` path.

    >>> row = EventRow(type="product.updated", product="p", data={"quality": {"ok": True}})
    >>> field_of(row, "product"), field_of(row, "data.quality.ok"), field_of(row, "data.x")
    ('p', True, None)
    """
    if path.startswith("data."):
        value: Any = row.data or {}
        for part in path[5:].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if path in ("type", "source", "subject", "product", "database", "model_group", "principal"):
        return getattr(row, path)
    return None


def trigger_matches(trigger: TriggerRow, row: EventRow) -> bool:
    """Whether ``row`` fires ``trigger`` (access is decided separately)."""
    if not trigger.active or not fnmatch.fnmatchcase(row.type, trigger.on):
        return False
    return all(field_of(row, k) == v for k, v in (trigger.where or {}).items())


class TriggerRunner:
    """Runs triggers for new outbox events (see the module docstring).

    Args:
        store: the catalog store.
        can_see: whether a trigger's owner may see an event.
        act: runs one action; returns its result (JSON-able) or raises.
    """

    def __init__(
        self, store: CatalogStore, can_see: CanSee, act: Callable[[TriggerCall], dict[str, Any]]
    ) -> None:
        self.store = store
        self.can_see = can_see
        self.act = act
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def run_once(self, *, batch: int = 200) -> int:
        """Handle the events after the cursor; returns how many trigger runs this call made."""
        with Session(self.store.read_engine, expire_on_commit=False) as session:
            cursor = session.get(EventCursorRow, CURSOR)
            start = 0 if cursor is None else int(cursor.position)
            triggers = list(session.scalars(select(TriggerRow).where(TriggerRow.active)))
            rows = list(
                session.scalars(
                    select(EventRow).where(EventRow.id > start).order_by(EventRow.id).limit(batch)
                )
            )
        runs = 0
        for row in rows:
            for trigger in triggers:
                if trigger_matches(trigger, row) and self._claim(trigger, row):
                    runs += 1
                    self._run(trigger, row)
        if rows:
            self._advance(rows[-1].id)
        return runs

    def drain(self) -> int:
        """Run until no new events are left; returns the number of trigger runs."""
        total = 0
        while True:
            before = self.position()
            total += self.run_once()
            if self.position() == before:
                return total

    def position(self) -> int:
        """The last event the runner handled."""
        with Session(self.store.read_engine) as session:
            cursor = session.get(EventCursorRow, CURSOR)
            return 0 if cursor is None else int(cursor.position)

    def _claim(self, trigger: TriggerRow, row: EventRow) -> bool:
        visible = self.can_see(trigger.owner, row)
        try:
            with self._session() as session, session.begin():
                session.add(
                    TriggerRunRow(
                        trigger_id=trigger.id,
                        event_pk=row.id,
                        state="running" if visible else "skipped",
                        claimed_by=self.worker_id,
                        started_at=datetime.now(UTC),
                        error=None if visible else f"{trigger.owner} may not see the event",
                    )
                )
        except IntegrityError:  # another runner has it
            return False
        return visible

    def _run(self, trigger: TriggerRow, row: EventRow) -> None:
        call = TriggerCall(
            trigger.id,
            trigger.name,
            trigger.account,
            trigger.owner,
            trigger.action,
            dict(trigger.params or {}),
            EventRecord.of(row),
            row,
        )
        result: dict[str, Any] | None = None
        error = None
        try:
            result = self.act(call)
        except Exception as exc:  # recorded on the run: a failing action never stops others
            error = f"{type(exc).__name__}: {exc}"
        with self._session() as session, session.begin():
            run = session.scalars(
                select(TriggerRunRow).where(
                    TriggerRunRow.trigger_id == trigger.id, TriggerRunRow.event_pk == row.id
                )
            ).one()
            run.state = "failed" if error else "succeeded"
            run.result = result
            run.error = error
            run.finished_at = datetime.now(UTC)

    def _advance(self, position: int) -> None:
        with self._session() as session, session.begin():
            cursor = session.get(EventCursorRow, CURSOR)
            if cursor is None:
                session.add(EventCursorRow(name=CURSOR, position=position))
            elif cursor.position < position:
                cursor.position = position
