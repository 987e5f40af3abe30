"""grants carry the store version that last wrote them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:50:00

A reload after a grant change reads only the grants written since the previous load
(``changed_version`` above its mark) plus the list of ids (for revoked grants), instead of
every grant. Existing rows get 0: they are older than any state loaded after this upgrade.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Add ml_grants.changed_version (indexed)."""
    # a plain ADD COLUMN (no table rebuild: rebuilding would cascade-delete child rows)
    op.add_column(
        "ml_grants",
        sa.Column("changed_version", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(
        op.f("ix_ml_grants_changed_version"), "ml_grants", ["changed_version"], unique=False
    )


def downgrade() -> None:
    """Drop ml_grants.changed_version."""
    op.drop_index(op.f("ix_ml_grants_changed_version"), table_name="ml_grants")
    with op.batch_alter_table("ml_grants") as batch:
        batch.drop_column("changed_version")
