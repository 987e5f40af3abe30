"""Plain records of the operations the governance property test replays.

They name resources the way a user does (database, table and column names, tag key names);
the property test turns them into ``meshlake`` calls and the reference model
(``reference_model.py``) replays them on its own state. Nothing here imports meshlake.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALL",
    "DATABASE_PERMISSIONS",
    "DESCRIBE",
    "SELECT",
    "TABLE_PERMISSIONS",
    "TAG_KEY_PERMISSIONS",
    "TAG_VALUE_PERMISSIONS",
    "AddValue",
    "Assign",
    "ColumnTarget",
    "CreateKey",
    "DatabaseRes",
    "DbTarget",
    "DeleteKey",
    "Grant",
    "GrantResource",
    "Op",
    "PolicyRes",
    "RemoveValue",
    "Revoke",
    "TableRes",
    "TableTarget",
    "TagRes",
    "TagTarget",
    "Unassign",
    "Verdict",
    "WildcardRes",
]

ALL = "ALL"
SELECT = "SELECT"
DESCRIBE = "DESCRIBE"
# Rule 5: permissions per resource kind (ALL stands for all of them, rule 6).
TABLE_PERMISSIONS = frozenset({"ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT"})
DATABASE_PERMISSIONS = frozenset({"ALTER", "CREATE_TABLE", "DESCRIBE", "DROP"})
TAG_KEY_PERMISSIONS = frozenset({"ALTER", "DROP"})
TAG_VALUE_PERMISSIONS = frozenset({"ASSOCIATE", "DESCRIBE", "GRANT_WITH_TAG_EXPRESSION"})


# ---------------------------------------------------------------- grant resources
@dataclass(frozen=True)
class TableRes:
    """A named table, whole or with an include (``columns``) or exclude list (rule 8)."""

    db: str
    table: str
    columns: tuple[str, ...] | None = None
    excluded: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WildcardRes:
    """Every table of a database (``Table(db, '*')``)."""

    db: str


@dataclass(frozen=True)
class DatabaseRes:
    """A database."""

    db: str


@dataclass(frozen=True)
class PolicyRes:
    """A tag policy (rule 14): ``resource_type`` DATABASE or TABLE, ``{key: values}``."""

    resource_type: str
    expression: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class TagRes:
    """Tag values of one key (``values=None``: every value, and the key itself)."""

    key: str
    values: tuple[str, ...] | None = None


GrantResource = TableRes | WildcardRes | DatabaseRes | PolicyRes | TagRes


# ---------------------------------------------------------------- tag targets
@dataclass(frozen=True)
class DbTarget:
    """A database carrying tags."""

    db: str


@dataclass(frozen=True)
class TableTarget:
    """A table carrying tags."""

    db: str
    table: str


@dataclass(frozen=True)
class ColumnTarget:
    """A column carrying tags."""

    db: str
    table: str
    column: str


TagTarget = DbTarget | TableTarget | ColumnTarget


# ---------------------------------------------------------------- operations
@dataclass(frozen=True)
class CreateKey:
    """The admin creates a tag key with its values."""

    key: str
    values: tuple[str, ...]
    actor: str = "p/admin"


@dataclass(frozen=True)
class DeleteKey:
    """The admin deletes a tag key (rule 15)."""

    key: str
    actor: str = "p/admin"


@dataclass(frozen=True)
class AddValue:
    """The admin adds an allowed value to a key."""

    key: str
    value: str
    actor: str = "p/admin"


@dataclass(frozen=True)
class RemoveValue:
    """The admin removes an allowed value from a key (refused while assigned, rule 15)."""

    key: str
    value: str
    actor: str = "p/admin"


@dataclass(frozen=True)
class Assign:
    """``actor`` assigns ``key=value`` to a database, table or column."""

    actor: str
    target: TagTarget
    key: str
    value: str


@dataclass(frozen=True)
class Unassign:
    """``actor`` removes ``key`` from a database, table or column."""

    actor: str
    target: TagTarget
    key: str


@dataclass(frozen=True)
class Grant:
    """``actor`` grants ``permissions`` (``grantable`` with the grant option)."""

    actor: str
    grantee: str
    resource: GrantResource
    permissions: tuple[str, ...]
    grantable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Revoke:
    """``actor`` revokes ``permissions`` and the grant option of ``grantable``."""

    actor: str
    grantee: str
    resource: GrantResource
    permissions: tuple[str, ...]
    grantable: tuple[str, ...] = ()


Op = CreateKey | DeleteKey | AddValue | RemoveValue | Assign | Unassign | Grant | Revoke


@dataclass(frozen=True)
class Verdict:
    """What the rules say about one operation.

    Attributes:
        valid: True (must succeed), False (must fail), None (the rules leave it open: the
            test follows the engine).
        error: when ``valid`` is False, the rule-0 kind (``not_found``, ``invalid_input``,
            ``access_denied``, ``conflict``) if the rules fix it, else None.
        why: the rule that decided, for failure messages.
    """

    valid: bool | None
    error: str | None = None
    why: str = ""


OK = Verdict(True, None, "allowed")
