"""Store tables of the events domain: the outbox, subscriptions, deliveries, relay cursors.

The alembic migration ``catalog/migrations/versions/0011_events.py`` creates them. An event
row is written in the same transaction as the change it reports (the transactional outbox);
deliveries fan it out, in that same transaction, to every subscription it matches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import ID, Base

__all__ = [
    "DeliveryRow",
    "DriftReportRow",
    "EventCursorRow",
    "EventRow",
    "SubscriptionRow",
    "TriggerRow",
    "TriggerRunRow",
    "WatchedFileRow",
]


class EventRow(Base):
    """One event of the outbox (a CloudEvents 1.0 event once rendered).

    ``id`` is the mesh-wide position; ``seq`` the position among the events of ``source``.
    ``resource`` names what the event is about (a resource dict: its kind and names), which
    decides who may see it; ``product``, ``database`` and ``model_group`` are the keys
    subscriptions match on (``account/name``).
    """

    __tablename__ = "ml_events"
    __table_args__ = (UniqueConstraint("source", "seq"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(260))
    seq: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(Text)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    principal: Mapped[str] = mapped_column(String(260))
    accounts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    resource: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    product: Mapped[str | None] = mapped_column(String(260), nullable=True, index=True)
    database: Mapped[str | None] = mapped_column(String(260), nullable=True, index=True)
    model_group: Mapped[str | None] = mapped_column(String(260), nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SubscriptionRow(Base):
    """A principal's subscription: to a product, database, model group or event type.

    Without ``url`` it feeds the principal's inbox; with one it is a webhook whose deliveries
    are signed with ``secret``.
    """

    __tablename__ = "ml_subscriptions"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(260), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # product | database | model_group | type
    target: Mapped[str] = mapped_column(String(260))  # account/name, or a type pattern
    types: Mapped[list[Any]] = mapped_column(JSON, default=list)  # type patterns; [] = all
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """One event for one subscription: an inbox entry or a webhook delivery.

    States: ``inbox`` (read when ``read_at`` is set), ``pending`` (a webhook delivery due at
    ``next_attempt_at``), ``delivered``, ``dead`` (failed ``attempts`` times: the dead
    letters), ``skipped`` (the subscriber may no longer see the event).
    A worker claims a pending delivery by setting ``lease_until`` (PostgreSQL:
    ``FOR UPDATE SKIP LOCKED``).
    """

    __tablename__ = "ml_deliveries"
    __table_args__ = (
        UniqueConstraint("event_pk", "subscription_id"),
        Index("ix_ml_deliveries_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("ml_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("ml_subscriptions.id", ondelete="CASCADE"), index=True
    )
    principal: Mapped[str] = mapped_column(String(260), index=True)
    endpoint: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventCursorRow(Base):
    """How far a relay (a broker transport) has carried the outbox: the last event id sent."""

    __tablename__ = "ml_event_cursors"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(ID, default=0)


class TriggerRow(Base):
    """``on <type pattern> [where <data field = value ...>] do <action>`` of one account, run
    as its ``owner`` (who must be able to see the event and do the action)."""

    __tablename__ = "ml_triggers"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(260))
    on: Mapped[str] = mapped_column(String(64))
    where: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    action: Mapped[str] = mapped_column(String(32))  # recrawl | pipeline | drift_check
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TriggerRunRow(Base):
    """One trigger's run for one event (unique: a trigger acts at most once per event)."""

    __tablename__ = "ml_trigger_runs"
    __table_args__ = (UniqueConstraint("trigger_id", "event_pk"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    trigger_id: Mapped[int] = mapped_column(
        ForeignKey("ml_triggers.id", ondelete="CASCADE"), index=True
    )
    event_pk: Mapped[int] = mapped_column(ForeignKey("ml_events.id", ondelete="CASCADE"))
    # running | retrying (due at next_attempt_at) | succeeded | failed | skipped
    state: Mapped[str] = mapped_column(String(16), index=True)
    claimed_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # while running: renewed by the runner; once past, the run is taken back and retried
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DriftReportRow(Base):
    """A drift check's report (its plots are files of the mesh home's ``drift/<id>/``,
    served by the triggers facade; no event carries their path)."""

    __tablename__ = "ml_drift_reports"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    principal: Mapped[str] = mapped_column(String(260))
    trigger: Mapped[str | None] = mapped_column(String(128), nullable=True)
    product: Mapped[str | None] = mapped_column(String(260), nullable=True)
    resource: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reference_snapshot: Mapped[int | None] = mapped_column(ID, nullable=True)
    current_snapshot: Mapped[int | None] = mapped_column(ID, nullable=True)
    drifted: Mapped[bool] = mapped_column(default=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WatchedFileRow(Base):
    """The fingerprint (size, mtime) of a file seen in a watched location."""

    __tablename__ = "ml_watched_files"
    __table_args__ = (
        UniqueConstraint("account", "location", "path"),
        Index("ix_ml_watched_files_location", "account", "location"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(128))
    location: Mapped[str] = mapped_column(String(1024))
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(ID)
    mtime_ns: Mapped[int] = mapped_column(ID)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
