"""Tag keys, values and assignments as a principal does them (rules 11, 12, 15, 16)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from meshlake.catalog.models import GrantRow, TagAssignmentRow, TagKeyRow, TagValueRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.events import EventScope
from meshlake.governance.access import database_access, table_access
from meshlake.governance.permissions import ALL
from meshlake.governance.state import GovernanceState, TagKeyInfo
from meshlake.governance.tagging import MAX_TAGS, clean_tag_text
from meshlake.governance.tagperms import key_visible, tag_permissions, visible_key
from meshlake.governance.tags import column_tags, database_tags, table_tags
from meshlake.inputs import require_mapping, require_str_list
from meshlake.resources import Column, Database, Resource, Table
from meshlake.service.events import target_scope
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit

__all__ = ["TagKeyView", "TagsAPI"]


@dataclass(frozen=True)
class TagKeyView:
    """A tag key and its allowed values."""

    key: str
    account: str
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"key": self.key, "account": self.account, "values": list(self.values)}


@dataclass(frozen=True)
class _Target:
    kind: str  # database | table | column
    target_id: int
    account: str
    creator: str
    table_id: int | None = None
    column: str | None = None


class TagsAPI(ServiceBase):
    """The tag ontology and tag assignments."""

    # ------------------------------------------------------------ ontology
    @in_unit
    def create(self, key: str, values: list[str]) -> TagKeyView:
        """Create a tag key with its allowed values (admins only)."""
        k = clean_tag_text("key", key)
        vals = sorted({clean_tag_text("value", v) for v in require_str_list("values", values)})
        if not vals:
            raise InvalidInputError(f"tag key {k} needs at least one value")
        st = self.state()
        if not st.is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may create tag keys")
        if (self.account, k) in st.tag_key_by_name:
            raise ConflictError(f"tag key {k} already exists in {self.account}")
        with self.change(
            "create_tag",
            f"tag:{self.account}.{k}",
            [self.account],
            after={"key": k, "values": vals},
        ) as (session, _):
            row = TagKeyRow(account=self.account, key=k, creator=self.principal)
            session.add(row)
            session.flush()
            for v in vals:
                session.add(TagValueRow(key_id=row.id, value=v))
            self._emit_key("tag.created", self.account, k, {"key": k, "values": vals})
        return TagKeyView(k, self.account, tuple(vals))

    def _emit_key(self, type_: str, account: str, key: str, data: dict[str, Any]) -> None:
        self.emit(
            type_, f"/tags/{account}", f"tag:{account}.{key}", data, EventScope(accounts=(account,))
        )

    def _emit_assignment(
        self, type_: str, st: GovernanceState, t: _Target, data: dict[str, Any]
    ) -> None:
        kind, tid = ("table", t.table_id) if t.kind == "column" else (t.kind, t.target_id)
        scope = target_scope(st, kind, tid or 0, t.account)
        label = f"{t.kind}:{self._label(st, t)}"
        self.emit(type_, f"/tags/{t.account}", label, {**data, "column": t.column}, scope)

    def _key(self, st: GovernanceState, key: str, account: str | None = None) -> TagKeyInfo:
        info = visible_key(st, self.principal, key, account)
        if info is None:
            raise NotFoundError(f"tag key {key} not found")
        return info

    @in_unit
    def update(
        self, key: str, add: list[str] | None = None, remove: list[str] | None = None
    ) -> TagKeyView:
        """Add and remove allowed values (needs ALTER on the key)."""
        st = self.state()
        info = self._key(st, key)
        adds = {clean_tag_text("value", v) for v in require_str_list("add", add or [])}
        removes = {clean_tag_text("value", v) for v in require_str_list("remove", remove or [])}
        unknown = removes - info.values
        if unknown:
            raise InvalidInputError(f"{', '.join(sorted(unknown))} not a value of {info.key}")
        if "ALTER" not in tag_permissions(st, self.principal, info).key_perms:
            raise AccessDeniedError(f"ALTER on tag key {info.key} is not granted")
        with self.rt.store.read() as session:
            used = session.scalars(
                select(TagAssignmentRow.value).where(
                    TagAssignmentRow.key_id == info.id, TagAssignmentRow.value.in_(removes)
                )
            ).all()
        if used:
            raise ConflictError(
                f"tag value(s) {', '.join(sorted(set(used)))} of {info.key} are still assigned: "
                "remove them from their resources first (rule 15)"
            )
        new = sorted((info.values | adds) - removes)
        if not new:
            raise InvalidInputError("a tag key must keep at least one value")
        with self.change(
            "update_tag",
            f"tag:{info.account}.{info.key}",
            [info.account],
            before=sorted(info.values),
            after=new,
        ) as (session, _):
            self._emit_key(
                "tag.updated", info.account, info.key, {"before": sorted(info.values), "after": new}
            )
            for v in sorted(adds - info.values):
                session.add(TagValueRow(key_id=info.id, value=v))
            if removes:
                session.execute(
                    delete(TagValueRow).where(
                        TagValueRow.key_id == info.id, TagValueRow.value.in_(removes)
                    )
                )
        return TagKeyView(info.key, info.account, tuple(new))

    @in_unit
    def delete(self, key: str) -> None:
        """Delete a key: it leaves every resource and its grants stop matching (rule 15)."""
        st = self.state()
        info = self._key(st, key)
        if "DROP" not in tag_permissions(st, self.principal, info).key_perms:
            raise AccessDeniedError(f"DROP on tag key {info.key} is not granted")
        with self.change(
            "delete_tag",
            f"tag:{info.account}.{info.key}",
            [info.account],
            before=sorted(info.values),
        ) as (session, _):
            self._emit_key("tag.deleted", info.account, info.key, {"values": sorted(info.values)})
            session.execute(delete(TagAssignmentRow).where(TagAssignmentRow.key_id == info.id))
            session.execute(
                delete(GrantRow).where(GrantRow.kind == "tag", GrantRow.target_id == info.id)
            )
            dead = [
                g.id
                for g in st.grants_by_id.values()
                if g.kind == "tag_policy"
                and any(int(k) == info.id for k, _ in g.spec.get("expression", []))
            ]
            if dead:  # they can never match again (rule 15); a new key may reuse the id
                session.execute(delete(GrantRow).where(GrantRow.id.in_(dead)))
            session.execute(delete(TagValueRow).where(TagValueRow.key_id == info.id))
            session.execute(delete(TagKeyRow).where(TagKeyRow.id == info.id))

    def list(self) -> list[TagKeyView]:
        """Tag keys the caller can see: its account's, and others' it holds permissions on."""
        st = self.state()
        return sorted(
            (
                TagKeyView(k.key, k.account, tuple(sorted(k.values)))
                for k in st.tag_keys.values()
                if key_visible(st, self.principal, k)
            ),
            key=lambda v: (v.account, v.key),
        )

    # ------------------------------------------------------------ assignments
    def _target(self, st: GovernanceState, resource: Resource) -> _Target:
        engine = self.rt.engine
        if isinstance(resource, Database):
            db = engine.find_database(st, self.principal, resource.name, resource.account)
            if db is None or db.is_link or not engine.database_visible(st, self.principal, db):
                raise NotFoundError(f"database {resource.name} not found")
            return _Target("database", db.id, db.account, db.creator)
        if isinstance(resource, (Table, Column)):
            tname = resource.name if isinstance(resource, Table) else resource.table
            rt = engine.resolve_table(
                st, self.principal, resource.database, tname, resource.account
            )
            if rt is None:
                raise NotFoundError(f"table {resource.database}.{tname} not found")
            if isinstance(resource, Table):
                return _Target(
                    "table", rt.table.id, rt.database.account, rt.table.creator, rt.table.id
                )
            acc = table_access(st, self.principal, rt.table.id)
            seen = set(acc.visible_columns(rt.table.columns))
            if resource.name not in seen:
                raise NotFoundError(f"column {resource.name} not found")
            cid = rt.table.column_ids[rt.table.columns.index(resource.name)]
            return _Target(
                "column", cid, rt.database.account, rt.table.creator, rt.table.id, resource.name
            )
        raise InvalidInputError("tags are assigned to a Database, Table or Column")

    def _may_tag(self, st: GovernanceState, t: _Target) -> bool:
        if t.creator == self.principal or st.is_admin(self.principal, t.account):
            return True
        if t.table_id is not None:
            return ALL in table_access(st, self.principal, t.table_id).grantable
        return ALL in database_access(st, self.principal, t.target_id).grantable

    def _current(self, st: GovernanceState, t: _Target) -> dict[int, str]:
        if t.kind == "database":
            return dict(st.db_tags.get(t.target_id, {}))
        if t.kind == "table":
            return dict(st.table_tags.get(t.target_id, {}))
        return dict(st.column_tags.get(t.table_id or 0, {}).get(t.column or "", {}))

    @in_unit
    def assign(self, resource: Resource, tags: dict[str, str]) -> dict[str, str]:
        """Assign (or update) ``{key: value}`` tags on a database, table or column."""
        st = self.state()
        t = self._target(st, resource)
        resolved: list[tuple[TagKeyInfo, str]] = []
        for key, value in require_mapping("tags", tags, "{'pii': 'yes'}").items():
            info = self._key(st, key, t.account)
            resolved.append((info, str(value).lower()))
        for info, value in resolved:
            if info.account != t.account:
                raise InvalidInputError(
                    f"tag key {info.key} belongs to account {info.account}; it can be assigned "
                    f"only to that account's resources (rule 11)"
                )
            if value not in info.values:
                raise InvalidInputError(
                    f"{value!r} is not a value of tag key {info.key}; its values: "
                    f"{', '.join(sorted(info.values))}"
                )
        current = self._current(st, t)
        if len(set(current) | {i.id for i, _ in resolved}) > MAX_TAGS:
            raise InvalidInputError(f"a resource carries at most {MAX_TAGS} tags")
        self._require_associate(st, t, resolved)
        after = {st.tag_keys[k].key: v for k, v in current.items()}
        after.update({i.key: v for i, v in resolved})
        with self.change(
            "assign_tags",
            f"{t.kind}:{self._label(st, t)}",
            [t.account],
            before={st.tag_keys[k].key: v for k, v in current.items()},
            after=after,
        ) as (session, _):
            self._emit_assignment("tag.assigned", st, t, {"tags": after})
            for info, value in resolved:
                row = session.scalars(
                    select(TagAssignmentRow).where(
                        TagAssignmentRow.kind == t.kind,
                        TagAssignmentRow.target_id == t.target_id,
                        TagAssignmentRow.key_id == info.id,
                    )
                ).first()
                if row is None:
                    session.add(
                        TagAssignmentRow(
                            kind=t.kind, target_id=t.target_id, key_id=info.id, value=value
                        )
                    )
                else:
                    row.value = value
        return after

    def _require_associate(
        self, st: GovernanceState, t: _Target, pairs: builtins.list[tuple[TagKeyInfo, str]]
    ) -> None:
        for info, value in pairs:
            if "ASSOCIATE" not in tag_permissions(st, self.principal, info).value_perms.get(
                value, ()
            ):
                raise AccessDeniedError(
                    f"ASSOCIATE on tag {info.key}={value} is not granted to {self.principal}"
                )
        if not self._may_tag(st, t):
            raise AccessDeniedError(
                f"{self.principal} may tag only resources it created, resources of an account "
                "it administers, or resources it holds ALL on with the grant option (rule 16)"
            )

    @in_unit
    def remove(self, resource: Resource, keys: builtins.list[str]) -> None:
        """Remove tags; an override removed restores the inherited value (rule 12)."""
        st = self.state()
        t = self._target(st, resource)
        current = self._current(st, t)
        infos = [self._key(st, k, t.account) for k in require_str_list("keys", keys)]
        missing = [i.key for i in infos if i.id not in current]
        if missing:
            raise NotFoundError(f"the resource carries no tag {', '.join(missing)}")
        self._require_associate(st, t, [(i, current[i.id]) for i in infos])
        with self.change(
            "remove_tags",
            f"{t.kind}:{self._label(st, t)}",
            [t.account],
            before={st.tag_keys[k].key: v for k, v in current.items()},
            after={
                st.tag_keys[k].key: v for k, v in current.items() if k not in {i.id for i in infos}
            },
        ) as (session, _):
            session.execute(
                delete(TagAssignmentRow).where(
                    TagAssignmentRow.kind == t.kind,
                    TagAssignmentRow.target_id == t.target_id,
                    TagAssignmentRow.key_id.in_([i.id for i in infos]),
                )
            )
            self._emit_assignment("tag.removed", st, t, {"keys": [i.key for i in infos]})

    def tags_of(self, resource: Resource) -> dict[str, str]:
        """Effective tags (inheritance applied) whose values the caller may see."""
        st = self.state()
        t = self._target(st, resource)
        if t.kind == "database":
            tags = database_tags(st, t.target_id)
        elif t.kind == "table":
            tags = table_tags(st, t.target_id)
        else:
            tags = column_tags(st, t.table_id or 0, t.column or "")
        out: dict[str, str] = {}
        for kid, value in tags.items():
            info = st.tag_keys[kid]
            perms = tag_permissions(st, self.principal, info).value_perms.get(value, set())
            if perms & {"DESCRIBE", "ASSOCIATE"}:
                out[info.key] = value
        return dict(sorted(out.items()))

    @staticmethod
    def _label(st: GovernanceState, t: _Target) -> str:
        if t.kind == "database":
            db = st.databases[t.target_id]
            return f"{db.account}.{db.name}"
        db, tbl = st.table_of(t.table_id or 0)
        return f"{db.account}.{db.name}.{tbl.name}" + (f".{t.column}" if t.column else "")
