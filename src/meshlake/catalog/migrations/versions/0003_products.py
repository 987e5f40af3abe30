"""data products, product versions and access requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:05:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ml_products",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner_account", sa.String(length=128), nullable=False),
        sa.Column("table_account", sa.String(length=128), nullable=False),
        sa.Column("database", sa.String(length=128), nullable=False),
        sa.Column("table", sa.String(length=128), nullable=False),
        sa.Column("contract_yaml", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=260), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_account"],
            ["ml_accounts.name"],
            name=op.f("fk_ml_products_owner_account_ml_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_products")),
        sa.UniqueConstraint("name", name=op.f("uq_ml_products_name")),
    )
    op.create_table(
        "ml_product_versions",
        sa.Column("product_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", ID, nullable=True),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("bias", sa.JSON(), nullable=True),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.Column("changelog", sa.JSON(), nullable=False),
        sa.Column("published_by", sa.String(length=260), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["ml_products.id"],
            name=op.f("fk_ml_product_versions_product_id_ml_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "version", name=op.f("pk_ml_product_versions")),
    )
    op.create_table(
        "ml_access_requests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("product_id", ID, nullable=False),
        sa.Column("requester", sa.String(length=260), nullable=False),
        sa.Column("for_principal", sa.String(length=260), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=260), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["ml_products.id"],
            name=op.f("fk_ml_access_requests_product_id_ml_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_access_requests")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ml_access_requests")
    op.drop_table("ml_product_versions")
    op.drop_table("ml_products")
