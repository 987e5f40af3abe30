"""The catalog store on SQLite and PostgreSQL: migrations, atomic changes, the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text

import meshlake
import meshlake.catalog.product_models
import meshlake.catalog.storage_models
from meshlake.catalog.models import Base
from meshlake.catalog.store import normalize_url
from meshlake.storage.crawler.state import CRAWLER_METADATA

MODELS = (meshlake.catalog.product_models, meshlake.catalog.storage_models)  # registered on Base


def test_migrations_match_the_models(mesh: meshlake.Mesh) -> None:
    combined = MetaData()
    for metadata in (Base.metadata, CRAWLER_METADATA):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    with mesh.runtime.store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        ignored = {"ml_alembic_version"} | {
            name for name in conn.dialect.get_table_names(conn) if name.startswith("iceberg")
        }
        diffs = [
            d
            for d in compare_metadata(ctx, combined)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name in ignored)
        ]
        assert diffs == []


def test_reopening_is_idempotent(mesh: meshlake.Mesh) -> None:
    again = meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)
    assert again.bootstrapped
    again.close()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_failed_change_leaves_nothing(mesh: meshlake.Mesh) -> None:
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    version = mesh.runtime.store.version()
    events = len(admin.audit())
    with pytest.raises(meshlake.InvalidInputError):
        admin.catalog.create_table("db", "t", {"a": "bigint"}, [["not a number"]])
    with pytest.raises(meshlake.InvalidInputError):
        admin.catalog.create_table("db", "t", {"a": "nosuchtype"}, [])
    with pytest.raises(meshlake.ConflictError):
        admin.catalog.create_database("db")
    assert mesh.runtime.store.version() == version
    assert len(admin.audit()) == events
    assert admin.catalog.list_tables("db") == []
    admin.catalog.create_table("db", "t", {"a": "bigint"}, [[1]])
    assert admin.query("SELECT a FROM db.t").rows() == [(1,)]


def test_the_probe_reads_what_another_process_committed_and_outlives_its_connection(
    mesh: meshlake.Mesh, tmp_path: Path, backend_url: str | None
) -> None:
    store = mesh.runtime.store
    mesh.session("root").accounts.create("p")  # a governance change: the version row
    meta = "SELECT value FROM ml_meta WHERE key = ?"
    assert store.probe(meta, ("version",)) == (str(store.version()),)
    assert store.probe(meta, ("no such key",)) is None
    other = meshlake.connect(tmp_path / "home", catalog_url=backend_url)  # another process
    try:
        before = store.version()  # the probe connection is open from here on
        other.session("root").accounts.create("q")
        assert store.version() == other.runtime.store.version() > before
        store._probe._driver.close()  # the probe's connection is lost (a restarted database)
        other.session("root").accounts.create("r")
        assert store.probe(meta, ("version",)) == (str(other.runtime.store.version()),)
        assert store._probe._driver is not None  # reconnected
    finally:
        other.close()


def test_audit_chain_detects_edits_and_deletions(mesh: meshlake.Mesh) -> None:
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.tags.create("k", ["a", "b"])
    assert admin.verify_audit().ok
    engine = mesh.runtime.store.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE ml_audit SET principal = 'p/mallory' WHERE seq = 3"))
    report = admin.verify_audit()
    assert not report.ok and report.first_bad_seq == 3 and "edited" in report.problem
    with engine.begin() as conn:
        conn.execute(text("UPDATE ml_audit SET principal = 'root' WHERE seq = 3"))
        conn.execute(text("DELETE FROM ml_audit WHERE seq = 4"))
    report = admin.verify_audit()
    assert not report.ok and report.first_bad_seq == 5
    root.principals.create("p/x")
    with pytest.raises(meshlake.AccessDeniedError):
        mesh.session("p/x").verify_audit()
