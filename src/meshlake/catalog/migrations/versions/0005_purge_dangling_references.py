"""purge grants and tag assignments that point at deleted objects

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 22:55:00

Earlier versions dropped a table without the tag assignments of its columns and the grants of
its data filters. SQLite hands a deleted row's id to the next row, so a later column or filter
could have inherited them. This removes every grant and tag assignment whose target no longer
exists; the code now deletes them with their object.
"""

from typing import Sequence, Union

from alembic import op


revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# (table, kind, the table holding the target ids)
DANGLING = (
    ("ml_tag_assignments", "database", "ml_databases"),
    ("ml_tag_assignments", "table", "ml_tables"),
    ("ml_tag_assignments", "column", "ml_columns"),
    ("ml_grants", "database", "ml_databases"),
    ("ml_grants", "table_wildcard", "ml_databases"),
    ("ml_grants", "table", "ml_tables"),
    ("ml_grants", "filter", "ml_data_filters"),
    ("ml_grants", "location", "ml_locations"),
    ("ml_grants", "tag", "ml_tag_keys"),
)


def upgrade() -> None:
    """Delete references to objects that no longer exist."""
    for table, kind, targets in DANGLING:
        op.execute(
            f"DELETE FROM {table} WHERE kind = '{kind}' "
            f"AND target_id NOT IN (SELECT id FROM {targets})"
        )


def downgrade() -> None:
    """Nothing to restore: the deleted rows pointed at nothing."""
