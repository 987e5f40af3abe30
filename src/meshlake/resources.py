"""Resource values: small frozen descriptions of what a permission applies to.

``account`` is optional everywhere: ``None`` means the acting principal's own account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshlake.errors import InvalidInputError

__all__ = [
    "Catalog",
    "Column",
    "DataFilter",
    "Database",
    "Location",
    "ModelGroup",
    "Resource",
    "Table",
    "TagKey",
    "TagPolicy",
]


def _tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise InvalidInputError(f"expected a list of names, got the string {values!r}")
    return tuple(values)


@dataclass(frozen=True)
class Catalog:
    """An account's catalog (the resource of CREATE_DATABASE)."""

    account: str | None = None


@dataclass(frozen=True)
class Database:
    """A database or database resource link."""

    name: str
    account: str | None = None


@dataclass(frozen=True)
class Table:
    """A table, every table of a database (``name='*'``), or a column-limited table.

    ``columns`` is an include list, ``excluded_columns`` an exclude list; at most one.
    """

    database: str
    name: str
    columns: tuple[str, ...] | None = None
    excluded_columns: tuple[str, ...] | None = None
    account: str | None = None

    def __init__(
        self,
        database: str,
        name: str,
        columns: Sequence[str] | None = None,
        excluded_columns: Sequence[str] | None = None,
        account: str | None = None,
    ) -> None:
        object.__setattr__(self, "database", database)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "columns", _tuple(columns))
        object.__setattr__(self, "excluded_columns", _tuple(excluded_columns))
        object.__setattr__(self, "account", account)
        if self.columns is not None and self.excluded_columns is not None:
            raise InvalidInputError("give either columns or excluded_columns, not both")

    @property
    def is_wildcard(self) -> bool:
        """True for ``Table(db, '*')``: every table of the database."""
        return self.name == "*"

    @property
    def column_limited(self) -> bool:
        """True when the resource names an include or exclude list."""
        return self.columns is not None or self.excluded_columns is not None


@dataclass(frozen=True)
class Column:
    """One column of a table (the target of a tag assignment)."""

    database: str
    table: str
    name: str
    account: str | None = None


@dataclass(frozen=True)
class DataFilter:
    """A named data filter on a table."""

    database: str
    table: str
    name: str
    account: str | None = None


@dataclass(frozen=True)
class Location:
    """A registered data location (URI prefix)."""

    uri: str
    account: str | None = None


@dataclass(frozen=True)
class TagKey:
    """Tag values of one key (``values=None`` or ``['*']``: every value of the key)."""

    key: str
    values: tuple[str, ...] | None = None
    account: str | None = None

    def __init__(
        self, key: str, values: Sequence[str] | None = None, account: str | None = None
    ) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", _tuple(values))
        object.__setattr__(self, "account", account)


@dataclass(frozen=True)
class TagPolicy:
    """A tag expression over DATABASE or TABLE resources: ``{key: [values]}``.

    Keys are ANDed, the values of one key ORed, ``['*']`` matches any value.
    """

    resource_type: str
    expression: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    account: str | None = None

    def __init__(
        self,
        resource_type: str,
        expression: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]],
        account: str | None = None,
    ) -> None:
        rtype = str(resource_type).upper()
        if rtype not in ("DATABASE", "TABLE"):
            raise InvalidInputError(
                f"tag policy resource_type must be DATABASE or TABLE, not {resource_type!r}"
            )
        items = expression.items() if isinstance(expression, Mapping) else expression
        expr: dict[str, tuple[str, ...]] = {}
        for key, values in items:
            if isinstance(values, str):
                values = [values]
            if not values:
                raise InvalidInputError(f"tag policy key {key!r} needs at least one value")
            expr[str(key).lower()] = tuple(sorted({str(v).lower() for v in values}))
        if not expr:
            raise InvalidInputError("a tag policy needs at least one key")
        object.__setattr__(self, "resource_type", rtype)
        object.__setattr__(self, "expression", tuple(sorted(expr.items())))
        object.__setattr__(self, "account", account)

    def as_dict(self) -> dict[str, list[str]]:
        """The expression as ``{key: [values]}``."""
        return {k: list(v) for k, v in self.expression}


@dataclass(frozen=True)
class ModelGroup:
    """A model group of an account (rule 30): versions of one model, with approval status."""

    name: str
    account: str | None = None


Resource = (
    Catalog | Database | Table | Column | DataFilter | Location | TagKey | TagPolicy | ModelGroup
)


def resource_to_dict(resource: Resource) -> dict[str, Any]:
    """A JSON-friendly description of a resource."""
    kind = type(resource).__name__.lower()
    data: dict[str, Any] = {"kind": kind}
    for name in resource.__dataclass_fields__:
        value = getattr(resource, name)
        if value is None:
            continue
        if name == "expression":
            value = {k: list(v) for k, v in value}
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return data


_KINDS: dict[str, type[Any]] = {
    cls.__name__.lower(): cls
    for cls in (
        Catalog,
        Database,
        Table,
        Column,
        DataFilter,
        Location,
        TagKey,
        TagPolicy,
        ModelGroup,
    )
}


def resource_from_dict(data: Mapping[str, Any]) -> Resource:
    """The inverse of :func:`resource_to_dict` (the wire form of the server and client).

    >>> resource_from_dict(resource_to_dict(Table("sales", "orders", columns=["id"])))
    Table(database='sales', name='orders', columns=('id',), excluded_columns=None, account=None)

    Raises:
        InvalidInputError: unknown kind or fields.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError("a resource is an object with a 'kind' field")
    fields = dict(data)
    kind = str(fields.pop("kind", "")).lower()
    cls = _KINDS.get(kind)
    if cls is None:
        raise InvalidInputError(f"unknown resource kind {kind!r}: one of {sorted(_KINDS)}")
    unknown = set(fields) - set(cls.__dataclass_fields__)
    if unknown:
        raise InvalidInputError(f"unknown field(s) {sorted(unknown)} of a {kind} resource")
    try:
        resource: Resource = cls(**fields)
    except TypeError as exc:
        raise InvalidInputError(f"malformed {kind} resource: {exc}") from exc
    return resource
