"""The codebook recipe: crawled South German (and Statlog) raw tables -> the curated table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

import meshlake
from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.storage.crawler.location import open_location
from meshlake.storage.crawler.readers import read_file, sniff_file
from meshlake.storage.recipes import (
    apply_recipe,
    codebook_mapping,
    load_recipe,
    recipe_from_codebook,
    recipe_sha256,
)

DATA = Path("/work/shared/data")
CODEBOOK = DATA / "codebook.yaml"
DEMO_RECIPE = Path(meshlake.__file__).parent / "demo" / "recipes" / "translate.yaml"


@pytest.fixture(scope="module")
def codebook() -> list[dict]:
    return yaml.safe_load(CODEBOOK.read_text())["attributes"]


@pytest.fixture(scope="module")
def south_raw() -> pa.Table:
    """The raw table as the crawler reads it (no hints)."""
    loc = open_location(str(DATA / "SouthGermanCredit.asc"))
    file = loc.list_files()[0]
    sniff = sniff_file(loc, file)
    assert sniff is not None
    return read_file(loc, file, sniff).table


def test_south_raw_becomes_the_english_curated_table(codebook, south_raw):
    out = apply_recipe(recipe_from_codebook(CODEBOOK), south_raw)
    assert out.column_names == [a["english"] for a in codebook]
    assert out.num_rows == 1000
    for attr in codebook:
        column = out[attr["english"]]
        if attr["type"] == "categorical":
            assert column.type == pa.string() and column.null_count == 0
            assert set(column.to_pylist()) <= set(attr["south"].values())
        else:
            assert column.type == pa.int64()
    label = next(a for a in codebook if a["type"] == "label")
    assert label["german"] == "kredit" and label["english"] == "credit_risk"
    assert out["credit_risk"].to_pylist() == south_raw["kredit"].to_pylist()  # 1 good, 0 bad
    assert out["credit_risk"].to_pylist().count(1) == 700
    first = out.slice(0, 1).to_pylist()[0]
    assert first["status"] == "no checking account" and first["purpose"] == "car (used)"


def test_statlog_variant_maps_positional_columns_and_relabels(codebook):
    raw = pacsv.read_csv(
        DATA / "statlog-german.data",
        read_options=pacsv.ReadOptions(column_names=[f"col{i}" for i in range(21)]),
        parse_options=pacsv.ParseOptions(delimiter=" "),
    )
    out = apply_recipe(recipe_from_codebook(CODEBOOK, dataset="statlog"), raw)
    assert out.column_names == [a["english"] for a in codebook]
    assert out["status"][0].as_py() == "< 0 DM"  # A11
    assert out["credit_risk"].to_pylist().count(0) == 300  # statlog 2 = bad -> 0


def test_codebook_mappings_and_errors():
    assert codebook_mapping(CODEBOOK, "laufkont")[1] == "no checking account"
    assert codebook_mapping(CODEBOOK, "credit_risk", "statlog", curated=True) == {1: 1, 2: 0}
    with pytest.raises(InvalidInputError, match="no 'elsewhere' codes"):
        codebook_mapping(CODEBOOK, "laufkont", "elsewhere")
    with pytest.raises(InvalidInputError, match="no curated values"):
        codebook_mapping(CODEBOOK, "laufkont", curated=True)
    with pytest.raises(InvalidInputError, match="no attribute"):
        codebook_mapping(CODEBOOK, "nope")
    with pytest.raises(NotFoundError):
        codebook_mapping(DATA / "missing.yaml", "x")


def test_demo_recipe_file_is_the_codebook_recipe():
    recipe = load_recipe(DEMO_RECIPE)
    assert recipe_sha256(recipe) == recipe_sha256(recipe_from_codebook(CODEBOOK))
