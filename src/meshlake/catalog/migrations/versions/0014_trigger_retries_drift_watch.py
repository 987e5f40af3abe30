"""trigger retries, drift reports, watched files

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:45:00

Trigger runs get an attempt count and the time of their next attempt (failed runs are
retried with backoff); drift checks keep their reports (``ml_drift_reports``); the location
watcher keeps the fingerprint of every file it has seen (``ml_watched_files``).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the retry columns; create ml_drift_reports and ml_watched_files."""
    with op.batch_alter_table("ml_trigger_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", TS, nullable=True))
    with op.batch_alter_table("ml_trigger_runs", schema=None) as batch_op:
        batch_op.alter_column("attempts", server_default=None)
    op.create_table(
        "ml_drift_reports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("trigger", sa.String(length=128), nullable=True),
        sa.Column("product", sa.String(length=260), nullable=True),
        sa.Column("resource", sa.JSON(), nullable=True),
        sa.Column("reference_snapshot", ID, nullable=True),
        sa.Column("current_snapshot", ID, nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("plots", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_drift_reports")),
    )
    with op.batch_alter_table("ml_drift_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_drift_reports_account"), ["account"], unique=False)
    op.create_table(
        "ml_watched_files",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", ID, nullable=False),
        sa.Column("mtime_ns", ID, nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_watched_files")),
        sa.UniqueConstraint(
            "account", "location", "path", name=op.f("uq_ml_watched_files_account")
        ),
    )
    with op.batch_alter_table("ml_watched_files", schema=None) as batch_op:
        batch_op.create_index("ix_ml_watched_files_location", ["account", "location"], unique=False)


def downgrade() -> None:
    """Drop ml_watched_files and ml_drift_reports; remove the retry columns."""
    op.drop_table("ml_watched_files")
    op.drop_table("ml_drift_reports")
    with op.batch_alter_table("ml_trigger_runs", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
