"""Schema and contract diffs between product versions."""

from __future__ import annotations

import pytest

from meshlake.errors import InvalidInputError
from meshlake.products.changelog import diff_contracts, diff_schemas, is_widening
from meshlake.products.contract import load_contract

from .conftest import contract_yaml


def test_first_version_adds_every_column() -> None:
    diff = diff_schemas(None, [(1, "a", "long"), (2, "b", "string")])
    assert [(c.kind, c.name, c.new_type) for c in diff.changes] == [
        ("added", "a", "long"),
        ("added", "b", "string"),
    ]
    assert not diff.breaking


def test_no_change_is_empty() -> None:
    cols = [(1, "a", "long"), (2, "b", "string")]
    diff = diff_schemas(cols, list(reversed(cols)))
    assert diff.empty
    assert diff.to_dict() == {"breaking": False, "changes": []}


def test_rename_retype_add_remove_by_field_id() -> None:
    old = [(1, "laufzeit", "int"), (2, "hoehe", "long"), (3, "alter", "int"), (4, "x", "string")]
    new = [(1, "duration", "int"), (2, "hoehe", "int"), (3, "alter", "long"), (5, "x", "string")]
    diff = diff_schemas(old, new)
    assert [(c.kind, c.field_id) for c in diff.changes] == [
        ("renamed", 1),
        ("retyped", 2),
        ("retyped", 3),
        ("added", 5),
        ("removed", 4),
    ]
    assert [c.breaking for c in diff.changes] == [True, True, False, False, True]
    assert diff.summary() == [
        "renamed column laufzeit to duration",
        "changed column hoehe from long to int",
        "changed column alter from int to long",
        "added column x (string)",
        "removed column x (string)",
    ]
    assert diff.breaking
    assert diff.to_dict()["changes"][0]["old_name"] == "laufzeit"


def test_type_spelling_is_case_insensitive() -> None:
    assert diff_schemas([(1, "a", "LONG")], [(1, "a", "long")]).empty


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        ("int", "long", True),
        ("float", "double", True),
        ("decimal(9,2)", "decimal(18, 2)", True),
        ("decimal(9,2)", "decimal(9,2)", False),
        ("decimal(9,2)", "decimal(18,3)", False),
        ("long", "int", False),
        ("int", "string", False),
    ],
)
def test_is_widening(old: str, new: str, widening: bool) -> None:
    assert is_widening(old, new) is widening


def test_duplicate_ids_or_names_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="field id 1 appears twice in the new"):
        diff_schemas([], [(1, "a", "int"), (1, "b", "int")])
    with pytest.raises(InvalidInputError, match="column 'a' appears twice in the old"):
        diff_schemas([(1, "a", "int"), (2, "a", "int")], [])


def test_contract_changes_between_versions() -> None:
    old = load_contract(
        contract_yaml(
            "- name: a\n  description: first\n- name: b",
            extra="customProperties:\n  - {property: classification, value: internal}",
        )
    )
    new = load_contract(
        contract_yaml(
            "- name: a\n  description: better\n  customProperties: [{property: pii, value: true}]"
            "\n- name: c",
            extra="customProperties:\n  - {property: classification, value: confidential}",
        )
    )
    changes = diff_contracts(old, new)
    assert [(c.column, c.field, c.old, c.new) for c in changes] == [
        (None, "classification", "internal", "confidential"),
        ("a", "pii", False, True),
        ("a", "description", "first", "better"),
    ]
    assert changes[0].describe() == "classification: 'internal' -> 'confidential'"
    assert diff_contracts(None, new) == []
    assert diff_contracts(new, new) == []
