"""Turning a resource value into a grant target (kind, account, id, spec), for a grantor.

Resolution follows rule 0: a resource, column, tag key or value the grantor cannot see is
``NotFoundError``; a tag value outside its key's values is ``InvalidInputError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.governance.access import table_access
from meshlake.governance.engine import GovernanceEngine
from meshlake.governance.state import GovernanceState, TagKeyInfo
from meshlake.governance.tagperms import visible_key
from meshlake.resources import (
    Catalog,
    Database,
    DataFilter,
    Location,
    ModelGroup,
    Resource,
    Table,
    TagKey,
    TagPolicy,
)

__all__ = ["GrantTarget", "resolve_target"]


@dataclass(frozen=True)
class GrantTarget:
    """Where a grant row points."""

    kind: str
    account: str  # the account owning the resource
    target_id: int
    spec: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    creator: str | None = None  # creator of the resource (rule 3), when it has one
    table_id: int | None = None
    keys: tuple[TagKeyInfo, ...] = ()

    @property
    def perm_kind(self) -> str:
        """The kind used to check permission names."""
        if self.kind == "tag_policy":
            return f"tag_policy_{self.spec['type'].lower()}"
        return self.kind

    @property
    def spec_key(self) -> str:
        """A canonical text of the spec (grant rows are unique per target and spec)."""
        return json.dumps(self.spec, sort_keys=True, separators=(",", ":"))


def _tag_values(key: TagKeyInfo, values: Any) -> list[str]:
    vals = sorted({str(v).lower() for v in (values or ["*"])})
    if "*" in vals:
        return ["*"]
    bad = [v for v in vals if v not in key.values]
    if bad:
        raise InvalidInputError(
            f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} not a value of tag key "
            f"{key.key}; its values: {', '.join(sorted(key.values))}"
        )
    return vals


def resolve_target(
    engine: GovernanceEngine, st: GovernanceState, principal: str, resource: Resource
) -> GrantTarget:
    """Resolve ``resource`` as seen by ``principal``.

    Raises:
        NotFoundError: missing or invisible to ``principal``.
        InvalidInputError: malformed (unknown tag value, bad column list).
    """
    own = principal.split("/", 1)[0]
    if isinstance(resource, Catalog):
        account = resource.account or own
        if account not in st.accounts:
            raise NotFoundError(f"account {account} not found")
        return GrantTarget("catalog", account, 0, label=f"catalog:{account}")
    if isinstance(resource, Database):
        db = engine.find_database(st, principal, resource.name, resource.account)
        if db is None or not engine.database_visible(st, principal, db):
            raise NotFoundError(f"database {resource.name} not found")
        return GrantTarget(
            "database",
            db.account,
            db.id,
            label=f"database:{db.account}.{db.name}",
            creator=db.creator,
        )
    if isinstance(resource, Table):
        if resource.is_wildcard:
            db = engine.find_database(st, principal, resource.database, resource.account)
            if db is not None and db.is_link and engine.database_visible(st, principal, db):
                db = engine.link_target(st, db)
            if db is None or not engine.database_visible(st, principal, db):
                raise NotFoundError(f"database {resource.database} not found")
            if resource.column_limited:
                raise InvalidInputError("a table wildcard cannot name columns")
            return GrantTarget(
                "table_wildcard",
                db.account,
                db.id,
                label=f"tables:{db.account}.{db.name}.*",
                creator=db.creator,
            )
        rt = engine.resolve_table(st, principal, resource.database, resource.name, resource.account)
        if rt is None:
            raise NotFoundError(f"table {resource.database}.{resource.name} not found")
        spec: dict[str, Any] = {}
        named = resource.columns if resource.columns is not None else resource.excluded_columns
        if named is not None:
            acc = table_access(st, principal, rt.table.id)
            seen = set(acc.visible_columns(rt.table.columns))
            for c in named:
                if c not in seen:
                    raise NotFoundError(
                        f"column {c} not found in {resource.database}.{resource.name}"
                    )
            if not named:
                raise InvalidInputError("a column list must name at least one column")
            spec = (
                {"columns": sorted(set(named))}
                if resource.columns is not None
                else {"excluded": sorted(set(named))}
            )
        return GrantTarget(
            "table",
            rt.database.account,
            rt.table.id,
            spec,
            label=f"table:{rt.ref.account}.{rt.ref.qualified}",
            creator=rt.table.creator,
            table_id=rt.table.id,
        )
    if isinstance(resource, DataFilter):
        rt = engine.resolve_table(
            st, principal, resource.database, resource.table, resource.account
        )
        fid = st.filter_by_name.get((rt.table.id, resource.name)) if rt else None
        if rt is None or fid is None:
            raise NotFoundError(
                f"data filter {resource.name} on {resource.database}.{resource.table} not found"
            )
        f = st.filters[fid]
        return GrantTarget(
            "filter",
            rt.database.account,
            fid,
            label=f"filter:{rt.ref.account}.{rt.ref.qualified}.{f.name}",
            creator=f.creator,
            table_id=rt.table.id,
        )
    if isinstance(resource, Location):
        from meshlake.governance.locations import canonical_location

        account = resource.account or own
        uri = canonical_location(resource.uri)
        lid = next((i for i, (a, u) in st.locations.items() if a == account and u == uri), None)
        if lid is None:
            raise NotFoundError(f"location {uri} is not registered with account {account}")
        return GrantTarget("location", account, lid, label=f"location:{uri}")
    if isinstance(resource, TagKey):
        key = visible_key(st, principal, resource.key, resource.account)
        if key is None:
            raise NotFoundError(f"tag key {resource.key} not found")
        vals = _tag_values(key, resource.values)
        return GrantTarget(
            "tag",
            key.account,
            key.id,
            {"values": vals},
            label=f"tag:{key.account}.{key.key}={'|'.join(vals)}",
            keys=(key,),
        )
    if isinstance(resource, TagPolicy):
        account = resource.account or own
        if account not in st.accounts:
            raise NotFoundError(f"account {account} not found")
        expr: list[list[Any]] = []
        keys: list[TagKeyInfo] = []
        for name, _values in resource.expression:  # every key first: not found wins (rule 0)
            key = visible_key(st, principal, name, account)
            if key is None:
                raise NotFoundError(f"tag key {name} not found")
            keys.append(key)
        for key, (_, values) in zip(keys, resource.expression, strict=True):
            expr.append([key.id, _tag_values(key, values)])
        text = ", ".join(f"{k.key}={'|'.join(v)}" for k, (_, v) in zip(keys, expr, strict=True))
        expr.sort()
        return GrantTarget(
            "tag_policy",
            account,
            0,
            {"type": resource.resource_type, "expression": expr},
            label=f"tag_policy:{resource.resource_type}:{{{text}}}",
            keys=tuple(keys),
        )
    if isinstance(resource, ModelGroup):
        from meshlake.governance.models import find_model_group

        group = find_model_group(st, principal, resource.name, resource.account)
        if group is None:
            raise NotFoundError(f"model group {resource.name} not found")
        return GrantTarget(
            "model_group", group.account, group.id, label=group.label, creator=group.creator
        )
    raise InvalidInputError(f"cannot grant on {type(resource).__name__}")
