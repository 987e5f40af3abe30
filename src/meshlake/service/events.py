"""Events facade: subscriptions, the inbox, webhook dead letters, and dispatch wiring.

Facades emit events with :meth:`Unit.emit` in the unit of work of their change (the outbox);
this module builds the scopes they pass (who may see an event, which subscriptions match),
decides visibility on the governance engine at read and delivery time, and runs the
in-process dispatchers that send webhook deliveries and run triggers right after a commit
(embedded mode; ``meshlake worker`` does the same from another process).
``MESHLAKE_EVENTS_DISPATCH=worker`` leaves both to workers.
"""

from __future__ import annotations

import builtins
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from meshlake.catalog.event_models import DeliveryRow, EventRow, SubscriptionRow, TriggerRow
from meshlake.errors import AccessDeniedError, InvalidInputError, NotFoundError
from meshlake.events import EventRecord, EventScope
from meshlake.events.cloud import aware
from meshlake.events.delivery import CanSee, Dispatcher
from meshlake.governance.models import find_model_group
from meshlake.governance.state import GovernanceState
from meshlake.ids import ROOT
from meshlake.resources import Database, ModelGroup, Resource, Table, resource_to_dict
from meshlake.service.runtime import MeshRuntime, ServiceBase

if TYPE_CHECKING:
    from meshlake.service.triggers import TriggersAPI

__all__ = [
    "DISPATCH_ENV",
    "EventsAPI",
    "InboxItem",
    "Subscription",
    "after_commit",
    "database_scope",
    "dispatcher",
    "make_can_see",
    "model_group_scope",
    "table_scope",
    "target_scope",
]

log = logging.getLogger(__name__)

DISPATCH_ENV = "MESHLAKE_EVENTS_DISPATCH"
KINDS = ("product", "database", "model_group", "type")
_DISPATCHER = "events.dispatcher"
_BACKGROUND = "events.background"
_TRIGGER_BACKGROUND = "events.triggers.background"
_HOOKED = "meshlake.events.hooked"
_WANTED = "meshlake.events.wanted"
_TRIGGERS = "meshlake.events.has_triggers"
_KICK_LOCK = threading.Lock()


# ---------------------------------------------------------------------- scopes
def table_scope(
    account: str, database: str, table: str, *, product: str | None = None, extra: str = ""
) -> EventScope:
    """An event about a table (seen with DESCRIBE on it; matches its database and product)."""
    return EventScope(
        resource=resource_to_dict(Table(database, table, account=account)),
        accounts=(account, extra),
        product=product,
        database=f"{account}/{database}",
    )


def database_scope(account: str, database: str) -> EventScope:
    """An event about a database (seen with DESCRIBE on it)."""
    return EventScope(
        resource=resource_to_dict(Database(database, account=account)),
        accounts=(account,),
        database=f"{account}/{database}",
    )


def model_group_scope(account: str, name: str, *extra: str) -> EventScope:
    """An event about a model group (seen with DESCRIBE on it)."""
    return EventScope(
        resource=resource_to_dict(ModelGroup(name, account=account)),
        accounts=(account, *extra),
        model_group=f"{account}/{name}",
    )


def target_scope(st: GovernanceState, kind: str, target_id: int, *accounts: str) -> EventScope:
    """The scope of an event about a grant target (a database or table: seen with DESCRIBE
    on it; anything else: the accounts' admins and the actor)."""
    if kind == "database" and target_id in st.databases:
        db = st.databases[target_id]
        return replace(database_scope(db.account, db.name), accounts=(db.account, *accounts))
    if kind == "table" and target_id in st.tables:
        t = st.tables[target_id]
        db = st.databases[t.database_id]
        return replace(table_scope(db.account, db.name, t.name), accounts=(db.account, *accounts))
    return EventScope(accounts=tuple(accounts))


def _resource(data: dict[str, Any]) -> Resource | None:
    kind = data.get("kind")
    fields = {k: v for k, v in data.items() if k != "kind"}
    for cls in (Database, Table, ModelGroup):
        if cls.__name__.lower() == kind:
            for key in ("columns", "excluded_columns"):
                if key in fields:
                    fields[key] = tuple(fields[key])
            return cls(**fields)
    return None


# ---------------------------------------------------------------------- visibility
def make_can_see(rt: MeshRuntime) -> CanSee:
    """Who may see an event *now*: its actor, root, admins of its accounts, and whoever
    holds DESCRIBE on its resource (a revoked consumer stops seeing it at once)."""

    def can_see(principal: str, row: EventRow) -> bool:
        if principal in (row.principal, ROOT):
            return True
        st = rt.engine.state()
        if any(st.is_admin(principal, a) for a in row.accounts or []):
            return True
        resource = _resource(row.resource) if row.resource else None
        if resource is None:
            return False
        return rt.engine.decide(principal, "DESCRIBE", resource, st).allowed

    return can_see


