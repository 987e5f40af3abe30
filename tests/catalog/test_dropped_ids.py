"""Dropping a table leaves nothing that a later object could inherit through its row id.

SQLite gives a new row the largest id + 1, so the ids of the most recently created (and then
dropped) rows come back. Whatever pointed at a dropped table's columns or data filters must
go with them, or a new table would inherit its tags and a new filter its grants.
"""

from __future__ import annotations

import pytest

import meshlake


@pytest.fixture
def world(mesh: meshlake.Mesh) -> meshlake.Session:
    root = mesh.bootstrap()
    root.accounts.create("p")
    for name in ("admin", "reader"):
        root.principals.create(f"p/{name}")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.tags.create("pii", ["no", "yes"])
    return admin


def test_a_new_filter_does_not_inherit_a_dropped_filters_grant(
    world: meshlake.Session, mesh: meshlake.Mesh
) -> None:
    world.catalog.create_table("db", "old", {"id": "bigint", "region": "string"}, [[1, "eu"]])
    world.filters.create("db", "old", "eu", row_filter="region = 'eu'")
    world.grant("p/reader", meshlake.DataFilter("db", "old", "eu"), ["SELECT"])
    world.catalog.drop_table("db", "old")
    world.catalog.create_table("db", "new", {"id": "bigint", "region": "string"}, [[2, "us"]])
    world.filters.create("db", "new", "all", row_filter="id > 0")
    reader = mesh.session("p/reader")
    with pytest.raises(meshlake.NotFoundError):
        reader.query("SELECT * FROM db.new")
    assert reader.list_permissions() == []


def test_new_columns_do_not_inherit_a_dropped_tables_column_tags(
    world: meshlake.Session, mesh: meshlake.Mesh
) -> None:
    world.catalog.create_table("db", "old", {"id": "bigint", "note": "string"}, [[1, "x"]])
    world.tags.assign(meshlake.Column("db", "old", "note"), {"pii": "no"})
    world.catalog.drop_table("db", "old")
    world.catalog.create_table("db", "new", {"id": "bigint", "secret": "string"}, [[2, "s"]])
    assert world.tags.tags_of(meshlake.Column("db", "new", "secret")) == {}
    world.grant("p/reader", meshlake.TagPolicy("TABLE", {"pii": ["no"]}), ["SELECT"])
    with pytest.raises(meshlake.NotFoundError):
        mesh.session("p/reader").query("SELECT secret FROM db.new")


def test_the_upgrade_purges_references_left_by_earlier_versions(
    world: meshlake.Session, mesh: meshlake.Mesh
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from meshlake.catalog.store import MIGRATIONS

    world.catalog.create_table("db", "t", {"id": "bigint"}, [[1]])
    world.grant("p/reader", meshlake.Table("db", "t"), ["SELECT"])
    store = mesh.runtime.store
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        conn.execute(
            text(
                "INSERT INTO ml_tag_assignments (kind, target_id, key_id, value) "
                "SELECT 'column', 999999, id, 'no' FROM ml_tag_keys"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ml_grants (grantee, kind, target_account, target_id, spec, "
                "spec_key, permissions, grantable, grantor, bounded, created_at) "
                "SELECT grantee, 'filter', target_account, 999999, spec, spec_key, "
                "permissions, grantable, grantor, bounded, created_at FROM ml_grants "
                "WHERE kind = 'table'"
            )
        )
    store.migrate()
    with store.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM ml_grants WHERE target_id = 999999")).scalar()
            == 0
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM ml_tag_assignments WHERE target_id = 999999")
            ).scalar()
            == 0
        )
        assert (
            conn.execute(text("SELECT count(*) FROM ml_grants WHERE kind = 'table'")).scalar() == 1
        )
