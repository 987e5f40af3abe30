"""events: outbox, subscriptions, deliveries, relay cursors

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:00:00

The transactional outbox (``ml_events``, written in the unit of work of the change it
reports), subscriptions (inbox or webhook), one delivery row per (event, subscription), and
the cursors of broker relays; triggers and their runs (one per trigger and event).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ml_events, ml_subscriptions, ml_deliveries and ml_event_cursors."""
    op.create_table(
        "ml_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=260), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("accounts", sa.JSON(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=True),
        sa.Column("product", sa.String(length=260), nullable=True),
        sa.Column("database", sa.String(length=260), nullable=True),
        sa.Column("model_group", sa.String(length=260), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_ml_events_event_id")),
        sa.UniqueConstraint("source", "seq", name=op.f("uq_ml_events_source")),
    )
    with op.batch_alter_table("ml_events", schema=None) as batch_op:
        for column in ("type", "product", "database", "model_group"):
            batch_op.create_index(batch_op.f(f"ix_ml_events_{column}"), [column], unique=False)

    op.create_table(
        "ml_subscriptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=260), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_subscriptions")),
    )
    with op.batch_alter_table("ml_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ml_subscriptions_principal"), ["principal"], unique=False
        )

    op.create_table(
        "ml_deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_pk", ID, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("read_at", TS, nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["ml_events.id"],
            name=op.f("fk_ml_deliveries_event_pk_ml_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["ml_subscriptions.id"],
            name=op.f("fk_ml_deliveries_subscription_id_ml_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_deliveries")),
        sa.UniqueConstraint("event_pk", "subscription_id", name=op.f("uq_ml_deliveries_event_pk")),
    )
    with op.batch_alter_table("ml_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_ml_deliveries_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ml_deliveries_subscription_id"), ["subscription_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ml_deliveries_principal"), ["principal"], unique=False)

    op.create_table(
        "ml_event_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("position", ID, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ml_event_cursors")),
    )

    op.create_table(
        "ml_triggers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=260), nullable=False),
        sa.Column("on", sa.String(length=64), nullable=False),
        sa.Column("where", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_triggers")),
        sa.UniqueConstraint("account", "name", name=op.f("uq_ml_triggers_account")),
    )
    op.create_table(
        "ml_trigger_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("trigger_id", ID, nullable=False),
        sa.Column("event_pk", ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["ml_triggers.id"],
            name=op.f("fk_ml_trigger_runs_trigger_id_ml_triggers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["ml_events.id"],
            name=op.f("fk_ml_trigger_runs_event_pk_ml_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_trigger_runs")),
        sa.UniqueConstraint("trigger_id", "event_pk", name=op.f("uq_ml_trigger_runs_trigger_id")),
    )
    with op.batch_alter_table("ml_trigger_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ml_trigger_runs_trigger_id"), ["trigger_id"], unique=False
        )


def downgrade() -> None:
    """Drop the events tables."""
    for table in (
        "ml_trigger_runs",
        "ml_triggers",
        "ml_event_cursors",
        "ml_deliveries",
        "ml_subscriptions",
        "ml_events",
    ):
        op.drop_table(table)
