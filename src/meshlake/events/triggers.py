"""Triggers: ``on <event type> [where <condition>] do <action>``, run once per event.

A trigger belongs to an account and runs as its ``owner`` (its creator, or the principal of
the account it was told to run as). The runner reads the outbox after its cursor
(``ml_event_cursors`` row ``triggers``), and for every active trigger an event matches (and
its owner may see, asked of ``can_see``) claims the pair by inserting a ``ml_trigger_runs``
row: the unique (trigger, event) key makes several runners (the in-process one of embedded
mode, ``meshlake worker`` processes) act once per event. Events older than the trigger
never fire it. The action itself (re-crawl, pipeline, drift check) is the service layer's:
this module hands it a :class:`TriggerCall` and records the outcome.

A failed action is retried: the run becomes ``retrying`` with ``next_attempt_at`` after an
exponential backoff with full jitter (``uniform(0, min(cap, base * 2**(attempt-1)))``);
a runner takes a due retry with a conditional update (``state = 'retrying'`` -> ``running``)
that only one runner can win. After ``max_attempts`` failures the run is ``failed`` (kept,
listable, re-runnable by hand with :meth:`TriggerRunner.rerun`).

A running run holds a lease (``lease_until``) that its runner renews from a heartbeat thread
while the action runs. A runner killed mid-action stops renewing it; once it ran out, the
next runner takes the run back (a conditional update only one runner wins) as a failed
attempt ("abandoned"), which is retried like any other failure. A runner that comes back
after losing its lease (a long pause) finds the run no longer its own and records nothing.
An action may thus run again after its runner died mid-way: actions are re-crawls, pipeline
runs and drift checks, which are safe to repeat.

``where`` is a condition of :mod:`meshlake.events.where` (comparisons, ``IN``, ``IS NULL``,
``AND``/``OR``/``NOT`` over ``type``, ``source``, ``subject``, ``product``, ``database``,
``model_group``, ``principal`` and ``data.<path>``), stored as ``{"expression": text}``; a
stored mapping without that key is the older form (field equalities).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import EventCursorRow, EventRow, TriggerRow, TriggerRunRow
from meshlake.catalog.store import CatalogStore
from meshlake.events.cloud import EventRecord, aware
from meshlake.events.delivery import CanSee
from meshlake.events.webhook import backoff_delay
from meshlake.events.where import Condition, compile_where

__all__ = [
    "ACTIONS",
    "RUN_STATES",
    "TriggerCall",
    "TriggerRunner",
    "field_of",
    "trigger_matches",
    "where_condition",
]

ACTIONS = ("recrawl", "pipeline", "drift_check")
DEFAULT_LEASE_S = 60.0
log = logging.getLogger(__name__)
CURSOR = "triggers"
RUNNING, RETRYING, SUCCEEDED, FAILED, SKIPPED = (
    "running",
    "retrying",
    "succeeded",
    "failed",
    "skipped",
)
RUN_STATES = (RUNNING, RETRYING, SUCCEEDED, FAILED, SKIPPED)


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


_CONDITIONS: dict[str, Condition] = {}


def where_condition(where: dict[str, Any] | None) -> Condition | None:
    """The compiled condition of a stored ``where`` (``None``: the older equality form)."""
    text = (where or {}).get("expression")
    if not isinstance(text, str):
        return None
    found = _CONDITIONS.get(text)
    if found is None:
        found = _CONDITIONS[text] = compile_where(text)
    return found


def trigger_matches(trigger: TriggerRow, row: EventRow) -> bool:
    """Whether ``row`` fires ``trigger`` (access is decided separately)."""
    if not trigger.active or not fnmatch.fnmatchcase(row.type, trigger.on):
        return False
    if trigger.created_at is not None and aware(row.time) < aware(trigger.created_at):
        return False  # events before the trigger existed never fire it
    condition = where_condition(trigger.where)
    if condition is not None:
        return condition.test(lambda path: field_of(row, path))
    return all(field_of(row, k) == v for k, v in (trigger.where or {}).items())


class TriggerRunner:
    """Runs triggers for new outbox events, and retries failed runs (see the module
    docstring).

    Args:
        store: the catalog store.
        can_see: whether a trigger's owner may see an event.
        act: runs one action; returns its result (JSON-able) or raises.
        max_attempts: failures after which a run is ``failed``.
        base_delay_s, max_delay_s: the retry schedule (exponential, full jitter).
        lease_s: how long a running run stays this runner's without a renewal (renewed
            every third of it while its action runs).
    """

    def __init__(
        self,
        store: CatalogStore,
        can_see: CanSee,
        act: Callable[[TriggerCall], dict[str, Any]],
        *,
        max_attempts: int = 5,
        base_delay_s: float = 2.0,
        max_delay_s: float = 300.0,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_s)
        self.can_see = can_see
        self.act = act
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def run_once(self, *, batch: int = 200) -> int:
        """Handle the events after the cursor and the due retries; returns how many trigger
        runs (first attempts and retries) this call made."""
        with Session(self.store.read_engine, expire_on_commit=False) as session:
            cursor = session.get(EventCursorRow, CURSOR)
            start = 0 if cursor is None else int(cursor.position)
            # Events first, then triggers: a trigger made in between is newer than every
            # event read, which it would not fire anyway.
            rows = list(
                session.scalars(
                    select(EventRow).where(EventRow.id > start).order_by(EventRow.id).limit(batch)
                )
            )
            triggers = list(session.scalars(select(TriggerRow).where(TriggerRow.active)))
        last = rows[-1].id if rows else start
        runs = 0
        for row in rows:
            for trigger in triggers:
                if trigger_matches(trigger, row) and self._claim(trigger, row):
                    runs += 1
                    self._run(trigger, row)
        if last > start:
            self._advance(last)
        self.reclaim()
        return runs + self.retry_due()

    def reclaim(self) -> int:
        """Take back the running runs whose lease ran out (their runner stopped): each counts
        as a failed attempt ("abandoned") and is retried at once, or ``failed`` after
        ``max_attempts``. Returns how many were taken back."""
        now = datetime.now(UTC)
        lapsed = and_(
            TriggerRunRow.state == RUNNING,
            or_(
                TriggerRunRow.lease_until < now,
                # runs started before leases existed: their start stands for the lease
                and_(
                    TriggerRunRow.lease_until.is_(None), TriggerRunRow.started_at < now - self.lease
                ),
            ),
        )
        with Session(self.store.read_engine) as session:  # the usual case: nothing to do
            if session.scalar(select(TriggerRunRow.id).where(lapsed).limit(1)) is None:
                return 0
        error = func.coalesce(TriggerRunRow.claimed_by, "") + " stopped renewing its lease"
        taken = 0
        with self._session() as session, session.begin():
            for last, state in ((True, FAILED), (False, RETRYING)):
                limit = TriggerRunRow.attempts + 1 >= self.max_attempts
                result = session.execute(
                    update(TriggerRunRow)
                    .where(lapsed, limit if last else ~limit)
                    .values(
                        state=state,
                        attempts=TriggerRunRow.attempts + 1,
                        error="abandoned: " + error,
                        finished_at=now,
                        lease_until=None,
                        next_attempt_at=None if last else now,
                    )
                    .execution_options(synchronize_session=False)
                )
                taken += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if taken:
            log.warning("took back %d trigger run(s) whose runner stopped", taken)
        return taken

    def retry_due(self) -> int:
        """Run the failed runs whose retry is due; returns how many were run."""
        now = datetime.now(UTC)
        with Session(self.store.read_engine, expire_on_commit=False) as session:
            due = list(
                session.execute(
                    select(TriggerRunRow.id, TriggerRow, EventRow)
                    .join(TriggerRow, TriggerRow.id == TriggerRunRow.trigger_id)
                    .join(EventRow, EventRow.id == TriggerRunRow.event_pk)
                    .where(
                        TriggerRunRow.state == RETRYING,
                        TriggerRunRow.next_attempt_at <= now,
                        TriggerRow.active,
                    )
                    .order_by(TriggerRunRow.next_attempt_at, TriggerRunRow.id)
                )
            )
        done = 0
        for run_id, trigger, row in due:
            if self._take(run_id):
                done += 1
                if self.can_see(trigger.owner, row):
                    self._run(trigger, row)
                else:
                    self._finish(run_id, SKIPPED, None, f"{trigger.owner} may not see the event")
        return done

    def _take(self, run_id: int) -> bool:
        """Move a due retry to ``running``; only one runner's update matches."""
        with self._session() as session, session.begin():
            result = session.execute(
                update(TriggerRunRow)
                .where(TriggerRunRow.id == run_id, TriggerRunRow.state == RETRYING)
                .values(
                    state=RUNNING,
                    claimed_by=self.worker_id,
                    started_at=datetime.now(UTC),
                    lease_until=datetime.now(UTC) + self.lease,
                )
            )
            return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    def drain(self) -> int:
        """Run until no new events and no due retries are left; returns the number of
        trigger runs."""
        total = 0
        while True:
            before = self.position()
            made = self.run_once()
            total += made
            if self.position() == before and made == 0:
                return total

    def position(self) -> int:
        """The last event the runner handled."""
        with Session(self.store.read_engine) as session:
            cursor = session.get(EventCursorRow, CURSOR)
            return 0 if cursor is None else int(cursor.position)

    def busy(self, *, running: bool = True) -> bool:
        """Whether events wait for the runner, or runs wait to retry (or, with ``running``,
        are running: a runner killed mid-action leaves its run so until its lease runs out
        and another runner takes it back). Events wait
        only while a trigger is active: with none, no runner has anything to do with them
        (a trigger never fires on events older than itself)."""
        with Session(self.store.read_engine) as session:
            states = [RUNNING, RETRYING] if running else [RETRYING]
            active = session.scalar(
                select(TriggerRunRow.id).where(TriggerRunRow.state.in_(states)).limit(1)
            )
            if active is not None:
                return True
            if session.scalar(select(TriggerRow.id).where(TriggerRow.active).limit(1)) is None:
                return False
            cursor = session.get(EventCursorRow, CURSOR)
            position = 0 if cursor is None else int(cursor.position)
            head = int(session.scalar(select(func.max(EventRow.id))) or 0)
        return head > position

    def rerun(self, run_id: int) -> bool:
        """Queue a failed run again, with a fresh attempt count (due now). Returns whether
        the run was failed (and is now queued)."""
        with self._session() as session, session.begin():
            result = session.execute(
                update(TriggerRunRow)
                .where(TriggerRunRow.id == run_id, TriggerRunRow.state == FAILED)
                .values(state=RETRYING, attempts=0, next_attempt_at=datetime.now(UTC))
            )
            return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    def _claim(self, trigger: TriggerRow, row: EventRow) -> bool:
        visible = self.can_see(trigger.owner, row)
        try:
            with self._session() as session, session.begin():
                session.add(
                    TriggerRunRow(
                        trigger_id=trigger.id,
                        event_pk=row.id,
                        state=RUNNING if visible else SKIPPED,
                        claimed_by=self.worker_id,
                        started_at=datetime.now(UTC),
                        lease_until=datetime.now(UTC) + self.lease if visible else None,
                        error=None if visible else f"{trigger.owner} may not see the event",
                        attempts=0,
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
        mine = (  # the run, while it is this runner's and running
            TriggerRunRow.trigger_id == trigger.id,
            TriggerRunRow.event_pk == row.id,
            TriggerRunRow.state == RUNNING,
            TriggerRunRow.claimed_by == self.worker_id,
        )
        with self._leased(*mine):
            try:
                result = self.act(call)
            except Exception as exc:  # recorded on the run: a failing action never stops others
                error = f"{type(exc).__name__}: {exc}"
        with self._session() as session, session.begin():
            run = session.scalars(
                select(TriggerRunRow).where(*mine).with_for_update()
            ).one_or_none()
            if run is None:  # the lease ran out and another runner took the run back
                log.warning(
                    "trigger %s, event %s: the run was taken back while its action ran; "
                    "its outcome is not recorded",
                    trigger.name,
                    row.id,
                )
                return
            run.lease_until = None
            run.attempts = (run.attempts or 0) + 1
            run.result = result
            run.error = error[:4000] if error else None
            run.finished_at = datetime.now(UTC)
            if error is None:
                run.state, run.next_attempt_at = SUCCEEDED, None
            elif run.attempts >= self.max_attempts:
                run.state, run.next_attempt_at = FAILED, None
            else:
                delay = backoff_delay(
                    run.attempts, base_s=self.base_delay_s, cap_s=self.max_delay_s
                )
                run.state = RETRYING
                run.next_attempt_at = run.finished_at + timedelta(seconds=delay)

    @contextmanager
    def _leased(self, *mine: Any) -> Iterator[None]:
        """Renew the lease of the run matched by ``mine`` (this runner's, running) every
        third of the lease until the block ends."""
        done = threading.Event()

        def beat() -> None:
            interval = max(self.lease.total_seconds() / 3, 0.01)
            while not done.wait(interval):
                try:
                    with self._session() as session, session.begin():
                        session.execute(
                            update(TriggerRunRow)
                            .where(*mine)
                            .values(lease_until=datetime.now(UTC) + self.lease)
                            .execution_options(synchronize_session=False)
                        )
                except Exception as exc:  # the store failed: the lease may run out
                    log.warning("cannot renew a trigger run's lease: %s", exc)

        thread = threading.Thread(target=beat, name="meshlake-trigger-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _finish(
        self, run_id: int, state: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        with self._session() as session, session.begin():
            run = session.get(TriggerRunRow, run_id)
            assert run is not None
            run.state, run.result, run.error = state, result, error
            run.finished_at = datetime.now(UTC)

    def _advance(self, position: int) -> None:
        with self._session() as session, session.begin():
            cursor = session.get(EventCursorRow, CURSOR)
            if cursor is None:
                session.add(EventCursorRow(name=CURSOR, position=position))
            elif cursor.position < position:
                cursor.position = position
