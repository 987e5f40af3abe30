"""Loading ODCS v3 contracts into the meshlake view."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from meshlake.errors import InvalidInputError
from meshlake.products.contract import load_contract
from meshlake.products.rules import FRESHNESS

from .conftest import DEMO_CONTRACT, contract_yaml


def test_minimal_contract_maps_header_fields() -> None:
    contract = load_contract(contract_yaml())
    assert contract.id == "orders-contract"
    assert contract.name == "orders"
    assert contract.version == "1.0.0"
    assert contract.domain == "sales"  # lower-cased
    assert contract.discoverable is True
    assert contract.classification is None
    assert [c.physical_name for c in contract.table.columns] == ["order_id", "amount"]
    assert contract.table.rules == ()
    assert contract.label_column is None
    assert contract.freshness_max_age is None


def test_name_falls_back_to_data_product_then_id() -> None:
    header = """
    apiVersion: v3.0.2
    kind: DataContract
    id: the-id
    version: 2.0.0
    """
    assert load_contract(contract_yaml(header=header)).name == "the-id"
    with_product = header + "dataProduct: the-product\n"
    assert load_contract(contract_yaml(header=with_product)).name == "the-product"


def test_custom_properties_give_classification_discoverable_pii_sensitive_label() -> None:
    props = """
    - name: customer_id
      logicalType: integer
      physicalName: cust_id
      classification: Restricted
      customProperties:
        - {property: pii, value: true}
    - name: gender
      logicalType: string
      customProperties:
        - {property: sensitive, value: "yes"}
    - name: churned
      logicalType: boolean
      customProperties:
        - {property: label, value: true}
        - {property: positiveLabel, value: false}
    """
    extra = """
    customProperties:
      - {property: classification, value: Internal}
      - {property: discoverable, value: false}
    """
    contract = load_contract(contract_yaml(props, extra=extra))
    assert contract.classification == "internal"
    assert contract.discoverable is False
    table = contract.table
    customer = table.column("cust_id")
    assert (customer.name, customer.classification, customer.pii) == (
        "customer_id",
        "restricted",
        True,
    )
    assert table.pii_columns == ("cust_id",)
    assert table.sensitive_columns == ("gender",)
    assert (contract.label_column, contract.positive_label) == ("churned", False)


def test_label_named_at_contract_level_defaults_positive_to_one() -> None:
    extra = "customProperties:\n  - {property: label, value: amount}"
    contract = load_contract(contract_yaml(extra=extra))
    assert (contract.label_column, contract.positive_label) == ("amount", 1)


@pytest.mark.parametrize(
    ("props", "extra", "message"),
    [
        ("", "customProperties:\n  - {property: label, value: nope}", "label names no column"),
        (
            """
            - name: a
              customProperties: [{property: label, value: true}]
            - name: b
              customProperties: [{property: label, value: true}]
            """,
            "",
            "several properties are marked label",
        ),
        (
            """
            - name: a
              customProperties: [{property: label, value: true}]
            - name: b
            """,
            "customProperties:\n  - {property: label, value: b}",
            "disagree",
        ),
        (
            """
            - name: a
              customProperties:
                - {property: label, value: true}
                - {property: sensitive, value: true}
            """,
            "",
            "cannot also be sensitive",
        ),
        (
            "- name: a\n  customProperties: [{property: pii, value: maybe}]",
            "",
            "'pii' must be true or false",
        ),
    ],
)
def test_label_and_flag_mistakes_are_refused(props: str, extra: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_contract(contract_yaml(props, extra=extra))


def test_team_object_gives_owner_and_members() -> None:
    extra = """
    team:
      name: Sales Analytics
      members:
        - {username: alice, role: owner}
        - {username: bob}
    """
    contract = load_contract(contract_yaml(extra=extra))
    assert (contract.team, contract.owner, contract.members) == (
        "Sales Analytics",
        "Sales Analytics",
        ("alice", "bob"),
    )


def test_legacy_team_list_owner_is_the_member_with_owner_role() -> None:
    extra = """
    team:
      - {username: bob, role: analyst}
      - {username: carol, role: Data Owner}
    """
    contract = load_contract(contract_yaml(extra=extra))
    assert (contract.team, contract.owner, contract.members) == (None, "carol", ("bob", "carol"))


def test_description_usage_purpose_limitations() -> None:
    extra = """
    description:
      usage: Orders of the web shop
      purpose: Revenue reporting
      limitations: No returns
    """
    contract = load_contract(contract_yaml(extra=extra))
    assert (contract.description, contract.purpose, contract.limitations) == (
        "Orders of the web shop",
        "Revenue reporting",
        "No returns",
    )


def test_invalid_yaml_reports_line_and_column() -> None:
    text = contract_yaml() + "bad: [unclosed\n"
    with pytest.raises(InvalidInputError) as info:
        load_contract(text)
    assert "not valid YAML" in info.value.message
    assert info.value.details["line"] >= text.count("\n") - 1
    assert info.value.details["column"] is not None


def test_pydantic_errors_carry_their_location() -> None:
    props = "- name: order_id\n  required: [not, a, bool]"
    with pytest.raises(InvalidInputError) as info:
        load_contract(contract_yaml(props))
    assert "schema[0].properties[0].required" in info.value.message
    assert info.value.details["errors"][0]["location"] == "schema[0].properties[0].required"


def test_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="owner: Extra inputs are not permitted"):
        load_contract(contract_yaml(extra="owner: alice"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a YAML mapping"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("apiVersion: v3.1.0\nkind: DataContract\n", "id is required; version is required"),
        (
            "apiVersion: v2.2.0\nkind: DataContract\nid: x\nversion: '1'\n"
            "schema: [{name: t, properties: [{name: a}]}]",
            "is not ODCS v3",
        ),
        ("apiVersion: v3.1.0\nkind: Other\nid: x\nversion: '1'\nschema: []", "kind must be"),
        ("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: '1'\n", "at least one table"),
    ],
)
def test_header_problems_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_contract(text)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ("- name: a\n- name: a", "column 'a' appears twice"),
        ("- name: a\n  logicalType: int", "logicalType 'int' is not one of"),
        ("- logicalType: string", r"properties\[0\]: a property needs a name"),
    ],
)
def test_column_problems_are_refused(props: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_contract(contract_yaml(props))


def test_table_without_properties_is_refused() -> None:
    text = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: '1'\nschema: [{name: t}]"
    with pytest.raises(InvalidInputError, match="lists no properties"):
        load_contract(text)


def test_load_from_path_and_path_string(tmp_path: Path) -> None:
    path = tmp_path / "c.odcs.yaml"
    path.write_text(contract_yaml(), encoding="utf-8")
    assert load_contract(path).name == "orders"
    assert load_contract(str(path)).name == "orders"
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_contract(str(tmp_path / "missing.yaml"))


def test_sla_latency_becomes_a_freshness_rule() -> None:
    extra = """
    slaProperties:
      - {property: latency, value: 4, unit: d}
      - {property: freshness, value: 12, unit: hours}
      - {property: retention, value: 3, unit: y}
    """
    contract = load_contract(contract_yaml(extra=extra))
    assert contract.freshness_max_age == timedelta(hours=12)
    fresh = [r for r in contract.table.rules if r.kind == FRESHNESS]
    assert sorted(r.threshold.value for r in fresh if r.threshold) == [12 * 3600, 4 * 86400]
    assert not any(r.blocking for r in fresh)
    assert [s.property for s in contract.sla] == ["latency", "freshness", "retention"]


def test_sla_freshness_without_time_unit_is_refused() -> None:
    extra = "slaProperties:\n  - {property: latency, value: soon}"
    with pytest.raises(InvalidInputError, match=r"slaProperties\[0\]: latency needs a number"):
        load_contract(contract_yaml(extra=extra))


def test_sla_element_targets_one_table_of_several() -> None:
    text = contract_yaml(
        extra="slaProperties:\n  - {property: latency, value: 1, unit: h, element: lines.ts}"
    )
    text += "  - name: lines\n    properties:\n      - name: ts\n"
    contract = load_contract(text)
    fresh = {t.physical_name: [r for r in t.rules if r.kind == FRESHNESS] for t in contract.tables}
    assert (len(fresh["orders"]), len(fresh["lines"])) == (0, 1)
    with pytest.raises(InvalidInputError, match="several tables"):
        _ = contract.table
    assert contract.table_named("lines").physical_name == "lines"
    with pytest.raises(InvalidInputError, match="no table 'nope'"):
        contract.table_named("nope")


def test_demo_contract_loads_and_matches_the_codebook(codebook: dict) -> None:
    contract = load_contract(DEMO_CONTRACT)
    assert (contract.name, contract.domain, contract.classification) == (
        "credit_card",
        "consumer-banking",
        "confidential",
    )
    assert contract.owner and contract.team
    table = contract.table
    expected = {
        a["english"]: ("string" if a["type"] == "categorical" else "integer")
        for a in codebook["attributes"]
    }
    assert {c.physical_name: c.logical_type for c in table.columns} == expected
    assert [c.physical_name for c in table.columns] == [
        a["english"] for a in codebook["attributes"]
    ]
    label = next(a["english"] for a in codebook["attributes"] if a["type"] == "label")
    assert (contract.label_column, contract.positive_label) == (label, 1)
    assert set(contract.sensitive_columns) == {"foreign_worker", "personal_status_sex", "age"}
    blocking = {(r.kind, r.column) for r in table.blocking_rules}
    assert blocking >= {("rowCount", None), ("nullValues", label), ("invalidValues", label)}
    assert contract.freshness_max_age == timedelta(days=1)
    assert contract.to_dict()["tables"][0]["label_column"] == label
