"""Bringing the governance state up to date: only what the change log names is read again."""

from __future__ import annotations

import pytest

import meshlake
from meshlake.governance.state import GovernanceState

from .state_compare import assert_current


def _world(mesh: meshlake.Mesh) -> meshlake.Session:
    root = mesh.bootstrap()
    root.accounts.create("p")
    for name in ("admin", "ann", "bob"):
        root.principals.create(f"p/{name}")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint", "region": "string"}, [[1, "eu"]])
    admin.tags.create("domain", ["sales", "hr"])
    return admin


def _state(mesh: meshlake.Mesh) -> GovernanceState:
    return mesh.runtime.engine.state()


def test_each_change_reloads_only_its_group(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    before = _state(mesh)
    admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
    after = _state(mesh)
    assert after.reloaded == ("grants",)
    assert after.tables is before.tables and after.tag_keys is before.tag_keys
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))

    admin.tags.assign(meshlake.Table("db", "t"), {"domain": "sales"})
    assert _state(mesh).reloaded == ("tags",)

    admin.filters.create("db", "t", "eu", row_filter="region = 'eu'")
    assert _state(mesh).reloaded == ("filters",)

    admin.catalog.create_table("db", "u", {"id": "bigint"}, [])
    st = _state(mesh)  # a new table's column tags are looked up (none)
    assert st.reloaded == ("catalog", "tags") and st.grants_by_id is after.grants_by_id

    admin.catalog.rename_column("db", "t", "id", "ident")  # (filter eu names region)
    st = _state(mesh)
    assert "grants" not in st.reloaded and st.changes_read is not None
    assert_current(mesh)


def test_tag_summaries_survive_a_grant_change_but_not_a_tag_change(
    mesh: meshlake.Mesh,
) -> None:
    admin = _world(mesh)
    admin.tags.assign(meshlake.Table("db", "t"), {"domain": "sales"})
    admin.grant("p/ann", meshlake.TagPolicy("TABLE", {"domain": ["sales"]}), ["SELECT"])
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))
    summaries = {k for k in _state(mesh).cache if k[0] == "tsummary"}
    assert summaries
    admin.grant("p/bob", meshlake.TagPolicy("TABLE", {"domain": ["hr"]}), ["SELECT"])
    assert summaries <= set(_state(mesh).cache)
    assert not mesh.session("p/bob").decide("SELECT", meshlake.Table("db", "t"))
    admin.tags.assign(meshlake.Table("db", "t"), {"domain": "hr"})
    st = _state(mesh)
    assert st.reloaded == ("tags",)
    assert not any(k[0] == "tsummary" for k in st.cache)  # stale summaries are dropped
    assert mesh.session("p/bob").decide("SELECT", meshlake.Table("db", "t"))
    assert not mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))


def test_dropping_a_table_reloads_what_its_deletion_cascaded_to(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    admin.filters.create("db", "t", "eu", row_filter="region = 'eu'")
    admin.tags.assign(meshlake.Table("db", "t"), {"domain": "sales"})
    admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
    assert _state(mesh).filters
    admin.catalog.drop_table("db", "t")
    st = assert_current(mesh)
    assert st.reloaded == ("catalog", "tags", "filters", "grants") and st.changes_read
    assert not st.filters and not st.table_tags and not st.grants_by_grantee.get("p/ann")


def test_a_bump_that_wrote_no_governance_row_keeps_the_state_and_its_cache(
    mesh: meshlake.Mesh,
) -> None:
    _world(mesh)
    before = _state(mesh)
    before.cache[("probe",)] = 1
    with mesh.runtime.store.transaction():
        pass
    st = _state(mesh)
    assert st.version == before.version + 1
    assert st.reloaded == () and st.changes_read == 0 and st.cache[("probe",)] == 1


def test_another_process_sees_the_same_groups(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    other = meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)
    try:
        other.runtime.engine.state()
        admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
        assert other.runtime.engine.state().reloaded == ("grants",)
        assert other.runtime.engine.state().changes_read == 1
        assert other.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))
    finally:
        other.close()


def test_a_new_table_is_decided_with_the_tags_filters_and_grants_it_meets(
    mesh: meshlake.Mesh,
) -> None:
    admin = _world(mesh)
    admin.tags.assign(meshlake.Database("db"), {"domain": "sales"})
    admin.grant("p/ann", meshlake.TagPolicy("TABLE", {"domain": ["sales"]}), ["SELECT"])
    admin.grant("p/bob", meshlake.Table("db", "*"), ["SELECT"])
    _state(mesh)
    admin.catalog.create_table("db", "fresh", {"id": "bigint"}, [[7]])
    st = _state(mesh)
    assert st.reloaded == ("catalog", "tags") and st.changes_read == 2  # its row, its columns
    for who in ("p/ann", "p/bob"):
        assert mesh.session(who).query("SELECT id FROM db.fresh").rows() == [(7,)]


