"""Managed storage (rule 29) and the one location matcher (rules 10, 29)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import meshlake
from meshlake import InvalidInputError, Location, NotFoundError
from meshlake.storage.iceberg import local_path


def _world(mesh: meshlake.Mesh) -> tuple[meshlake.Session, meshlake.Session]:
    root = mesh.session("root")
    for acct in ("p", "q"):
        root.accounts.create(acct)
        root.principals.create(f"{acct}/admin")
        root.accounts.set_admins(acct, [f"{acct}/admin"])
    p = mesh.session("p/admin")
    p.catalog.create_database("sales")
    p.catalog.create_table("sales", "orders", {"id": "bigint", "ssn": "varchar"}, [[1, "111"]])
    q = mesh.session("q/admin")
    q.catalog.create_database("loot")
    return p, q


def _table_folder(mesh: meshlake.Mesh) -> Path:
    folders = list(Path(local_path(mesh.settings.warehouse)).glob("p/sales/orders-*"))
    assert len(folders) == 1
    return folders[0]


def test_crawling_another_accounts_table_folder_is_refused(mesh: meshlake.Mesh) -> None:
    _p, q = _world(mesh)
    folder = _table_folder(mesh)
    for source in (str(folder), folder.as_uri(), str(folder / "data"), mesh.settings.warehouse):
        with pytest.raises(InvalidInputError, match="managed storage"):
            q.crawl(source, database="loot", table="stolen")
    assert q.catalog.list_tables("loot") == []


def test_crawling_query_results_or_the_catalog_file_is_refused(mesh: meshlake.Mesh) -> None:
    p, q = _world(mesh)
    p.grant("p/admin", meshlake.Table("sales", "orders"), ["SELECT"])
    p.query("SELECT * FROM sales.orders")
    with pytest.raises(InvalidInputError, match="managed storage"):
        q.crawl(str(mesh.settings.results_dir), database="loot")
    # the home itself contains managed storage: crawling it would read the warehouse
    with pytest.raises(InvalidInputError, match="contains"):
        q.crawl(str(mesh.home), database="loot")


def test_a_symbolic_link_into_the_warehouse_is_the_warehouse(
    mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    _p, q = _world(mesh)
    link = tmp_path / "innocent"
    os.symlink(_table_folder(mesh), link)
    with pytest.raises(InvalidInputError, match="managed storage"):
        q.crawl(str(link), database="loot", table="stolen")
    with pytest.raises(InvalidInputError, match="managed storage"):
        q.catalog.create_table("loot", "t", {"a": "bigint"}, [[1]], location=link.as_uri())
    with pytest.raises(InvalidInputError, match="managed storage"):
        q.catalog.register_location(str(link))


def test_locations_inside_or_around_managed_storage_are_refused(
    mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    p, _q = _world(mesh)
    wh = mesh.settings.warehouse
    before = mesh.runtime.store.version()
    for bad in (wh, wh + "/x", str(mesh.home), str(mesh.settings.results_dir / "x")):
        with pytest.raises(InvalidInputError):
            p.catalog.create_database("x", location=bad)
        with pytest.raises(InvalidInputError):
            p.catalog.register_location(bad)
        with pytest.raises(InvalidInputError):
            p.queries.create_workgroup("wg", result_location=bad)
    assert mesh.runtime.store.version() == before
    # a folder beside managed storage, inside the home, is fine
    p.catalog.create_database("outside", location=str(mesh.home / "outside"))


def test_allowed_roots_restrict_unregistered_locations(tmp_path: Path) -> None:
    allowed = tmp_path / "lake"
    m = meshlake.connect(tmp_path / "home", allowed_roots=[str(allowed)])
    m.bootstrap()
    p, _ = _world(m)
    with pytest.raises(InvalidInputError, match="allowed_roots"):
        p.catalog.create_database("etc", location="/etc")
    with pytest.raises(InvalidInputError, match="allowed_roots"):
        p.queries.create_workgroup("wg", result_location="/etc")
    p.catalog.create_database("ok", location=str(allowed / "ok"))
    p.catalog.register_location(str(tmp_path / "registered"))
    p.catalog.create_database("reg", location=str(tmp_path / "registered" / "db"))
    m.close()
    none_allowed = meshlake.connect(tmp_path / "home2", allowed_roots=[])
    none_allowed.bootstrap()
    p2, _ = _world(none_allowed)
    with pytest.raises(InvalidInputError, match="registered"):
        p2.catalog.create_database("x", location=str(tmp_path / "anywhere"))
    none_allowed.close()


def test_drop_table_deletes_managed_data_and_keeps_external_data(
    mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    p, _ = _world(mesh)
    folder = _table_folder(mesh)
    dropped = p.catalog.drop_table("sales", "orders")
    assert dropped.data_deleted and not folder.exists()
    external = tmp_path / "external" / "t"
    p.catalog.create_table("sales", "ext", {"a": "bigint"}, [[1]], location=str(external))
    dropped = p.catalog.drop_table("sales", "ext")
    assert not dropped.data_deleted and "external" in dropped.note
    assert any(external.rglob("*.parquet"))


def test_location_decisions_use_one_matcher(mesh: meshlake.Mesh, tmp_path: Path) -> None:
    p, _ = _world(mesh)
    root = mesh.session("root")
    root.principals.create("p/u")
    place = tmp_path / "reg"
    p.catalog.register_location(str(place) + "/")
    p.grant("p/u", Location(str(place)), ["DATA_LOCATION_ACCESS"])
    u = mesh.session("p/u")
    for spelling in (str(place), place.as_uri(), place.as_uri() + "/", str(place) + "/./"):
        assert u.check("DATA_LOCATION_ACCESS", Location(spelling)), spelling
    assert not u.check("DROP", Location(str(place)))
    assert not p.check("DROP", Location(str(place)))
    with pytest.raises(NotFoundError):
        p.grant("p/u", Location(str(tmp_path / "other")), ["DATA_LOCATION_ACCESS"])
