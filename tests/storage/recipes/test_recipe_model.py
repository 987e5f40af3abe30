"""The recipe YAML: short and full forms, validation errors naming the step, canonical hash."""

from __future__ import annotations

import pytest

from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.storage.recipes import (
    load_recipe,
    parse_recipe,
    recipe_sha256,
    recipe_to_yaml,
)
from meshlake.storage.recipes.model import (
    CastStep,
    DecodeStep,
    DeduplicateStep,
    FillMissingStep,
    FilterStep,
    RenameStep,
)

SHORT = """
name: demo
steps:
  - rename: {laufkont: status}
  - decode: {column: status, mapping: {1: "no checking account", 2: "< 0 DM"}}
  - decode: {columns: [purpose], codebook: {path: codebook.yaml, attribute: verw}, default: x}
  - cast: {duration: bigint}
  - derive: {column: monthly, expression: "amount / duration"}
  - filter: "age >= 18"
  - drop: [telephone]
  - deduplicate
  - deduplicate: [id]
  - fill_missing: {age: {strategy: median}, purpose: others}
"""


def test_short_forms_expand_to_typed_steps():
    recipe = parse_recipe(SHORT)
    kinds = [type(s).__name__ for s in recipe.steps]
    assert kinds == [
        "RenameStep",
        "DecodeStep",
        "DecodeStep",
        "CastStep",
        "DeriveStep",
        "FilterStep",
        "DropStep",
        "DeduplicateStep",
        "DeduplicateStep",
        "FillMissingStep",
    ]
    assert recipe.steps[1] == DecodeStep(
        columns=["status"], mapping={1: "no checking account", 2: "< 0 DM"}
    )
    assert recipe.steps[7] == DeduplicateStep() and recipe.steps[8].columns == ["id"]
    fill = recipe.steps[9]
    assert isinstance(fill, FillMissingStep)
    assert fill.columns["age"].strategy == "median" and fill.columns["purpose"].value == "others"


def test_yaml_round_trip_and_hash_is_form_independent():
    recipe = parse_recipe(SHORT)
    text = recipe_to_yaml(recipe)
    assert "action: rename" in text and parse_recipe(text) == recipe
    assert recipe_sha256(parse_recipe(text)) == recipe_sha256(recipe)
    full = {"steps": [{"columns": ["x"], "action": "drop"}]}
    assert recipe_sha256(parse_recipe(full)) == recipe_sha256(parse_recipe("- drop: [x]"))
    assert recipe_sha256(parse_recipe("- drop: [y]")) != recipe_sha256(parse_recipe("- drop: [x]"))


@pytest.mark.parametrize(
    ("text", "step", "field", "words"),
    [
        ("- drop: [a]\n- cast: {a: integr}", 2, "columns", "unknown column type"),
        ("- rename: {a: 'b c'}", 1, "mapping", "invalid column name"),
        ("- derive: {column: x, expression: 'read_csv(1)'}", 1, "expression", "read_csv"),
        ("- derive: {column: x, expression: '(select 1)'}", 1, "expression", "subquery"),
        ("- filter: 'a = 1; drop table t'", 1, "condition", "exactly one expression"),
        ("- decode: {column: a}", 1, "step", "exactly one of mapping and codebook"),
        (
            "- decode: {column: a, mapping: {1: x}, default: y, unmapped: keep}",
            1,
            "step",
            "not both",
        ),
        ("- frobnicate: 1", 1, "step", "unknown or missing action"),
        ("- filter: {condition: a, extra: 1}", 1, "extra", "Extra inputs"),
        ("- fill_missing: {a: {value: 1, strategy: mean}}", 1, "columns.a", "exactly one"),
        ("- derive: {expression: '1'}", 1, "column", "Field required"),
    ],
)
def test_validation_errors_name_step_and_field(text, step, field, words):
    with pytest.raises(InvalidInputError) as info:
        parse_recipe(text)
    assert info.value.details["step"] == step and info.value.details["field"] == field
    assert words in info.value.message and f"recipe step {step}" in info.value.message


@pytest.mark.parametrize("text", ["steps: []", "just text", "steps: [{drop: [a]}", "42"])
def test_malformed_recipes(text):
    with pytest.raises(InvalidInputError):
        parse_recipe(text)


def test_load_recipe_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("steps:\n  - drop: [a]\n")
    assert load_recipe(path).steps[0].columns == ["a"]
    with pytest.raises(NotFoundError):
        load_recipe(tmp_path / "missing.yaml")


def test_programmatic_steps_serialise():
    recipe = parse_recipe(
        {
            "steps": [
                RenameStep(mapping={"a": "b"}),
                CastStep(columns={"b": "double"}),
                FilterStep(condition="b > 1"),
            ]
        }
    )
    assert parse_recipe(recipe_to_yaml(recipe)) == recipe
