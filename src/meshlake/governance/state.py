"""An immutable in-memory snapshot of everything governance decides on.

Decisions are pure functions of a :class:`GovernanceState`. The state is loaded from the
store in a handful of bulk queries the first time, then replaced whenever the store version
changes by a copy that re-reads only the rows the store's change log names (see
``governance/loading.py``), so a decision never touches the database (``engine.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DbInfo",
    "FilterInfo",
    "GovernanceState",
    "GrantInfo",
    "ModelGroupInfo",
    "TableInfo",
    "TagKeyInfo",
]


@dataclass(frozen=True)
class DbInfo:
    """A database or resource link."""

    id: int
    account: str
    name: str
    location: str | None
    creator: str
    link_account: str | None = None
    link_database: str | None = None
    description: str = ""

    @property
    def is_link(self) -> bool:
        """True for a resource link."""
        return self.link_account is not None


@dataclass(frozen=True)
class TableInfo:
    """A table with its current columns (table order)."""

    id: int
    database_id: int
    name: str
    creator: str
    location: str
    columns: tuple[str, ...]
    column_ids: tuple[int, ...]
    types: tuple[str, ...] = ()
    iceberg_id: str = ""
    field_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class TagKeyInfo:
    """A tag key and its allowed values."""

    id: int
    account: str
    key: str
    values: frozenset[str]
    creator: str


@dataclass(frozen=True)
class FilterInfo:
    """A data filter."""

    id: int
    table_id: int
    name: str
    row_filter: str | None  # canonical SQL; None = all rows
    columns: tuple[str, ...] | None
    excluded_columns: tuple[str, ...] | None
    creator: str
    row_filter_text: str | None = None


@dataclass(frozen=True)
class GrantInfo:
    """A grant row: permissions and grant options of one grantee on one resource."""

    id: int
    grantee: str
    kind: str
    target_account: str
    target_id: int
    spec: dict[str, Any]
    permissions: frozenset[str]
    grantable: frozenset[str]
    grantor: str
    bounded: bool = False  # a re-grant of what the grantee's account received (rule 23)
    expr: tuple[tuple[int, tuple[str, ...]], ...] = ()  # a tag policy's parsed expression


@dataclass(frozen=True)
class ModelGroupInfo:
    """A model group as governance sees it."""

    id: int
    account: str
    name: str
    creator: str

    @property
    def label(self) -> str:
        """``model_group:<account>.<name>`` (audit and grant listings)."""
        return f"model_group:{self.account}.{self.name}"


@dataclass
class GovernanceState:
    """Everything decisions need, indexed for constant-time lookups."""

    version: int = 0
    accounts: set[str] = field(default_factory=set)
    principals: set[str] = field(default_factory=set)
    admins: dict[str, frozenset[str]] = field(default_factory=dict)
    databases: dict[int, DbInfo] = field(default_factory=dict)
    db_by_name: dict[tuple[str, str], int] = field(default_factory=dict)
    tables: dict[int, TableInfo] = field(default_factory=dict)
    table_by_name: dict[tuple[int, str], int] = field(default_factory=dict)
    tables_of_db: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    tag_keys: dict[int, TagKeyInfo] = field(default_factory=dict)
    tag_key_by_name: dict[tuple[str, str], int] = field(default_factory=dict)
    db_tags: dict[int, dict[int, str]] = field(default_factory=dict)
    table_tags: dict[int, dict[int, str]] = field(default_factory=dict)
    column_tags: dict[int, dict[str, dict[int, str]]] = field(default_factory=dict)
    db_tag_values: dict[int, dict[int, frozenset[str]]] = field(default_factory=dict)
    filters: dict[int, FilterInfo] = field(default_factory=dict)
    filter_by_name: dict[tuple[int, str], int] = field(default_factory=dict)
    filters_of_table: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    locations: dict[int, tuple[str, str]] = field(default_factory=dict)
    grants_by_grantee: dict[str, list[GrantInfo]] = field(default_factory=dict)
    grants_by_id: dict[int, GrantInfo] = field(default_factory=dict)
    # per grantee, its grants by (kind, target id); tag policies under ("tag_policy", 0)
    grants_index: dict[str, dict[tuple[str, int], list[GrantInfo]]] = field(default_factory=dict)
    model_groups: dict[int, ModelGroupInfo] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    reloaded: tuple[str, ...] = ()  # the groups this load read from the store
    changes_read: int | None = None  # change-log entries applied (None: loaded whole)

    # ---------------------------------------------------------------- lookups
    def intern(self, value: Any) -> Any:
        """One shared instance per distinct (hashable, immutable) value, per state.

        Cached decisions repeat the same small sets over and over; sharing them keeps memory
        and the garbage collector's work proportional to the distinct values.
        """
        interned: dict[Any, Any] = self.cache.setdefault(("interned",), {})
        return interned.setdefault(value, value)

    def is_admin(self, principal: str, account: str) -> bool:
        """True when ``principal`` is an admin of ``account``."""
        return principal in self.admins.get(account, frozenset())

    def table_of(self, table_id: int) -> tuple[DbInfo, TableInfo]:
        """The table and its database."""
        t = self.tables[table_id]
        return self.databases[t.database_id], t

    def account_of_table(self, table_id: int) -> str:
        """The account owning a table."""
        return self.databases[self.tables[table_id].database_id].account
