"""asynchronous operations of the server

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:30:00

One row per operation (crawl, recipe run, ML job, pipeline run) started over HTTP: its
principal, state, result or error, and the lease its runner renews while it runs.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create ml_operations."""
    op.create_table(
        "ml_operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_operations")),
    )
    with op.batch_alter_table("ml_operations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_operations_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_ml_operations_state"), ["state"], unique=False)
        batch_op.create_index(
            "ix_ml_operations_principal_created", ["principal", "created_at"], unique=False
        )


def downgrade() -> None:
    """Drop ml_operations."""
    with op.batch_alter_table("ml_operations", schema=None) as batch_op:
        batch_op.drop_index("ix_ml_operations_principal_created")
        batch_op.drop_index(batch_op.f("ix_ml_operations_state"))
        batch_op.drop_index(batch_op.f("ix_ml_operations_account"))
    op.drop_table("ml_operations")
