"""Parsing the resource options, and the doctest examples of the CLI modules."""

from __future__ import annotations

import doctest
import importlib

import pytest
import typer

from meshlake.cli.resources import (
    build_resource,
    describe_resource,
    parse_dotted,
    parse_tag_policy,
)
from meshlake.resources import (
    Catalog,
    Column,
    Database,
    DataFilter,
    Location,
    Table,
    TagKey,
    TagPolicy,
)


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"catalog": True}, Catalog()),
        ({"catalog": True, "account": "central"}, Catalog("central")),
        ({"database": "sales"}, Database("sales")),
        ({"table": "sales.orders"}, Table("sales", "orders")),
        ({"table": "sales.*", "account": "central"}, Table("sales", "*", account="central")),
        (
            {"table": "sales.orders", "columns": "id, amount"},
            Table("sales", "orders", columns=["id", "amount"]),
        ),
        (
            {"table": "sales.orders", "excluded_columns": "ssn"},
            Table("sales", "orders", excluded_columns=["ssn"]),
        ),
        ({"column": "sales.orders.id"}, Column("sales", "orders", "id")),
        ({"filter": "sales.orders.us"}, DataFilter("sales", "orders", "us")),
        ({"location": "s3://bucket/landing"}, Location("s3://bucket/landing")),
        ({"tag": "domain"}, TagKey("domain")),
        ({"tag": "domain=sales,hr"}, TagKey("domain", ["sales", "hr"])),
        ({"tag_policy": "database:domain=sales"}, TagPolicy("DATABASE", {"domain": ["sales"]})),
        (
            {"tag_policy": "TABLE:Domain=sales|hr; pii=*", "account": "central"},
            TagPolicy("TABLE", {"domain": ["hr", "sales"], "pii": ["*"]}, account="central"),
        ),
    ],
)
def test_build_resource(values: dict[str, object], expected: object) -> None:
    kinds = ("catalog", "database", "table", "column", "filter", "location", "tag", "tag_policy")
    assert build_resource(values, kinds=kinds) == expected


def test_build_resource_optional_and_kinds() -> None:
    assert build_resource({}, required=False) is None
    with pytest.raises(typer.BadParameter, match="--account qualifies"):
        build_resource({"account": "central"}, required=False)
    # --column is not one of the grant kinds: it is ignored there, so nothing is named
    with pytest.raises(typer.BadParameter, match="name the resource"):
        build_resource({"column": "a.b.c"})


@pytest.mark.parametrize(
    "text", ["", "TABLE", "TABLE:=x", "TABLE:k=", "TABLE:k=|", "X:k=v", "TABLE:k=v;k=w"]
)
def test_bad_tag_policies(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_tag_policy(text)


def test_tag_policy_values_may_be_comma_separated() -> None:
    assert parse_tag_policy("TABLE:domain=sales,hr") == parse_tag_policy("TABLE:domain=hr|sales")


@pytest.mark.parametrize("text", ["a", "a.b.c", "a.", ".b", "a. "])
def test_dotted_names_need_exactly_two_parts(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=r"DB\.TABLE"):
        parse_dotted(text, 2, "--table", "DB.TABLE")


def test_describe_resource() -> None:
    assert describe_resource(Catalog()) == "your account's catalog"
    assert describe_resource(Database("sales", "central")) == "database central:sales"
    assert describe_resource(Table("s", "t", excluded_columns=["x"])) == "table s.t (excluding x)"
    assert describe_resource(TagKey("domain")) == "tag domain=*"
    assert describe_resource(TagPolicy("TABLE", {"d": ["b", "a"]})) == "tag policy TABLE:d=a|b"
    assert describe_resource(DataFilter("s", "t", "f")) == "data filter s.t.f"


@pytest.mark.parametrize(
    "module",
    [
        "meshlake.cli.output",
        "meshlake.cli.resources",
        "meshlake.cli.commands.tables",
        "meshlake.cli.commands.tags",
        "meshlake.cli.commands.query",
        "meshlake.cli.errors",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
