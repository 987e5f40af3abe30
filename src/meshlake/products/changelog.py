"""The changelog of a data product: what changed between two versions.

Schema changes are matched by **Iceberg field id**, never by name: a column whose id stays but
whose name changes is *renamed*; a name that comes back with a new id is a *removed* column plus
an *added* one. A change is **breaking** when it can break a consumer's query: a removed or
renamed column, or a type change other than an Iceberg-safe widening (``int`` → ``long``,
``float`` → ``double``, ``decimal(P, S)`` → ``decimal(P', S)`` with P' > P).

Contract changes (product classification, owner, column classification / PII / sensitivity /
description) are listed too, by physical column name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshlake.errors import InvalidInputError
from meshlake.products.model import Contract

__all__ = [
    "ADDED",
    "REMOVED",
    "RENAMED",
    "RETYPED",
    "ColumnChange",
    "ContractChange",
    "SchemaDiff",
    "diff_contracts",
    "diff_schemas",
    "is_widening",
]

ADDED, REMOVED, RENAMED, RETYPED = "added", "removed", "renamed", "retyped"
_WIDENINGS = {("int", "long"), ("float", "double"), ("integer", "bigint"), ("int32", "int64")}
_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_CONTRACT_FIELDS = ("classification", "domain", "owner", "team", "status", "discoverable")
_COLUMN_FIELDS = ("classification", "pii", "sensitive", "description", "logical_type")


@dataclass(frozen=True)
class ColumnChange:
    """One schema change of one column (a rename and a type change are two changes)."""

    kind: str
    field_id: int
    name: str
    old_name: str | None = None
    old_type: str | None = None
    new_type: str | None = None

    @property
    def breaking(self) -> bool:
        """Whether a consumer's query may break."""
        if self.kind in (REMOVED, RENAMED):
            return True
        if self.kind == RETYPED:
            return not is_widening(self.old_type or "", self.new_type or "")
        return False

    def describe(self) -> str:
        """One line for humans, e.g. ``"renamed column alter to age"``."""
        if self.kind == ADDED:
            return f"added column {self.name} ({self.new_type})"
        if self.kind == REMOVED:
            return f"removed column {self.name} ({self.old_type})"
        if self.kind == RENAMED:
            return f"renamed column {self.old_name} to {self.name}"
        return f"changed column {self.name} from {self.old_type} to {self.new_type}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "breaking": self.breaking, "description": self.describe()}


@dataclass(frozen=True)
class SchemaDiff:
    """The schema changes between two versions, in the new schema's column order (removed
    columns last, in the old order)."""

    changes: tuple[ColumnChange, ...]

    @property
    def empty(self) -> bool:
        """No change."""
        return not self.changes

    @property
    def breaking(self) -> bool:
        """Some change may break a consumer."""
        return any(c.breaking for c in self.changes)

    def summary(self) -> list[str]:
        """One line per change."""
        return [c.describe() for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"breaking": self.breaking, "changes": [c.to_dict() for c in self.changes]}


@dataclass(frozen=True)
class ContractChange:
    """One contract field that changed: ``column`` None for a product-level field."""

    field: str
    old: Any
    new: Any
    column: str | None = None

    def describe(self) -> str:
        """One line for humans."""
        where = f"column {self.column} " if self.column else ""
        return f"{where}{self.field}: {self.old!r} -> {self.new!r}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "description": self.describe()}


def is_widening(old_type: str, new_type: str) -> bool:
    """Whether Iceberg promotes ``old_type`` to ``new_type`` without rewriting data.

    >>> is_widening("int", "long"), is_widening("decimal(9, 2)", "decimal(12, 2)")
    (True, True)
    >>> is_widening("long", "int"), is_widening("decimal(9, 2)", "decimal(12, 3)")
    (False, False)
    """
    old, new = old_type.strip().lower(), new_type.strip().lower()
    if (old, new) in _WIDENINGS:
        return True
    old_dec, new_dec = _DECIMAL.fullmatch(old), _DECIMAL.fullmatch(new)
    if old_dec and new_dec:
        return int(new_dec[1]) > int(old_dec[1]) and old_dec[2] == new_dec[2]
    return False


def diff_schemas(
    old: Sequence[tuple[int, str, str]] | None, new: Sequence[tuple[int, str, str]]
) -> SchemaDiff:
    """The column changes from ``old`` to ``new``.

    Args:
        old: ``(field_id, name, type)`` per column of the previous version, None for the first
            version (every column is then added).
        new: the same for the new version.

    Returns:
        The diff.

    Raises:
        InvalidInputError: a field id or a name appears twice in one schema.

    >>> diff_schemas([(1, "alter", "int")], [(1, "age", "long")]).summary()
    ['renamed column alter to age', 'changed column age from int to long']
    """
    before = _by_id(old or (), "old")
    after = _by_id(new, "new")
    changes: list[ColumnChange] = []
    for field_id, (name, type_) in after.items():
        if field_id not in before:
            changes.append(ColumnChange(ADDED, field_id, name, new_type=type_))
            continue
        old_name, old_type = before[field_id]
        if old_name != name:
            changes.append(ColumnChange(RENAMED, field_id, name, old_name=old_name))
        if old_type.strip().lower() != type_.strip().lower():
            changes.append(ColumnChange(RETYPED, field_id, name, old_type=old_type, new_type=type_))
    for field_id, (name, type_) in before.items():
        if field_id not in after:
            changes.append(ColumnChange(REMOVED, field_id, name, old_type=type_))
    return SchemaDiff(tuple(changes))


def diff_contracts(old: Contract | None, new: Contract) -> list[ContractChange]:
    """Contract changes that matter to consumers between two versions of a product.

    Args:
        old: the previous version's contract (None for the first version: no changes).
        new: the new contract.

    Returns:
        Product-level changes (classification, domain, owner, team, status, discoverable),
        then per column present in both (classification, pii, sensitive, description,
        logical type), in the new contract's order, for every table present in both.
    """
    if old is None:
        return []
    changes = [
        ContractChange(name, getattr(old, name), getattr(new, name))
        for name in _CONTRACT_FIELDS
        if getattr(old, name) != getattr(new, name)
    ]
    old_tables = {t.physical_name: t for t in old.tables}
    for table in new.tables:
        previous = old_tables.get(table.physical_name)
        if previous is None:
            continue
        old_cols = {c.physical_name: c for c in previous.columns}
        for col in table.columns:
            before = old_cols.get(col.physical_name)
            if before is None:
                continue
            label = (
                col.physical_name
                if len(new.tables) == 1
                else (f"{table.physical_name}.{col.physical_name}")
            )
            changes.extend(
                ContractChange(name, getattr(before, name), getattr(col, name), label)
                for name in _COLUMN_FIELDS
                if getattr(before, name) != getattr(col, name)
            )
    return changes


def _by_id(columns: Sequence[tuple[int, str, str]], which: str) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    names: set[str] = set()
    for field_id, name, type_ in columns:
        if field_id in out:
            raise InvalidInputError(f"field id {field_id} appears twice in the {which} schema")
        if name in names:
            raise InvalidInputError(f"column {name!r} appears twice in the {which} schema")
        out[field_id] = (name, str(type_))
        names.add(name)
    return out
