"""ml: jobs, model groups and versions, pipeline executions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 06:00:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ml_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_jobs")),
    )
    with op.batch_alter_table("ml_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ml_jobs_cache", ["principal", "kind", "fingerprint", "state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ml_jobs_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_ml_jobs_principal"), ["principal"], unique=False)

    op.create_table(
        "ml_model_groups",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(length=260), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["ml_accounts.name"],
            name=op.f("fk_ml_model_groups_account_ml_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model_groups")),
        sa.UniqueConstraint("account", "name", name=op.f("uq_ml_model_groups_account")),
    )

    op.create_table(
        "ml_model_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=260), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=260), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["ml_model_groups.id"],
            name=op.f("fk_ml_model_versions_group_id_ml_model_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_model_versions")),
        sa.UniqueConstraint("group_id", "version", name=op.f("uq_ml_model_versions_group_id")),
    )

    op.create_table(
        "ml_pipeline_executions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=False),
        sa.Column("principal", sa.String(length=260), nullable=False),
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_pipeline_executions")),
    )
    with op.batch_alter_table("ml_pipeline_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ml_pipeline_executions_pipeline"), ["pipeline"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ml_pipeline_executions_principal"), ["principal"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ml_pipeline_executions")
    op.drop_table("ml_model_versions")
    op.drop_table("ml_model_groups")
    op.drop_table("ml_jobs")