# ---------------------------------------------------------------------- dispatch
def dispatcher(rt: MeshRuntime, **options: Any) -> Dispatcher:
    """The mesh's webhook dispatcher (one per runtime; ``options`` apply on creation), held
    to the mesh's webhook destination policy."""
    found = rt.extras.get(_DISPATCHER)
    if found is None:
        found = rt.extras[_DISPATCHER] = Dispatcher(
            rt.store, make_can_see(rt), policy=rt.webhooks, **options
        )
    return found


class _Background:
    """Runs ``work`` in a daemon thread, woken after each commit that needs it (and once a
    second while ``work`` reports more to do, e.g. retries). ``work()`` returns whether it
    did or still has something to do. The thread ends after ``IDLE_S`` idle seconds (the
    next commit that needs it starts a new one)."""

    IDLE_S = 30.0

    def __init__(self, name: str, work: Callable[[bool], bool]) -> None:
        self.work = work
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ended = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def kick(self) -> bool:
        """Wake the thread; False when it has ended (start a new one)."""
        with self.lock:
            if self.ended:
                return False
            self.wake.set()
            return True

    def _loop(self) -> None:
        idle = 0.0
        while not self.stop.is_set():
            woken = self.wake.wait(1.0)
            self.wake.clear()
            try:
                busy = self.work(woken)
            except Exception as exc:  # the store closed or is unreachable: try again later
                log.debug("background event work failed: %s", exc)
                busy = False
            idle = 0.0 if busy else idle + 1.0
            if idle >= self.IDLE_S:
                with self.lock:
                    if not self.wake.is_set():
                        self.ended = True
                        return


def _send_webhooks(rt: MeshRuntime) -> Callable[[bool], bool]:
    hooks = dispatcher(rt)

    def work(woken: bool) -> bool:
        return hooks.run_once(wait=False) > 0 or woken or hooks.has_pending()

    return work


def _webhook_background(rt: MeshRuntime) -> _Background:
    background = _Background("meshlake-events", _send_webhooks(rt))
    # an endpoint's task ending wakes the thread to claim what arrived for it meanwhile
    dispatcher(rt).after_task = background.wake.set
    return background


def _run_triggers(rt: MeshRuntime) -> Callable[[bool], bool]:
    from meshlake.service.triggers import trigger_runner

    runner = trigger_runner(rt)

    def work(woken: bool) -> bool:
        return runner.run_once() > 0 or woken or runner.busy(running=False)

    return work


def _kick(rt: MeshRuntime, key: str, make: Callable[[], _Background]) -> None:
    with _KICK_LOCK:
        background = rt.extras.get(key)
        if background is None or not background.kick():
            background = rt.extras[key] = make()
            background.kick()


_ACTIVE_TRIGGER = select(TriggerRow.id).where(TriggerRow.active.is_(True)).limit(1)


def _has_triggers(session: Session) -> bool:
    """Whether any trigger is active (asked once per unit, with a prebuilt statement)."""
    found = session.info.get(_TRIGGERS)
    if found is None:
        row = session.connection().execute(_ACTIVE_TRIGGER)
        found = session.info[_TRIGGERS] = row.first() is not None
    return bool(found)


def after_commit(rt: MeshRuntime, session: Session, *, webhooks: bool = True) -> None:
    """Right after the unit's commit (embedded mode), send its webhook deliveries and run
    the triggers its events may fire, each in a daemon thread of the runtime. Nothing runs
    while the transaction is open, and the caller never waits."""
    if os.environ.get(DISPATCH_ENV, "embedded") != "embedded":
        return
    wanted = session.info.setdefault(_WANTED, set())
    if webhooks:
        wanted.add(_BACKGROUND)
    if _has_triggers(session):
        wanted.add(_TRIGGER_BACKGROUND)
    if not wanted or session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True

    def reset(_session: Session) -> None:
        for key in (_HOOKED, _WANTED, _TRIGGERS):
            _session.info.pop(key, None)

    def kick(_session: Session) -> None:
        todo = set(_session.info.get(_WANTED) or ())
        reset(_session)
        if _BACKGROUND in todo:
            _kick(rt, _BACKGROUND, lambda: _webhook_background(rt))
        if _TRIGGER_BACKGROUND in todo:
            _kick(
                rt,
                _TRIGGER_BACKGROUND,
                lambda: _Background("meshlake-triggers", _run_triggers(rt)),
            )

    sa_event.listen(session, "after_commit", kick, once=True)
    sa_event.listen(session, "after_rollback", reset, once=True)


