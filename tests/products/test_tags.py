"""Tags derived from a contract."""

from __future__ import annotations

import pytest

from meshlake.errors import InvalidInputError
from meshlake.products.contract import load_contract
from meshlake.products.tags import derive_tags, normalise_tag, tag_values

from .conftest import DEMO_CONTRACT, contract_yaml


def test_demo_contract_tags() -> None:
    tags = derive_tags(load_contract(DEMO_CONTRACT))
    assert tags["table"] == {
        "domain": "consumer-banking",
        "classification": "confidential",
        "pii": "false",
        "sensitive": "false",
    }
    restricted = {"classification": "restricted", "pii": "true", "sensitive": "true"}
    assert tags["columns"] == {
        "personal_status_sex": restricted,
        "age": restricted,
        "foreign_worker": restricted,
    }
    assert tag_values(tags) == {
        "domain": {"consumer-banking"},
        "classification": {"confidential", "restricted"},
        "pii": {"false", "true"},
        "sensitive": {"false", "true"},
    }


def test_column_classification_only_when_it_differs_and_values_are_normalised() -> None:
    props = """
    - name: a
      classification: Internal Only
    - name: b
      classification: internal only
      physicalName: b_col
      customProperties: [{property: sensitive, value: true}]
    - name: c
      classification: PUBLIC
    """
    extra = "customProperties:\n  - {property: classification, value: Internal Only}"
    contract = load_contract(contract_yaml(props, extra=extra))
    tags = derive_tags(contract)
    assert tags["table"]["classification"] == "internal-only"
    assert tags["table"]["domain"] == "sales"
    assert tags["columns"] == {"b_col": {"sensitive": "true"}, "c": {"classification": "public"}}


def test_no_domain_or_classification_omits_the_keys() -> None:
    header = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: '1'"
    tags = derive_tags(load_contract(contract_yaml(header=header)))
    assert tags == {"table": {"pii": "false", "sensitive": "false"}, "columns": {}}


def test_too_long_values_are_refused() -> None:
    extra = "customProperties:\n  - {property: classification, value: " + "x" * 51 + "}"
    with pytest.raises(InvalidInputError, match="longer than 50"):
        derive_tags(load_contract(contract_yaml(extra=extra)))
    with pytest.raises(InvalidInputError, match="empty"):
        normalise_tag("   ")
    assert normalise_tag("x" * 50) == "x" * 50
