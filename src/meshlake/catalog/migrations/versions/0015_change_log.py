"""a change log of the governance rows, written by triggers

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 08:40:00

Every row written in a table the governance state holds (insert, update or delete, cascades
included, whoever issues the statement) leaves ``(version, table, key)`` in ``ml_changes``:
``key`` names what a reload must read again (a table's id for its own row and for each of
its columns, a tag key's id for its values, ``kind:target`` for a tag assignment ...).
The row is written with version -1 (pending) and stamped with the store version when its
transaction bumps it; a process holding the state of version ``v`` reads the rows above
``v`` and re-reads only what they name.

The log replaces ``ml_grants.changed_version`` (migration ``0006``), which is dropped.

A later migration that rebuilds one of these tables (SQLite batch mode recreates it) drops
its triggers with it and must create them again (``tests/catalog/test_change_log.py``
checks that every logged table has them).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table -> the key written for a row of it ({row} is NEW or OLD)
KEYS: dict[str, str] = {
    "ml_accounts": "{row}.name",
    "ml_principals": "{row}.id",
    "ml_account_admins": "{row}.account",
    "ml_databases": "{row}.id",
    "ml_tables": "{row}.id",
    "ml_columns": "{row}.table_id",
    "ml_locations": "{row}.id",
    "ml_tag_keys": "{row}.id",
    "ml_tag_values": "{row}.key_id",
    "ml_tag_assignments": "{row}.kind || ':' || {row}.target_id",
    "ml_data_filters": "{row}.id",
    "ml_grants": "{row}.id",
    "ml_model_groups": "{row}.id",
}


def _sqlite(table: str, key: str) -> list[str]:
    def insert(row: str, where: str = "") -> str:
        value = f"CAST({key.format(row=row)} AS TEXT)"
        return (
            f"INSERT OR IGNORE INTO ml_changes (version, tbl, key) "
            f"SELECT -1, '{table}', {value}{where};"
        )

    new, old = key.format(row="NEW"), key.format(row="OLD")
    return [
        f"CREATE TRIGGER ml_log_{table}_i AFTER INSERT ON {table} BEGIN {insert('NEW')} END",
        f"CREATE TRIGGER ml_log_{table}_u AFTER UPDATE ON {table} BEGIN {insert('OLD')} "
        f"{insert('NEW', f' WHERE {new} IS NOT {old}')} END",
        f"CREATE TRIGGER ml_log_{table}_d AFTER DELETE ON {table} BEGIN {insert('OLD')} END",
    ]


def _postgresql(table: str, key: str) -> list[str]:
    def insert(row: str) -> str:
        return (
            f"INSERT INTO ml_changes (version, tbl, key) VALUES "
            f"(-1, '{table}', ({key.format(row=row)})::text) ON CONFLICT DO NOTHING;"
        )

    return [
        f"CREATE FUNCTION ml_log_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN {insert('OLD')} END IF; "
        f"IF TG_OP <> 'DELETE' THEN {insert('NEW')} END IF; "
        "RETURN NULL; END $$",
        f"CREATE TRIGGER ml_log AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION ml_log_{table}()",
    ]


def upgrade() -> None:
    """Drop ml_grants.changed_version; create ml_changes and the triggers that fill it."""
    op.drop_index(op.f("ix_ml_grants_changed_version"), table_name="ml_grants")
    with op.batch_alter_table("ml_grants") as batch:  # rebuilt on SQLite: no table refers to it
        batch.drop_column("changed_version")
    op.create_table(
        "ml_changes",
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("tbl", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("version", "tbl", "key", name=op.f("pk_ml_changes")),
    )
    make = _sqlite if op.get_bind().dialect.name == "sqlite" else _postgresql
    for table, key in KEYS.items():
        for statement in make(table, key):
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and ml_changes; give ml_grants.changed_version back (0: every
    grant older than any state loaded after the downgrade)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in KEYS:
        if sqlite:
            for suffix in ("i", "u", "d"):
                op.execute(f"DROP TRIGGER IF EXISTS ml_log_{table}_{suffix}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS ml_log ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS ml_log_{table}()")
    op.drop_table("ml_changes")
    op.add_column(
        "ml_grants",
        sa.Column("changed_version", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index(
        op.f("ix_ml_grants_changed_version"), "ml_grants", ["changed_version"], unique=False
    )