# ---------------------------------------------------------------------- views
@dataclass(frozen=True)
class Subscription:
    """A subscription (``secret`` is shown only by :meth:`EventsAPI.subscribe`)."""

    id: int
    principal: str
    kind: str
    target: str
    types: tuple[str, ...]
    url: str | None
    secret: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "principal": self.principal,
            "kind": self.kind,
            "target": self.target,
            "types": list(self.types),
            "url": self.url,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class InboxItem:
    """An event in a principal's inbox."""

    event: EventRecord
    read: bool

    @property
    def id(self) -> str:
        """The event's CloudEvents id (what :meth:`EventsAPI.mark_read` takes)."""
        return self.event.id

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the CloudEvent and the read flag."""
        return {"event": self.event.to_dict(), "read": self.read}


def _subscription(row: SubscriptionRow, secret: str | None = None) -> Subscription:
    return Subscription(
        row.id,
        row.principal,
        row.kind,
        row.target,
        tuple(row.types or ()),
        row.url,
        secret,
        aware(row.created_at),
    )


class EventsAPI(ServiceBase):
    """Subscriptions, the inbox, webhook dead letters."""

    # ------------------------------------------------------------------ subscribe
    def subscribe(
        self,
        *,
        product: str | None = None,
        database: str | None = None,
        model_group: str | None = None,
        type: str | None = None,
        account: str | None = None,
        types: builtins.list[str] | None = None,
        url: str | None = None,
        secret: str | None = None,
    ) -> Subscription:
        """Subscribe to the events of one product, database, model group, or event type
        pattern (``product.*``), optionally narrowed to ``types``.

        Without ``url`` events land in the inbox; with one they are POSTed there, signed with
        ``secret`` (generated when not given, and returned only here). The URL must lead
        where the mesh's webhook policy allows (``events/destinations.py``: public addresses
        unless ``webhook_allowed_hosts`` says otherwise); it is checked again before every
        delivery.

        Raises:
            InvalidInputError: not exactly one target, or a URL that is malformed or leads
                where this mesh sends no webhooks.
            NotFoundError: the product, database or model group is missing or invisible.
        """
        named = {
            k: v
            for k, v in {
                "product": product,
                "database": database,
                "model_group": model_group,
                "type": type,
            }.items()
            if v is not None
        }
        if len(named) != 1:
            raise InvalidInputError(
                "subscribe to exactly one of product, database, model_group, type"
            )
        ((kind, name),) = named.items()
        target = self._target(kind, name, account)
        if url is not None:
            self.rt.webhooks.check(url)  # resolves the host: before the unit, without locks
            secret = secret or secrets.token_hex(32)
        with self.change(
            "subscribe", f"subscription:{kind}:{target}", [self.account], bump=False
        ) as (session, record):
            row = SubscriptionRow(
                principal=self.principal,
                kind=kind,
                target=target,
                types=sorted(types or []),
                url=url,
                secret=secret if url else None,
                active=True,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            record["after"] = {"id": row.id, "url": url, "types": row.types}
            return _subscription(row, secret if url else None)

    def _target(self, kind: str, name: str, account: str | None) -> str:
        st = self.state()
        if kind == "type":
            return name
        if kind == "product":
            from meshlake.service.products import ProductsAPI

            ProductsAPI(self.rt, self.principal).get(name)  # NotFoundError when invisible
            return name
        if kind == "database":
            db = self.rt.engine.find_database(st, self.principal, name, account)
            if db is None or not self.rt.engine.database_visible(st, self.principal, db):
                raise NotFoundError(f"database {name} not found")
            target = self.rt.engine.link_target(st, db) or db
            return f"{target.account}/{target.name}"
        group = find_model_group(st, self.principal, name, account)
        if group is None:
            raise NotFoundError(f"model group {name} not found")
        return f"{group.account}/{group.name}"

    def unsubscribe(self, subscription_id: int) -> None:
        """End one of the caller's subscriptions (its undelivered webhook deliveries stay
        as they are; no new ones are made).

        Raises:
            NotFoundError: no such subscription of the caller.
        """
        with self.change(
            "unsubscribe", f"subscription:{subscription_id}", [self.account], bump=False
        ) as (session, _):
            row = session.get(SubscriptionRow, subscription_id)
            if row is None or row.principal != self.principal or not row.active:
                raise NotFoundError(f"subscription {subscription_id} not found")
            row.active = False

    def subscriptions(self) -> builtins.list[Subscription]:
        """The caller's active subscriptions."""
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(SubscriptionRow)
                .where(SubscriptionRow.principal == self.principal, SubscriptionRow.active)
                .order_by(SubscriptionRow.id)
            )
            return [_subscription(r) for r in rows]

    # ------------------------------------------------------------------ inbox
    def inbox(self, *, unread_only: bool = False, limit: int = 100) -> builtins.list[InboxItem]:
        """Events of the caller's inbox subscriptions that it may see now, oldest first."""
        query = (
            select(EventRow, DeliveryRow.read_at)
            .join(DeliveryRow, DeliveryRow.event_pk == EventRow.id)
            .where(DeliveryRow.principal == self.principal, DeliveryRow.state == "inbox")
            .order_by(EventRow.id)
        )
        if unread_only:
            query = query.where(DeliveryRow.read_at.is_(None))
        can_see = make_can_see(self.rt)
        seen: dict[int, InboxItem] = {}
        with self.rt.store.read() as session:
            for row, read_at in session.execute(query):
                if row.id in seen:
                    if read_at is None:  # read only when read through every subscription
                        seen[row.id] = InboxItem(seen[row.id].event, False)
                    continue
                if can_see(self.principal, row):
                    seen[row.id] = InboxItem(EventRecord.of(row), read_at is not None)
                if len(seen) >= limit:
                    break
        return list(seen.values())

    def mark_read(self, ids: builtins.list[str]) -> int:
        """Mark inbox events (CloudEvents ids) read; returns how many entries changed."""
        if not ids:
            return 0
        with self.unit(bump=False) as unit:
            pks = select(EventRow.id).where(EventRow.event_id.in_(ids))
            result = unit.session.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.principal == self.principal,
                    DeliveryRow.state == "inbox",
                    DeliveryRow.read_at.is_(None),
                    DeliveryRow.event_pk.in_(pks),
                )
                .values(read_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ webhooks
    def deliveries(
        self, *, state: str | None = None, subscription_id: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The caller's webhook deliveries (``state='dead'``: the dead letters)."""
        query = (
            select(DeliveryRow, EventRow.event_id, EventRow.type)
            .join(EventRow, EventRow.id == DeliveryRow.event_pk)
            .where(DeliveryRow.principal == self.principal, DeliveryRow.endpoint.is_not(None))
            .order_by(DeliveryRow.id)
        )
        if state is not None:
            query = query.where(DeliveryRow.state == state)
        if subscription_id is not None:
            query = query.where(DeliveryRow.subscription_id == subscription_id)
        with self.rt.store.read() as session:
            return [
                {
                    "id": d.id,
                    "event_id": event_id,
                    "type": type_,
                    "subscription_id": d.subscription_id,
                    "endpoint": d.endpoint,
                    "state": d.state,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
                for d, event_id, type_ in session.execute(query)
            ]

    def dead_letters(self) -> builtins.list[dict[str, Any]]:
        """The caller's webhook deliveries that failed too often."""
        return self.deliveries(state="dead")

    def replay(self, ids: builtins.list[int] | None = None) -> int:
        """Queue dead letters again (``ids``: delivery ids; default every dead letter of the
        caller), with a fresh attempt count. Returns how many were queued."""
        with self.unit(bump=False) as unit:
            stmt = update(DeliveryRow).where(
                DeliveryRow.principal == self.principal, DeliveryRow.state == "dead"
            )
            if ids is not None:
                stmt = stmt.where(DeliveryRow.id.in_(ids))
            result = unit.session.execute(
                stmt.values(
                    state="pending",
                    attempts=0,
                    next_attempt_at=datetime.now(UTC),
                    lease_until=None,
                    claimed_by=None,
                ).execution_options(synchronize_session=False)
            )
            count = int(result.rowcount or 0)  # type: ignore[attr-defined]
            unit.audit(
                principal=self.principal,
                action="replay_deliveries",
                resource="deliveries",
                accounts=[self.account],
                data={"ids": ids, "count": count},
            )
        return count

    def watch(self) -> builtins.list[EventRecord]:
        """Look for files that landed in the caller's account's registered locations since
        the last look (admins; ``meshlake worker`` does it periodically for every account).
        Returns the ``location.files_added`` events emitted (one per location with news).

        Raises:
            AccessDeniedError: the caller is not an admin of its account.
        """
        from meshlake.service.watch import watch_locations

        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may watch its locations")
        return watch_locations(self.rt, self.account)

    @property
    def triggers(self) -> TriggersAPI:
        """Triggers of the caller's account (``on EVENT [where ...] do ACTION``)."""
        from meshlake.service.triggers import TriggersAPI

        return TriggersAPI(self.rt, self.principal)

    def deliver(self) -> int:
        """Send every due webhook delivery now (all subscribers', as a worker does) and wait.

        Returns:
            How many deliveries were attempted.
        """
        return dispatcher(self.rt).drain()
