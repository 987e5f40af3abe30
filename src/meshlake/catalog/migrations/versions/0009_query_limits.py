"""workgroup query limits; execution bytes scanned and cancel requests

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 06:15:00

Workgroups get ``max_runtime_s`` (default 300), ``memory_limit`` (DuckDB's spelling, e.g.
``2GB``; NULL = the engine's default) and ``max_bytes_scanned`` (NULL = no limit). Executions
get ``bytes_scanned`` (the planned files' size) and ``cancel_requested_by`` (set by a cancel
from another process; the process running the query polls for it).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add the limit columns (plain ADD COLUMN: no table rebuild)."""
    op.add_column(
        "ml_workgroups",
        sa.Column("max_runtime_s", sa.Integer(), server_default="300", nullable=False),
    )
    op.add_column("ml_workgroups", sa.Column("memory_limit", sa.String(32), nullable=True))
    op.add_column("ml_workgroups", sa.Column("max_bytes_scanned", sa.BigInteger(), nullable=True))
    op.add_column(
        "ml_query_executions",
        sa.Column("bytes_scanned", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "ml_query_executions",
        sa.Column("cancel_requested_by", sa.String(260), nullable=True),
    )


def downgrade() -> None:
    """Drop the limit columns."""
    with op.batch_alter_table("ml_query_executions") as batch:
        batch.drop_column("cancel_requested_by")
        batch.drop_column("bytes_scanned")
    with op.batch_alter_table("ml_workgroups") as batch:
        batch.drop_column("max_bytes_scanned")
        batch.drop_column("memory_limit")
        batch.drop_column("max_runtime_s")
