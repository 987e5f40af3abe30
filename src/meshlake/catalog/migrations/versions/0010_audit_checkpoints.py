"""signed checkpoints of the audit chain head

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:10:00

The store's copy of every digest file written to the audit digest folder: which event was
the head (seq, hash), how many events the chain held, and the HMAC signature.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Create ml_audit_checkpoints."""
    op.create_table(
        "ml_audit_checkpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("digest_file", sa.String(length=128), nullable=False),
        sa.Column("digest_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_audit_checkpoints")),
        sa.UniqueConstraint("digest_sha256", name=op.f("uq_ml_audit_checkpoints_digest_sha256")),
    )


def downgrade() -> None:
    """Drop ml_audit_checkpoints."""
    op.drop_table("ml_audit_checkpoints")
