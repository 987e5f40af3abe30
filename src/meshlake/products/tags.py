"""Tags a published product carries, derived from its contract, so tag policies govern it.

The scheme (keys and values lower-case, at most 50 characters, spaces turned into ``-``):

==========  ==================  =========================================================
level       key                 value
==========  ==================  =========================================================
database    (none)              the product's database keeps its own tags
table       ``domain``          the contract's ``domain`` (omitted when it has none)
table       ``classification``  the product classification (omitted when it has none)
table       ``pii``             ``false``
table       ``sensitive``       ``false``
column      ``classification``  the column's own classification, only when it differs
                                from the product's
column      ``pii``             ``true`` on columns marked ``pii: true``
column      ``sensitive``       ``true`` on columns marked ``sensitive: true``
==========  ==================  =========================================================

Columns inherit the table's tags (lakeformation.md rule 12), so every column is effectively
``pii=false`` / ``sensitive=false`` unless it overrides them: a policy ``{"pii": ["false"]}``
grants exactly the non-PII columns, and ``{"classification": ["confidential"]}`` every column
not classified otherwise. The ODCS top-level ``tags`` (free words) are not tags in this sense:
they feed search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from meshlake.errors import InvalidInputError
from meshlake.governance.tagging import FORBIDDEN_CHARACTERS
from meshlake.products.model import Contract

__all__ = [
    "MAX_TAG_LENGTH",
    "TAG_CLASSIFICATION",
    "TAG_DOMAIN",
    "TAG_PII",
    "TAG_SENSITIVE",
    "derive_tags",
    "normalise_tag",
    "tag_values",
]

TAG_DOMAIN = "domain"
TAG_CLASSIFICATION = "classification"
TAG_PII = "pii"
TAG_SENSITIVE = "sensitive"
TRUE, FALSE = "true", "false"
MAX_TAG_LENGTH = 50
_SPACES = re.compile(r"\s+")

TagAssignments = dict[str, Any]


def normalise_tag(value: Any, what: str = "tag value") -> str:
    """Lower-case, trim and join inner spaces with ``-``.

    Args:
        value: the raw key or value.
        what: what it is, for the error message.

    Returns:
        The normalised text.

    Raises:
        InvalidInputError: empty, longer than 50 characters, or holding ``= , ;`` or tabs.

    >>> normalise_tag("  Consumer Banking ")
    'consumer-banking'
    """
    text = _SPACES.sub("-", str(value).strip().lower())
    if not text:
        raise InvalidInputError(f"{what} is empty")
    if len(text) > MAX_TAG_LENGTH:
        raise InvalidInputError(f"{what} {text!r} is longer than {MAX_TAG_LENGTH} characters")
    if any(c in text for c in FORBIDDEN_CHARACTERS):
        # checked here, before publishing writes anything, not only when the tag is created
        raise InvalidInputError(f"{what} {text!r} must not contain '=', ',', ';' or tabs")
    return text


def derive_tags(contract: Contract, *, table: str | None = None) -> TagAssignments:
    """The tag assignments of one contract table.

    Args:
        contract: the loaded contract.
        table: which contract table (physical name); None for the only one.

    Returns:
        ``{"table": {key: value}, "columns": {column: {key: value}}}``; ``columns`` lists only
        columns that carry a tag of their own (physical names).

    Raises:
        InvalidInputError: ``table`` names no contract table, or a domain / classification is
            longer than 50 characters.

    >>> from meshlake.products.model import ContractColumn, ContractTable
    >>> t = ContractTable("t", "t", None, (ContractColumn("age", "age", pii=True),))
    >>> c = Contract("id", "t", "1", None, "Sales", None, None, None, (), None, None, None,
    ...              "internal", True, (), (t,), ())
    >>> derive_tags(c)["columns"]
    {'age': {'pii': 'true'}}
    """
    ctable = contract.table_named(table)
    table_tags: dict[str, str] = {}
    if contract.domain:
        table_tags[TAG_DOMAIN] = normalise_tag(contract.domain, "domain")
    product_class = None
    if contract.classification:
        product_class = normalise_tag(contract.classification, "classification")
        table_tags[TAG_CLASSIFICATION] = product_class
    table_tags[TAG_PII] = FALSE
    table_tags[TAG_SENSITIVE] = FALSE
    columns: dict[str, dict[str, str]] = {}
    for col in ctable.columns:
        tags: dict[str, str] = {}
        if col.classification:
            value = normalise_tag(col.classification, f"classification of {col.physical_name}")
            if value != product_class:
                tags[TAG_CLASSIFICATION] = value
        if col.pii:
            tags[TAG_PII] = TRUE
        if col.sensitive:
            tags[TAG_SENSITIVE] = TRUE
        if tags:
            columns[col.physical_name] = tags
    return {"table": table_tags, "columns": columns}


def tag_values(assignments: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every key and the values an assignment uses (to create or extend the tag keys first).

    Args:
        assignments: the output of :func:`derive_tags`.

    Returns:
        ``{key: {values}}``.

    >>> values = tag_values({"table": {"pii": "false"}, "columns": {"a": {"pii": "true"}}})
    >>> sorted(values["pii"])
    ['false', 'true']
    """
    out: dict[str, set[str]] = {}
    for key, value in assignments.get("table", {}).items():
        out.setdefault(key, set()).add(value)
    for tags in assignments.get("columns", {}).values():
        for key, value in tags.items():
            out.setdefault(key, set()).add(value)
    return out
