"""Webhook dispatch: claim due deliveries, POST them per endpoint, record the outcome.

Claims are short transactions of their own (never the store's global write lock): on
PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` lets several workers claim disjoint rows; on
SQLite ``BEGIN IMMEDIATE`` serialises the claims. A claim is a *lease* (``lease_until``):
a worker killed mid-delivery leaves rows that another worker takes once the lease expires
(at least once; receivers deduplicate on the CloudEvents id). Outcomes are written only by
the lease holder (``claimed_by``), so a worker whose lease ran out cannot overwrite the new
holder's result.

Each endpoint gets its own task: one slow or failing endpoint delays only itself (every POST
has a timeout, and an endpoint busy in one task is not claimed again until it finishes).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import DeliveryRow, EventRow, SubscriptionRow
from meshlake.catalog.store import CatalogStore
from meshlake.events.cloud import EventRecord
from meshlake.events.destinations import WebhookPolicy
from meshlake.events.webhook import backoff_delay, post_event

__all__ = ["CanSee", "ClaimedDelivery", "Dispatcher"]

#: ``can_see(principal, event_row) -> bool``: may the subscriber see the event now?
CanSee = Callable[[str, EventRow], bool]

DELIVERED, DEAD, SKIPPED, PENDING = "delivered", "dead", "skipped", "pending"


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker holds the lease of."""

    id: int
    endpoint: str
    secret: str | None
    principal: str
    attempts: int
    record: EventRecord
    visible: bool


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Sends webhook deliveries (see the module docstring).

    Args:
        store: the catalog store.
        can_see: the subscriber's access to an event, asked right before each POST.
        max_attempts: failures after which a delivery becomes a dead letter.
        timeout_s: per-POST timeout.
        lease_s: how long a claim is held before another worker may take it over.
        base_delay_s, max_delay_s: the retry schedule (exponential, full jitter).
        batch: deliveries claimed per round.
        workers: endpoints served at once.
        policy: where webhooks may be sent, checked before every POST (default: public
            addresses only); a refused delivery fails like an unreachable endpoint.
    """

    def __init__(
        self,
        store: CatalogStore,
        can_see: CanSee,
        *,
        max_attempts: int = 8,
        timeout_s: float = 10.0,
        lease_s: float = 60.0,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        batch: int = 100,
        workers: int = 8,
        policy: WebhookPolicy | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or WebhookPolicy()
        self.can_see = can_see
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.batch = batch
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meshlake-hook")
        self._busy: dict[str, Future[int]] = {}
        self._lock = threading.Lock()
        #: Called when an endpoint's task ends (the embedded dispatcher wakes itself to claim
        #: what arrived for that endpoint meanwhile).
        self.after_task: Callable[[], None] | None = None

    # ------------------------------------------------------------------ claims
    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def claim(
        self, limit: int | None = None, *, skip: set[str] | None = None
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (oldest event first), skipping endpoints in
        ``skip`` (busy here)."""
        now = _now()
        query = (
            select(DeliveryRow, EventRow, SubscriptionRow.secret)
            .join(EventRow, EventRow.id == DeliveryRow.event_pk)
            .join(SubscriptionRow, SubscriptionRow.id == DeliveryRow.subscription_id)
            .where(
                DeliveryRow.state == PENDING,
                DeliveryRow.next_attempt_at <= now,
                or_(DeliveryRow.lease_until.is_(None), DeliveryRow.lease_until < now),
            )
            .order_by(DeliveryRow.event_pk, DeliveryRow.id)
            .limit(limit or self.batch)
        )
        if skip:
            query = query.where(DeliveryRow.endpoint.not_in(sorted(skip)))
        if not self.store.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=DeliveryRow)
        out: list[ClaimedDelivery] = []
        with self._session() as session, session.begin():
            for delivery, event, secret in session.execute(query).all():
                delivery.lease_until = now + timedelta(seconds=self.lease_s)
                delivery.claimed_by = self.worker_id
                assert delivery.endpoint is not None
                out.append(
                    ClaimedDelivery(
                        delivery.id,
                        delivery.endpoint,
                        secret,
                        delivery.principal,
                        delivery.attempts,
                        EventRecord.of(event),
                        self.can_see(delivery.principal, event),
                    )
                )
        return out

    def _record(self, claimed: ClaimedDelivery, ok: bool, error: str | None) -> None:
        now = _now()
        values: dict[str, object] = {"lease_until": None, "claimed_by": None}
        if ok:
            values.update(state=DELIVERED, delivered_at=now, attempts=claimed.attempts + 1)
        elif error is None:  # not visible any more: never sent
            values.update(state=SKIPPED, last_error="the subscriber may no longer see it")
        else:
            attempts = claimed.attempts + 1
            delay = backoff_delay(attempts, base_s=self.base_delay_s, cap_s=self.max_delay_s)
            values.update(
                attempts=attempts,
                last_error=error[:2000],
                state=DEAD if attempts >= self.max_attempts else PENDING,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        with self._session() as session, session.begin():
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == claimed.id, DeliveryRow.claimed_by == self.worker_id)
                .values(**values)
            )

    # ------------------------------------------------------------------ sending
    def _send_endpoint(self, items: list[ClaimedDelivery]) -> int:
        """POST one endpoint's deliveries in order; after a failure, the rest of this batch
        waits for the next round (keeps per-endpoint order). Returns how many succeeded."""
        sent = 0
        for i, item in enumerate(items):
            if not item.visible:
                self._record(item, False, None)
                continue
            result = post_event(
                item.endpoint,
                item.secret,
                item.record,
                timeout_s=self.timeout_s,
                policy=self.policy,
            )
            self._record(item, result.ok, result.error)
            if not result.ok:
                for rest in items[i + 1 :]:  # release: due again next round
                    self._release(rest)
                break
            sent += 1
        return sent

    def _release(self, claimed: ClaimedDelivery) -> None:
        with self._session() as session, session.begin():
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id == claimed.id, DeliveryRow.claimed_by == self.worker_id)
                .values(lease_until=None, claimed_by=None)
            )

    def run_once(self, *, wait: bool = True) -> int:
        """Claim a round of due deliveries and send them, one task per endpoint.

        Args:
            wait: wait for every endpoint's task (else return once they are started).

        Returns:
            How many deliveries were claimed.
        """
        with self._lock:
            self._busy = {e: f for e, f in self._busy.items() if not f.done()}
            claimed = self.claim(skip=set(self._busy))
            per_endpoint: dict[str, list[ClaimedDelivery]] = defaultdict(list)
            for item in claimed:
                per_endpoint[item.endpoint].append(item)
            futures = []
            for endpoint, items in per_endpoint.items():
                future = self._pool.submit(self._send_endpoint, items)
                if self.after_task is not None:
                    future.add_done_callback(lambda _f: self.after_task and self.after_task())
                self._busy[endpoint] = future
                futures.append(future)
        if wait:
            for future in futures:
                future.result()
        return len(claimed)

    def has_pending(self) -> bool:
        """Whether any webhook delivery waits to be sent (now or at a later retry)."""
        with Session(self.store.read_engine) as session:
            found = session.scalar(
                select(DeliveryRow.id).where(DeliveryRow.state == PENDING).limit(1)
            )
        return found is not None

    def drain(self, *, rounds: int = 100) -> int:
        """Run rounds until nothing is due (retries scheduled later are left). Returns the
        number of deliveries claimed in all."""
        total = 0
        for _ in range(rounds):
            n = self.run_once(wait=True)
            total += n
            if n == 0:
                break
        return total

    def serve(self, stop: threading.Event, *, poll_s: float = 0.5) -> None:
        """Deliver until ``stop`` is set (a worker's loop)."""
        while not stop.is_set():
            if self.run_once(wait=False) == 0:
                stop.wait(poll_s)

    def close(self) -> None:
        """Wait for running tasks and release the threads."""
        self._pool.shutdown(wait=True)
