"""The change log: every governance table has its triggers, rows are stamped at the bump."""

from __future__ import annotations

from sqlalchemy import select, text

import meshlake
from meshlake.catalog.models import PENDING_VERSION, ChangeRow
from meshlake.catalog.store import GROUP_OF_TABLE


def test_every_governance_table_has_its_change_triggers(mesh: meshlake.Mesh) -> None:
    store = mesh.runtime.store
    with store.read() as session:
        if store.is_sqlite:
            names = set(
                session.scalars(text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'"))
            )
        else:
            names = set(
                session.scalars(
                    text(
                        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE t.tgname = 'ml_log'"
                    )
                )
            )
    assert names >= set(GROUP_OF_TABLE)


def test_a_write_is_logged_pending_then_stamped_with_its_version(mesh: meshlake.Mesh) -> None:
    store = mesh.runtime.store
    with store.transaction() as session:
        session.connection().exec_driver_sql(
            "INSERT INTO ml_accounts (name, description, created_at) "
            "VALUES ('q', '', CURRENT_TIMESTAMP)"
        )
        pending = session.execute(select(ChangeRow.version, ChangeRow.tbl, ChangeRow.key)).all()
        assert (PENDING_VERSION, "ml_accounts", "q") in pending
    with store.read() as session:
        rows = session.execute(select(ChangeRow.version).where(ChangeRow.key == "q")).all()
    assert rows == [(store.version(),)]


def test_a_cascade_is_logged(mesh: meshlake.Mesh) -> None:
    root = mesh.session("root")
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint"}, [])
    store = mesh.runtime.store
    before = store.version()
    with store.transaction() as session:  # the columns go by ON DELETE CASCADE
        session.connection().exec_driver_sql("DELETE FROM ml_tables")
    with store.read() as session:
        logged = set(
            session.execute(select(ChangeRow.tbl).where(ChangeRow.version > before)).scalars()
        )
    assert logged == {"ml_tables", "ml_columns"}
