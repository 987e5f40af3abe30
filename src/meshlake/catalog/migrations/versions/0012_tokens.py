"""bearer tokens of the server

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:00:00

One row per token: its id (the public prefix of the token text), its principal and account,
the SHA-256 of the token text (never the token), its expiry and revocation.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create ml_tokens."""
    op.create_table(
        "ml_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=260), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=260), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_tokens")),
    )
    with op.batch_alter_table("ml_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ml_tokens_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_ml_tokens_principal"), ["principal"], unique=False)


def downgrade() -> None:
    """Drop ml_tokens."""
    with op.batch_alter_table("ml_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ml_tokens_principal"))
        batch_op.drop_index(batch_op.f("ix_ml_tokens_account"))
    op.drop_table("ml_tokens")
