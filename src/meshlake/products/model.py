"""The contract as meshlake sees it: frozen values built by :func:`load_contract`.

Column names here are **physical** names (``physicalName``, else ``name``): the names of the
table's columns, used by the schema check, quality, bias and tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from open_data_contract_standard.model import OpenDataContractStandard

from meshlake.errors import InvalidInputError
from meshlake.products.rules import QualityRule
from meshlake.products.sla import SlaItem

__all__ = ["Contract", "ContractColumn", "ContractTable"]


@dataclass(frozen=True)
class ContractColumn:
    """One property of a schema object (a table column).

    ``pii``, ``sensitive`` come from the property's ``customProperties``; ``classification``
    is the property's own ODCS ``classification`` (None when it gives none).
    """

    name: str
    physical_name: str
    logical_type: str | None = None
    physical_type: str | None = None
    description: str | None = None
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    classification: str | None = None
    pii: bool = False
    sensitive: bool = False
    enum_values: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "physical_name": self.physical_name,
            "logical_type": self.logical_type,
            "physical_type": self.physical_type,
            "description": self.description,
            "required": self.required,
            "unique": self.unique,
            "primary_key": self.primary_key,
            "classification": self.classification,
            "pii": self.pii,
            "sensitive": self.sensitive,
            "enum_values": None if self.enum_values is None else list(self.enum_values),
        }


@dataclass(frozen=True)
class ContractTable:
    """One schema object: a table of the product, its columns and its quality rules.

    ``rules`` holds the written rules (table-level first, then per column in column order),
    the implicit ``required`` / ``unique`` rules and the SLA's freshness rules.
    """

    name: str
    physical_name: str
    description: str | None
    columns: tuple[ContractColumn, ...]
    rules: tuple[QualityRule, ...] = ()
    label_column: str | None = None
    positive_label: Any = None

    def column(self, name: str) -> ContractColumn:
        """The column of that physical name.

        Raises:
            InvalidInputError: no such column in the contract table.
        """
        for col in self.columns:
            if col.physical_name == name:
                return col
        raise InvalidInputError(f"contract table {self.physical_name!r} has no column {name!r}")

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """Physical names of the columns marked ``sensitive: true``, in column order."""
        return tuple(c.physical_name for c in self.columns if c.sensitive)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        """Physical names of the columns marked ``pii: true``, in column order."""
        return tuple(c.physical_name for c in self.columns if c.pii)

    @property
    def blocking_rules(self) -> tuple[QualityRule, ...]:
        """The rules whose failure refuses a publish."""
        return tuple(r for r in self.rules if r.blocking)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "physical_name": self.physical_name,
            "description": self.description,
            "label_column": self.label_column,
            "positive_label": self.positive_label,
            "columns": [c.to_dict() for c in self.columns],
            "rules": [r.to_dict() for r in self.rules],
        }


@dataclass(frozen=True)
class Contract:
    """What meshlake needs from an ODCS v3 contract (see :mod:`meshlake.products.contract`).

    ``model`` keeps the parsed ODCS object for anything this view does not carry.
    """

    id: str
    name: str
    version: str
    status: str | None
    domain: str | None
    data_product: str | None
    team: str | None
    owner: str | None
    members: tuple[str, ...]
    description: str | None
    purpose: str | None
    limitations: str | None
    classification: str | None
    discoverable: bool
    tags: tuple[str, ...]
    tables: tuple[ContractTable, ...]
    sla: tuple[SlaItem, ...]
    model: OpenDataContractStandard | None = field(default=None, compare=False, repr=False)

    @property
    def table(self) -> ContractTable:
        """The contract's only table.

        Raises:
            InvalidInputError: the contract describes several tables; use :meth:`table_named`.
        """
        if len(self.tables) != 1:
            names = ", ".join(t.physical_name for t in self.tables)
            raise InvalidInputError(
                f"contract {self.name!r} has several tables ({names}): name one"
            )
        return self.tables[0]

    def table_named(self, name: str | None) -> ContractTable:
        """The table of that physical (or contract) name; ``None`` means the only table.

        Raises:
            InvalidInputError: no such table, or ``None`` with several tables.
        """
        if name is None:
            return self.table
        for table in self.tables:
            if name in (table.physical_name, table.name):
                return table
        raise InvalidInputError(f"contract {self.name!r} has no table {name!r}")

    @property
    def label_column(self) -> str | None:
        """The label column of the only table (None when the contract names none)."""
        return self.table.label_column

    @property
    def positive_label(self) -> Any:
        """The label value counted as the favourable outcome (default 1)."""
        return self.table.positive_label

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """Sensitive columns of the only table."""
        return self.table.sensitive_columns

    @property
    def freshness_max_age(self) -> timedelta | None:
        """The freshness SLA (``latency`` / ``freshness``), the strictest if several."""
        ages = [d for item in self.sla if item.is_freshness and (d := item.duration())]
        return min(ages) if ages else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON summary of the contract (the YAML text itself is the full form)."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "domain": self.domain,
            "data_product": self.data_product,
            "team": self.team,
            "owner": self.owner,
            "members": list(self.members),
            "description": self.description,
            "purpose": self.purpose,
            "limitations": self.limitations,
            "classification": self.classification,
            "discoverable": self.discoverable,
            "tags": list(self.tags),
            "sla": [item.to_dict() for item in self.sla],
            "tables": [t.to_dict() for t in self.tables],
        }