def test_writes_are_seen_whoever_issues_them(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))
    with mesh.runtime.store.transaction() as session:  # raw SQL on the connection
        session.connection().exec_driver_sql("DELETE FROM ml_grants WHERE grantee = 'p/ann'")
    assert _state(mesh).reloaded == ("grants",)
    assert not mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))
    with mesh.runtime.store.transaction(bump=False) as session:  # a write still bumps
        session.connection().exec_driver_sql(
            "UPDATE ml_tables SET creator = 'p/ann' WHERE name = 't'"
        )
    st = assert_current(mesh)
    assert st.reloaded == ("catalog", "tags") and st.changes_read == 1
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))  # rule: creator


def test_a_column_added_by_schema_evolution_is_read_with_its_table(mesh: meshlake.Mesh) -> None:
    import pyarrow as pa

    admin = _world(mesh)
    admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
    admin.grant("p/bob", meshlake.Table("db", "t", columns=["id"]), ["SELECT"])
    _state(mesh)
    admin.catalog.evolve_schema("db", "t", pa.schema([("score", pa.float64())]))
    st = assert_current(mesh)
    assert st.reloaded == ("catalog", "tags") and st.changes_read == 1
    table = next(t for t in st.tables.values() if t.name == "t")
    assert table.columns == ("id", "region", "score")
    assert mesh.session("p/ann").query("SELECT * FROM db.t").to_arrow().column_names == [
        "id",
        "region",
        "score",
    ]
    assert mesh.session("p/bob").query("SELECT * FROM db.t").to_arrow().column_names == ["id"]


def test_a_grant_change_reads_only_the_grants_it_wrote(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT", "DESCRIBE"])
    admin.grant("p/bob", meshlake.Table("db", "t"), ["SELECT"])
    _state(mesh)
    admin.grant("p/ann", meshlake.Table("db", "t"), ["ALTER"])  # widens ann's grant row
    st = _state(mesh)
    assert st.reloaded == ("grants",) and st.changes_read == 1
    assert mesh.session("p/ann").decide("ALTER", meshlake.Table("db", "t"))
    admin.revoke("p/ann", meshlake.Table("db", "t"), ["ALTER"])  # narrows it again
    assert _state(mesh).changes_read == 1
    assert not mesh.session("p/ann").decide("ALTER", meshlake.Table("db", "t"))
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))
    admin.revoke("p/bob", meshlake.Table("db", "t"), ["SELECT"])  # deletes bob's row
    st = assert_current(mesh)
    assert st.changes_read == 1 and "p/bob" not in st.grants_by_grantee
    assert not mesh.session("p/bob").decide("SELECT", meshlake.Table("db", "t"))


def test_grants_written_by_another_process_are_read(mesh: meshlake.Mesh) -> None:
    _world(mesh)
    _state(mesh)
    other = meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)
    try:
        other.session("p/admin").grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
    finally:
        other.close()
    st = assert_current(mesh)
    assert st.reloaded == ("grants",) and st.changes_read == 1
    assert mesh.session("p/ann").decide("SELECT", meshlake.Table("db", "t"))


def test_a_state_older_than_the_pruned_log_is_loaded_whole(
    mesh: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.catalog import store as store_module

    admin = _world(mesh)
    other = meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)
    try:
        other.runtime.engine.state()  # held while the log is pruned past it
        monkeypatch.setattr(store_module, "KEEP_VERSIONS", 1)
        monkeypatch.setattr(store_module, "PRUNE_EVERY", 1)
        admin.grant("p/ann", meshlake.Table("db", "t"), ["SELECT"])
        admin.grant("p/bob", meshlake.Table("db", "t"), ["SELECT"])
        assert _state(mesh).changes_read == 1  # current before each change: the log serves
        st = assert_current(other)
        assert st.changes_read is None  # its entries are gone: loaded whole
        assert other.session("p/bob").decide("SELECT", meshlake.Table("db", "t"))
    finally:
        other.close()


def test_too_many_entries_load_the_state_whole(
    mesh: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.governance import loading

    admin = _world(mesh)
    _state(mesh)
    monkeypatch.setattr(loading, "DELTA_CHANGES", 1)
    admin.catalog.create_table("db", "u", {"id": "bigint"}, [])  # two entries
    st = assert_current(mesh)
    assert st.changes_read is None and st.reloaded == loading.GROUPS
