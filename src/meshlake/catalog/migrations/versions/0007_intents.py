"""intent rows written before every Iceberg commit

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:20:00

A change that commits Iceberg first and the store second records its intent in the store
before the Iceberg commit, so that a process killed in between leaves a trace that repair
can finish (audit the committed change) or roll back (drop a half-created table).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create ml_intents."""
    op.create_table(
        "ml_intents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("iceberg_id", sa.String(300), nullable=False),
        sa.Column("principal", sa.String(260), nullable=False),
        sa.Column("owner", sa.String(300), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_ml_intents_iceberg_id", "ml_intents", ["iceberg_id"])
    op.create_index("ix_ml_intents_state", "ml_intents", ["state"])


def downgrade() -> None:
    """Drop ml_intents."""
    op.drop_index("ix_ml_intents_state", "ml_intents")
    op.drop_index("ix_ml_intents_iceberg_id", "ml_intents")
    op.drop_table("ml_intents")
