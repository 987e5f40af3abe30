"""Permission names and which resource kinds they apply to (rule 5)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import StrEnum

from meshlake.errors import InvalidInputError

__all__ = [
    "DATABASE_PERMISSIONS",
    "MODEL_GROUP_PERMISSIONS",
    "PERMISSIONS_BY_KIND",
    "TABLE_PERMISSIONS",
    "TAG_VALUE_PERMISSIONS",
    "WRITE_TABLE_PERMISSIONS",
    "Action",
    "expand_all",
    "normalize_permissions",
]


class Action(StrEnum):
    """Every permission and action name a decision can be asked about (rule 5).

    Strings are accepted at the API edge (case-insensitively) and checked with
    :meth:`parse`; an unknown name is an input error, never a quiet "not allowed".

    >>> Action.parse("select")
    <Action.SELECT: 'SELECT'>
    >>> Action.parse("FLY")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    meshlake.errors.InvalidInputError: unknown action 'FLY': use one of ALL, ALTER, APPROVE, ...
    """

    ALL = "ALL"
    ALTER = "ALTER"
    APPROVE = "APPROVE"
    ASSOCIATE = "ASSOCIATE"
    CREATE_DATABASE = "CREATE_DATABASE"
    CREATE_TABLE = "CREATE_TABLE"
    DATA_LOCATION_ACCESS = "DATA_LOCATION_ACCESS"
    DELETE = "DELETE"
    DESCRIBE = "DESCRIBE"
    DROP = "DROP"
    GRANT_WITH_TAG_EXPRESSION = "GRANT_WITH_TAG_EXPRESSION"
    INSERT = "INSERT"
    REGISTER = "REGISTER"
    SELECT = "SELECT"
    USE = "USE"

    @classmethod
    def parse(cls, name: str | Action) -> Action:
        """The action called ``name`` (any case).

        Raises:
            InvalidInputError: not an action name.
        """
        if isinstance(name, Action):
            return name
        if isinstance(name, str):
            found = cls.__members__.get(name.strip().upper())
            if found is not None:
                return found
        raise InvalidInputError(
            f"unknown action {name!r}: use one of {', '.join(sorted(cls.__members__))}",
            parameter="action",
        )


ALL = "ALL"
SELECT = "SELECT"
DESCRIBE = "DESCRIBE"
TABLE_PERMISSIONS = frozenset({"ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT"})
WRITE_TABLE_PERMISSIONS = frozenset({"ALTER", "DELETE", "DROP", "INSERT"})
DATABASE_PERMISSIONS = frozenset({"ALTER", "CREATE_TABLE", "DESCRIBE", "DROP"})
TAG_VALUE_PERMISSIONS = frozenset({"ASSOCIATE", "DESCRIBE", "GRANT_WITH_TAG_EXPRESSION"})
TAG_KEY_PERMISSIONS = frozenset({"ALTER", "DROP"})
TAG_PERMISSIONS = TAG_VALUE_PERMISSIONS | TAG_KEY_PERMISSIONS
#: Permissions on a model group (rule 30).
MODEL_GROUP_PERMISSIONS = frozenset({"APPROVE", "DESCRIBE", "REGISTER", "USE"})

#: Permissions that may be granted, by grant kind (ALL allowed where the kind has it).
PERMISSIONS_BY_KIND: dict[str, frozenset[str]] = {
    "catalog": frozenset({"CREATE_DATABASE"}),
    "database": DATABASE_PERMISSIONS | {ALL},
    "table": TABLE_PERMISSIONS | {ALL},
    "table_wildcard": TABLE_PERMISSIONS | {ALL},
    "filter": frozenset({SELECT}),
    "location": frozenset({"DATA_LOCATION_ACCESS"}),
    "tag": TAG_PERMISSIONS,
    "tag_policy_database": DATABASE_PERMISSIONS | {ALL},
    "tag_policy_table": TABLE_PERMISSIONS | {ALL},
    "model_group": MODEL_GROUP_PERMISSIONS | {ALL},
}

#: What ALL stands for, by kind (rule 6).
ALL_OF: dict[str, frozenset[str]] = {
    "database": DATABASE_PERMISSIONS,
    "table": TABLE_PERMISSIONS,
    "table_wildcard": TABLE_PERMISSIONS,
    "tag_policy_database": DATABASE_PERMISSIONS,
    "tag_policy_table": TABLE_PERMISSIONS,
    "model_group": MODEL_GROUP_PERMISSIONS,
}


def normalize_permissions(kind: str, permissions: Iterable[str]) -> frozenset[str]:
    """Upper-case and check permissions for a grant kind.

    >>> sorted(normalize_permissions("table", ["select", "describe"]))
    ['DESCRIBE', 'SELECT']
    """
    if isinstance(permissions, str):
        permissions = [permissions]
    result = frozenset(str(p).upper() for p in permissions)
    allowed = PERMISSIONS_BY_KIND[kind]
    bad = sorted(result - allowed)
    if bad:
        raise InvalidInputError(
            f"{', '.join(bad)} cannot be granted on a {kind.replace('_', ' ')}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return result


def expand_all(kind: str, permissions: Iterable[str]) -> frozenset[str]:
    """See :func:`_expand_all` (this front door accepts any iterable)."""
    return _expand_all(
        kind, permissions if isinstance(permissions, frozenset) else frozenset(permissions)
    )


@functools.lru_cache(maxsize=1024)
def _expand_all(kind: str, permissions: frozenset[str]) -> frozenset[str]:
    """Replace ALL by the permissions it stands for (keeps ALL itself).

    >>> sorted(expand_all("database", ["ALL"]))
    ['ALL', 'ALTER', 'CREATE_TABLE', 'DESCRIBE', 'DROP']
    """
    perms = set(permissions)
    if ALL in perms:
        perms |= ALL_OF.get(kind, frozenset())
    return frozenset(perms)
