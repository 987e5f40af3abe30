"""small query results kept with their execution record

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:40:00

A result of at most ``INLINE_RESULT_LIMIT`` bytes (Arrow IPC) is stored in the execution row's
``result_inline`` column instead of a Parquet file under the workgroup's result location:
writing and committing it with the record costs a fraction of creating a file. Expiry clears
it like it deletes a file.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add ml_query_executions.result_inline (plain ADD COLUMN: no table rebuild)."""
    op.add_column(
        "ml_query_executions", sa.Column("result_inline", sa.LargeBinary(), nullable=True)
    )


def downgrade() -> None:
    """Drop ml_query_executions.result_inline."""
    with op.batch_alter_table("ml_query_executions") as batch:
        batch.drop_column("result_inline")
