"""Running a recipe: source -> target in one commit, lineage, nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.storage.recipes import parse_recipe, recipe_sha256, resolve_recipe, run_recipe


class Source:
    def __init__(self, data: pa.Table, snapshot: int | None = 41) -> None:
        self.table, self.data, self.snapshot = "raw_db.loans_raw", data, snapshot
        self.reads = 0

    def read(self) -> tuple[pa.Table, int | None]:
        self.reads += 1
        return self.data, self.snapshot


class Target:
    def __init__(self) -> None:
        self.table = "curated.loans"
        self.writes: list[pa.Table] = []

    def write(self, data: pa.Table) -> int:
        self.writes.append(data)
        return 100 + len(self.writes)


@pytest.fixture
def source() -> Source:
    return Source(pa.table({"betrag": [5, 7, 7], "stadt": ["r", "o", "o"]}))


def test_run_writes_once_and_records_lineage(source):
    target = Target()
    recipe = parse_recipe(
        "name: curate\nsteps:\n  - rename: {betrag: amount, stadt: city}\n"
        "  - deduplicate\n  - decode: {column: city, mapping: {r: Rome, o: Oslo}}"
    )
    run = run_recipe(source, target, recipe)
    assert len(target.writes) == 1
    assert target.writes[0].to_pydict() == {"amount": [5, 7], "city": ["Rome", "Oslo"]}
    assert (run.source_table, run.source_snapshot) == ("raw_db.loans_raw", 41)
    assert (run.target_table, run.target_snapshot) == ("curated.loans", 101)
    assert run.recipe_name == "curate" and run.recipe_sha256 == recipe_sha256(recipe)
    assert (run.rows_in, run.rows_out, run.columns_out) == (3, 2, ("amount", "city"))
    assert {"read", "validate", "write", "total", "step 1:rename"} <= set(run.timings)
    assert run.to_dict()["source"] == {"table": "raw_db.loans_raw", "snapshot_id": 41}


def test_failing_recipe_writes_nothing(source):
    target = Target()
    with pytest.raises(InvalidInputError, match="recipe step 2"):
        run_recipe(source, target, "- drop: [stadt]\n- filter: 'stadt = 1'\n")
    with pytest.raises(InvalidInputError, match="not in the mapping"):
        run_recipe(
            source, target, {"steps": [{"decode": {"column": "stadt", "mapping": {"r": 1}}}]}
        )
    assert target.writes == []


def test_recipe_file_with_relative_codebook_and_hash_covers_the_mapping(tmp_path: Path, source):
    (tmp_path / "cb.yaml").write_text(
        "attributes:\n  - {german: stadt, english: city, type: categorical, "
        "south: {r: Rome, o: Oslo}}\n"
    )
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - decode: {column: stadt, codebook: {path: cb.yaml, attribute: city}}\n"
    )
    target = Target()
    first = run_recipe(source, target, tmp_path / "r.yaml")
    assert target.writes[0]["stadt"].to_pylist() == ["Rome", "Oslo", "Oslo"]
    inline = parse_recipe("- decode: {column: stadt, mapping: {r: Rome, o: Oslo}}")
    assert first.recipe_sha256 == recipe_sha256(resolve_recipe(inline))
    (tmp_path / "cb.yaml").write_text(
        "attributes:\n  - {german: stadt, english: city, type: categorical, "
        "south: {r: Roma, o: Oslo}}\n"
    )
    second = run_recipe(source, target, str(tmp_path / "r.yaml"))
    assert second.recipe_sha256 != first.recipe_sha256  # the codebook changed
    with pytest.raises(NotFoundError):
        run_recipe(source, target, tmp_path / "none.yaml")
