"""Checking a table's columns against its contract."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshlake.errors import InvalidInputError
from meshlake.products.conformance import schema_problems, type_family
from meshlake.products.contract import check_contract_against_schema, load_contract
from meshlake.products.model import Contract

from .conftest import DEMO_CONTRACT, contract_yaml

PROPS = """
- name: id
  logicalType: integer
- name: price
  logicalType: number
- name: label
  logicalType: string
- name: day
  logicalType: date
- name: at
  logicalType: timestamp
- name: flag
  logicalType: boolean
- name: anything
"""


@pytest.fixture
def contract() -> Contract:
    return load_contract(contract_yaml(PROPS))


def test_matching_arrow_schema_passes(contract: Contract) -> None:
    schema = pa.schema(
        [
            ("id", pa.int32()),
            ("price", pa.int64()),  # an integer column is a number
            ("label", pa.dictionary(pa.int8(), pa.string())),
            ("day", pa.date32()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("flag", pa.bool_()),
            ("anything", pa.list_(pa.int8())),  # no logicalType: only presence is checked
        ]
    )
    columns = list(zip(schema.names, schema.types, strict=True))
    assert check_contract_against_schema(contract, columns) == []


def test_matching_iceberg_type_strings_pass(contract: Contract) -> None:
    columns = [
        ("id", "long"),
        ("price", "decimal(10, 2)"),
        ("label", "string"),
        ("day", "date"),
        ("at", "timestamptz"),
        ("flag", "boolean"),
        ("anything", "binary"),
    ]
    assert check_contract_against_schema(contract, columns) == []


def test_missing_and_mistyped_columns_are_all_listed(contract: Contract) -> None:
    columns = [
        ("ID", "long"),
        ("price", "string"),
        ("label", "int"),
        ("day", "timestamp"),
        ("at", "date"),
        ("flag", "int"),
    ]
    with pytest.raises(InvalidInputError) as info:
        check_contract_against_schema(contract, columns)
    problems = info.value.details["problems"]
    assert [(p["kind"], p["column"]) for p in problems] == [
        ("missing", "id"),
        ("mistyped", "price"),
        ("mistyped", "label"),
        ("mistyped", "day"),
        ("mistyped", "at"),
        ("mistyped", "flag"),
        ("missing", "anything"),
    ]
    assert "the table has 'ID'" in info.value.message
    assert "column 'price' is string (string), the contract says number" in info.value.message


def test_integer_contract_refuses_a_float_column(contract: Contract) -> None:
    columns = [(name, "string") for name in ("label", "anything")]
    columns += [("id", "double"), ("price", "double"), ("day", "date"), ("at", "timestamp")]
    columns += [("flag", "boolean")]
    with pytest.raises(InvalidInputError, match="column 'id' is double"):
        check_contract_against_schema(contract, columns)


def test_undocumented_columns_are_warnings(contract: Contract) -> None:
    columns = [
        ("id", "int"),
        ("price", "float"),
        ("label", "varchar"),
        ("day", "date"),
        ("at", "timestamp"),
        ("flag", "bool"),
        ("anything", "int"),
        ("extra", "string"),
    ]
    warnings = check_contract_against_schema(contract, columns)
    assert [(w.kind, w.column, w.fatal) for w in warnings] == [("undocumented", "extra", False)]
    assert [p.kind for p in schema_problems(contract, columns)] == ["undocumented"]


def test_demo_contract_matches_the_curated_table(credit_table: pa.Table) -> None:
    contract = load_contract(DEMO_CONTRACT)
    schema = credit_table.schema
    columns = list(zip(schema.names, schema.types, strict=True))
    assert check_contract_against_schema(contract, columns) == []


@pytest.mark.parametrize(
    ("data_type", "family"),
    [
        ("long", "integer"),
        ("INTEGER", "integer"),
        ("uint8", "integer"),
        ("double", "number"),
        ("DECIMAL(18,3)", "number"),
        ("decimal128(5, 2)", "number"),
        ("VARCHAR", "string"),
        ("large_string", "string"),
        ("uuid", "string"),
        ("date32[day]", "date"),
        ("timestamp[ns, tz=Europe/Berlin]", "timestamp"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("timestamptz_ns", "timestamp"),
        ("time64[us]", "time"),
        ("BOOLEAN", "boolean"),
        ("INTEGER[]", "array"),
        ("list<long>", "array"),
        ("struct<a: int64>", "object"),
        ("map<string, long>", "map"),
        ("fixed[16]", "binary"),
        ("BLOB", "binary"),
        ("geometry", None),
        ("", None),
        (pa.float16(), "number"),
        (pa.large_list(pa.string()), "array"),
        (pa.map_(pa.string(), pa.int8()), "map"),
        (pa.struct([("a", pa.int8())]), "object"),
        (pa.time32("s"), "time"),
        (pa.null(), None),
    ],
)
def test_type_family(data_type: object, family: str | None) -> None:
    assert type_family(data_type) == family
