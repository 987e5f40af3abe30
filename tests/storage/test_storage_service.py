"""Crawling and recipes through the session: real Iceberg tables, as a principal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

import meshlake
from meshlake.storage.crawler import DeleteBehavior, SchemaChangePolicy
from meshlake.storage.recipes import recipe_from_codebook
from meshlake.testing import SHARED


@pytest.fixture
def world(sqlite_mesh: meshlake.Mesh) -> meshlake.Mesh:
    root = sqlite_mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    root.principals.create("p/u")
    sqlite_mesh.session("p/admin").catalog.create_database("raw")
    return sqlite_mesh


def _write(path: Path, rows: dict[str, list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.table(rows), path)


def test_crawl_south_german_credit(world: meshlake.Mesh, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(SHARED / "data" / "SouthGermanCredit.asc", landing)
    admin = world.session("p/admin")
    run = admin.crawl(str(landing), database="raw", table="south")
    assert run.rows_added == 1000
    desc = admin.catalog.get_table("raw", "south")
    header = (SHARED / "data" / "SouthGermanCredit.asc").read_text().splitlines()[0].split()
    assert desc.column_names == header
    assert {c["type"] for c in desc.columns} == {"BIGINT"}
    n = admin.query("SELECT count(*) AS n, sum(kredit) AS good FROM raw.south").rows()
    assert n == [(1000, 700)]
    assert admin.storage.crawl_runs()[0]["state"] == "SUCCEEDED"


def test_recrawl_appends_evolves_and_deprecates(world: meshlake.Mesh, tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "orders"
    _write(landing / "a.csv", {"id": [1, 2], "amount": [1.5, 2.5]})
    admin = world.session("p/admin")
    admin.crawl(str(landing), database="raw", table="orders")
    again = admin.crawl(str(landing), database="raw", table="orders")
    assert again.rows_added == 0  # unchanged files are not re-ingested
    _write(landing / "b.csv", {"id": [3], "amount": [3.5]})
    third = admin.crawl(str(landing), database="raw", table="orders")
    assert third.rows_added == 1
    _write(landing / "c.csv", {"id": [4], "amount": [4.5], "region": ["eu"]})
    admin.crawl(str(landing), database="raw", table="orders")
    desc = admin.catalog.describe_table("raw", "orders")
    assert desc.column_names == ["id", "amount", "region"]
    assert len(desc.schema_history) == 2
    rows = admin.query("SELECT id, region FROM raw.orders ORDER BY id").rows()
    assert rows == [(1, None), (2, None), (3, None), (4, "eu")]
    shutil.rmtree(landing)
    landing.mkdir()
    policy = SchemaChangePolicy(delete_behavior=DeleteBehavior.DEPRECATE_IN_DATABASE)
    gone = admin.crawl(str(landing), database="raw", table="orders", policy=policy)
    assert "orders" in gone.tables_deprecated
    assert admin.catalog.properties("raw", "orders").get("crawler.deprecated") == "true"


def test_crawl_needs_create_table(world: meshlake.Mesh, tmp_path: Path) -> None:
    landing = tmp_path / "lz" / "x"
    _write(landing / "a.csv", {"id": [1]})
    with pytest.raises(meshlake.NotFoundError):
        world.session("p/u").crawl(str(landing), database="raw", table="t")
    admin = world.session("p/admin")
    admin.grant("p/u", meshlake.Database("raw"), ["DESCRIBE"])
    with pytest.raises(meshlake.AccessDeniedError):
        world.session("p/u").crawl(str(landing), database="raw", table="t")
    admin.catalog.register_location(str(tmp_path / "lz"))
    admin.grant("p/u", meshlake.Database("raw"), ["CREATE_TABLE"])
    with pytest.raises(meshlake.AccessDeniedError, match="DATA_LOCATION_ACCESS"):
        world.session("p/u").crawl(str(landing), database="raw", table="t")


def test_recipe_translates_south_german_credit(world: meshlake.Mesh, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(SHARED / "data" / "SouthGermanCredit.asc", landing)
    admin = world.session("p/admin")
    admin.crawl(str(landing), database="raw", table="south")
    recipe = recipe_from_codebook(SHARED / "data" / "codebook.yaml", "south")
    run = admin.storage.run_recipe(recipe, source="raw.south", target="raw.credit_card")
    codebook = yaml.safe_load((SHARED / "data" / "codebook.yaml").read_text())["attributes"]
    desc = admin.catalog.get_table("raw", "credit_card")
    assert desc.column_names == [a["english"] for a in codebook]
    assert run.rows_out == 1000 and run.source_snapshot is not None
    df = admin.query("SELECT credit_risk, status FROM raw.credit_card").to_pandas()
    assert df["credit_risk"].value_counts().to_dict() == {1: 700, 0: 300}
    assert set(df["status"]) <= set(codebook[0]["south"].values())
    lineage = admin.storage.recipe_runs("raw.credit_card")[0]
    assert lineage["recipe_sha256"] == run.recipe_sha256
    assert lineage["target"]["snapshot_id"] == run.target_snapshot
