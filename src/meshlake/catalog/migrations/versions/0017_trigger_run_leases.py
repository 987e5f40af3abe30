"""leases of trigger runs

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:20:00

A running trigger run holds a lease its runner renews while the action runs; a run whose
lease ran out (its runner was killed) is taken back and retried by another runner.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0017"
down_revision: Union[str, Sequence[str], None] = "0016"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add ml_trigger_runs.lease_until (a plain ADD COLUMN: no table rebuild on SQLite) and
    an index on the runs' state (runners look for running and retrying runs)."""
    op.add_column(
        "ml_trigger_runs", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_ml_trigger_runs_state"), "ml_trigger_runs", ["state"], unique=False)


def downgrade() -> None:
    """Drop the index and ml_trigger_runs.lease_until."""
    op.drop_index(op.f("ix_ml_trigger_runs_state"), table_name="ml_trigger_runs")
    with op.batch_alter_table("ml_trigger_runs", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
