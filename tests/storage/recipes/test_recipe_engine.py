"""Applying recipe steps to Arrow tables, and validating recipes against a schema."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from meshlake.errors import InvalidInputError
from meshlake.storage.recipes import apply_recipe, parse_recipe, validate_recipe
from meshlake.storage.recipes.expressions import parse_expression


@pytest.fixture
def loans() -> pa.Table:
    return pa.table(
        {
            "id": [1, 2, 2, 3, 4],
            "code": [1, 2, 2, None, 9],
            "amount": [100, 250, 250, 400, None],
            "months": [10, 5, 5, 8, 4],
            "city": ["rome", None, None, "oslo", "rome"],
            "score": [0.5, float("nan"), float("nan"), 1.5, None],
            "day": pa.array([dt.date(2024, 1, d) for d in (1, 2, 2, 3, 4)]),
        }
    )


def _apply(recipe_text: str, table: pa.Table) -> pa.Table:
    return apply_recipe(parse_recipe(recipe_text), table)


def test_rename_cast_drop(loans):
    out = _apply(
        "- rename: {amount: betrag, id: key}\n- cast: {betrag: double, code: varchar}\n"
        "- drop: [day, score]",
        loans,
    )
    assert out.column_names == ["key", "code", "betrag", "months", "city"]
    assert out.schema.field("betrag").type == pa.float64()
    assert out["code"].to_pylist() == ["1", "2", "2", None, "9"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("default: other", ["one", "two", "two", None, "other"]),
        ("unmapped: null", ["one", "two", "two", None, None]),
        ("unmapped: keep", ["one", "two", "two", None, "9"]),
    ],
)
def test_decode_unmapped_modes(loans, extra, expected):
    out = _apply(f"- decode: {{column: code, mapping: {{1: one, '2': two}}, {extra}}}", loans)
    assert out["code"].to_pylist() == expected


def test_decode_unmapped_is_an_error_by_default(loans):
    with pytest.raises(InvalidInputError, match=r"values \[9\] are not in the mapping") as info:
        _apply("- decode: {column: code, mapping: {1: one, 2: two}}", loans)
    assert info.value.details == {"step": 1, "action": "decode"}


def test_decode_to_numbers_and_on_strings(loans):
    out = _apply("- decode: {column: city, mapping: {rome: 1, oslo: 0}}", loans)
    assert out["city"].type == pa.int64() and out["city"].to_pylist() == [1, None, None, 0, 1]


def test_derive_and_filter_with_duckdb(loans):
    out = _apply(
        "- derive: {column: monthly, expression: 'amount / months'}\n"
        "- derive: {column: city, expression: \"coalesce(upper(city), 'N/A')\"}\n"
        "- filter: 'monthly >= 20 AND day < DATE ''2024-01-04'''",
        loans,
    )
    assert out["id"].to_pylist() == [2, 2, 3]
    assert out["monthly"].to_pylist() == [50.0, 50.0, 50.0]
    assert out.column_names[:7] == loans.column_names  # replaced in place, appended at the end
    assert out["city"].to_pylist() == ["N/A", "N/A", "OSLO"]
    assert out.schema.field("day").type == pa.date32()


def test_deduplicate_keeps_first_rows_in_order(loans):
    assert _apply("- deduplicate", loans)["id"].to_pylist() == [1, 2, 3, 4]
    assert _apply("- deduplicate: [city]", loans)["id"].to_pylist() == [1, 2, 3]
    assert _apply("- deduplicate: [city]", loans).schema == loans.schema


def test_fill_missing_values_and_strategies(loans):
    out = _apply(
        "- fill_missing: {amount: {strategy: median}, city: {strategy: mode}, score: {strategy:"
        " mean}, code: 0, months: {strategy: mean}}",
        loans,
    )
    assert out["amount"].to_pylist() == [100, 250, 250, 400, 250]  # int column stays int
    assert out["city"].to_pylist() == ["rome", "rome", "rome", "oslo", "rome"]
    assert out["score"].to_pylist() == [0.5, 1.0, 1.0, 1.5, 1.0]  # NaN counts as missing
    assert out["code"].to_pylist() == [1, 2, 2, 0, 9]
    with pytest.raises(InvalidInputError, match="numeric"):
        _apply("- fill_missing: {city: {strategy: mean}}", loans)
    with pytest.raises(InvalidInputError, match="is not a int64"):
        _apply("- fill_missing: {code: abc}", loans)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- drop: [nope]", "unknown column(s) nope"),
        ("- rename: {id: code}", "duplicate column(s) code"),
        ("- derive: {column: x, expression: 'nope + 1'}", "unknown column(s) nope"),
        ("- cast: {city: bigint}", "cannot cast to bigint"),
        ('- derive: {column: x, expression: "city + 1"}', "step 1 (derive)"),
    ],
)
def test_step_errors_name_the_step(loans, text, words):
    with pytest.raises(InvalidInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        _apply(text, loans)


def test_validate_catches_problems_on_an_empty_table_before_any_data(loans):
    recipe = parse_recipe("- rename: {amount: x}\n- filter: 'amount > 1'")
    with pytest.raises(InvalidInputError, match=r"step 2 .*unknown column"):
        validate_recipe(recipe, loans.schema)
    good = parse_recipe("- rename: {amount: x}\n- derive: {column: y, expression: 'x * 2'}")
    schema = validate_recipe(good, loans.schema)
    assert schema.names[-1] == "y" and schema.field("y").type == pa.int64()


def test_codebook_reference_resolves_relative_to_base_dir(tmp_path, loans):
    (tmp_path / "cb.yaml").write_text(
        "attributes:\n  - {german: stadt, english: city, type: categorical, "
        "south: {rome: Roma, oslo: Oslo}}\n"
    )
    recipe = parse_recipe("- decode: {column: city, codebook: {path: cb.yaml, attribute: stadt}}")
    out = apply_recipe(recipe, loans, base_dir=tmp_path)
    assert out["city"].to_pylist() == ["Roma", None, None, "Oslo", "Roma"]


def test_expressions_are_quoted_and_checked():
    expr = parse_expression("CASE WHEN Age >= 18 THEN 'adult' ELSE 'minor' END")
    assert expr.sql == "CASE WHEN \"Age\" >= 18 THEN 'adult' ELSE 'minor' END"
    assert expr.columns == frozenset({"Age"})
    for bad in ["sum(a)", "t.a", "*", "getenv('HOME')", "a IN (SELECT 1)", "1; SELECT 2"]:
        with pytest.raises(InvalidInputError):
            parse_expression(bad)


def test_derived_instants_stay_in_utc_and_strings_stay_strings():
    table = pa.table({"at": pa.array([0], pa.timestamp("us", tz="UTC")),
                      "s": pa.array(["x"], pa.large_string())})  # fmt: skip
    out = _apply("- derive: {column: copy, expression: at}\n"
                 "- derive: {column: t, expression: \"s || '!'\"}", table)  # fmt: skip
    assert out.schema.field("copy").type == pa.timestamp("us", tz="UTC")
    assert out.schema.field("s").type == pa.large_string() and out["t"].to_pylist() == ["x!"]
