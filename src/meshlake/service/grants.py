"""Granting and revoking (rules 4, 6, 8, 17, 21-24).

Checks run in rule 0's order: the resource, columns, tag keys and grantee must be visible
(``NotFoundError``); the request must be well formed and allowed for anyone
(``InvalidInputError``); the grantor must hold what it grants (``AccessDeniedError``).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshlake.catalog.models import GrantRow
from meshlake.errors import AccessDeniedError, InvalidInputError, NotFoundError
from meshlake.governance.access import (
    account_table_access,
    database_access,
    grants_index,
    table_access,
)
from meshlake.governance.models import StoreReader
from meshlake.governance.permissions import (
    ALL,
    SELECT,
    WRITE_TABLE_PERMISSIONS,
    expand_all,
    normalize_permissions,
)
from meshlake.governance.state import GovernanceState
from meshlake.governance.tagperms import tag_permissions
from meshlake.governance.targets import GrantTarget, resolve_target
from meshlake.ids import ROOT, PrincipalId
from meshlake.resources import Resource
from meshlake.service.events import target_scope
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit

__all__ = ["GrantInfoView", "GrantsAPI"]

NEVER_CROSS_ACCOUNT = {
    "database": {"DROP", ALL},
    "tag_policy_database": {"DROP", ALL},
    "tag": {"ALTER", "DROP", "GRANT_WITH_TAG_EXPRESSION"},
}


@dataclass(frozen=True)
class GrantInfoView:
    """A grant as listed to a caller."""

    grantee: str
    resource: str
    permissions: tuple[str, ...]
    grantable: tuple[str, ...]
    grantor: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "grantee": self.grantee,
            "resource": self.resource,
            "permissions": list(self.permissions),
            "grantable": list(self.grantable),
            "grantor": self.grantor,
        }


class GrantsAPI(ServiceBase):
    """Grant, revoke and list permissions."""

    def _grantee(self, st: GovernanceState, grantee: str) -> PrincipalId:
        pid = PrincipalId.parse(grantee)
        if pid.is_root:
            raise InvalidInputError("the mesh root cannot receive grants")
        if (pid.is_account and pid.account not in st.accounts) or (
            not pid.is_account and str(pid) not in st.principals
        ):
            raise NotFoundError(
                f"{'account' if pid.is_account else 'principal'} {grantee} not found"
            )
        return pid

    # ------------------------------------------------------------------ grant
    @in_unit
    def grant(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> GrantInfoView:
        """Grant ``permissions`` (``grantable`` of them with the grant option) on ``resource``."""
        st = self.state()
        target = resolve_target(self.rt.engine, st, self.principal, resource)
        to = self._grantee(st, grantee)
        perms = normalize_permissions(target.perm_kind, permissions)
        gopt = normalize_permissions(target.perm_kind, grantable or [])
        if not perms:
            raise InvalidInputError("name at least one permission to grant")
        if not gopt <= perms:
            raise InvalidInputError("grantable permissions must be among the granted ones")
        self._check_rules(st, target, to, perms, gopt)
        bounded = self._authorize(st, target, to, perms, gopt)
        return self._store(target, to, perms, gopt, bounded)

    def _check_rules(
        self,
        st: GovernanceState,
        target: GrantTarget,
        to: PrincipalId,
        perms: frozenset[str],
        gopt: frozenset[str],
    ) -> None:
        """Rules 8, 22, 23, 24: what no grantor may do."""
        if target.kind == "table" and target.spec:
            if perms != {SELECT}:
                raise InvalidInputError(
                    "a column-limited grant gives SELECT only (rule 8): grant other "
                    "permissions on the whole table to principals without column limits"
                )
            if gopt and "excluded" in target.spec:
                raise InvalidInputError(
                    "the grant option on a column-limited SELECT needs an include list "
                    "(columns=...), not excluded_columns (rule 8)"
                )
        if target.kind == "table" and not to.is_account:
            self._check_column_limits(st, target, str(to), perms)
        grantor_account = self.account
        if to.is_account:
            if to.account == target.account:
                raise InvalidInputError(
                    f"{to.account} owns the resource: grant to its principals instead"
                )
            if perms - gopt:
                raise InvalidInputError(
                    f"a grant to the external account {to.account} must carry the grant option "
                    "for every permission (rule 22): pass grantable=permissions"
                )
            never = NEVER_CROSS_ACCOUNT.get(target.perm_kind, set()) & perms
            if never:
                raise InvalidInputError(
                    f"{', '.join(sorted(never))} cannot be granted to another account (rule 22)"
                )
        elif gopt and to.account != grantor_account and to.account != target.account:
            raise InvalidInputError(
                f"a grant to {to}, a principal of another account, cannot carry the grant option "
                f"(rule 24): grant to the account {to.account} instead"
            )
        if self._via_share(st, target) and (to.is_account or to.account != grantor_account):
            raise InvalidInputError(
                f"what account {grantor_account} received through a share may be re-granted only "
                f"to principals of {grantor_account} (rule 23)"
            )

    def _check_column_limits(
        self, st: GovernanceState, target: GrantTarget, grantee: str, perms: frozenset[str]
    ) -> None:
        existing = grants_index(st, grantee).get(("table", target.target_id), [])
        limited = any(g.spec for g in existing if SELECT in g.permissions)
        whole = (
            set().union(*(expand_all("table", g.permissions) for g in existing if not g.spec))
            if existing
            else set()
        )
        non_select = expand_all("table", perms) - {SELECT}
        if not target.spec and limited and non_select:
            raise InvalidInputError(
                f"{grantee} holds a column-limited SELECT on this table, so it cannot also be "
                f"granted {', '.join(sorted(non_select))} (rule 8)"
            )
        if target.spec and (whole - {SELECT}) & (WRITE_TABLE_PERMISSIONS | {"DESCRIBE"}):
            raise InvalidInputError(
                f"{grantee} holds whole-table permissions, so a column-limited SELECT cannot be "
                "added (rule 8): revoke them first"
            )

    def _via_share(self, st: GovernanceState, target: GrantTarget) -> bool:
        """True when the grantor's authority comes from what its account received."""
        return target.account != self.account and not self._creator_rights(st, target)

    def _creator_rights(self, st: GovernanceState, target: GrantTarget) -> bool:
        """Rule 3: the grantor created the resource; for a data filter, the filter's table.

        Creating a filter on a table the account received (rules 18, 21) gives no creator
        rights over the table's data: grants of such a filter stay bounded (rule 23).
        """
        if target.kind == "filter" and target.table_id is not None:
            return st.tables[target.table_id].creator == self.principal
        return target.creator == self.principal

    def _authorize(
        self,
        st: GovernanceState,
        target: GrantTarget,
        to: PrincipalId,
        perms: frozenset[str],
        gopt: frozenset[str],
    ) -> bool:
        """Raise AccessDeniedError unless the grantor holds what it grants.

        Returns whether the new grant is bounded by the grantee account's access (rule 23).
        """
        wanted = expand_all(target.perm_kind, perms | gopt)
        p = self.principal
        bounded = (
            not to.is_account
            and to.account == self.account != target.account
            and not self._creator_rights(st, target)
        )
        if st.is_admin(p, target.account):
            return False
        held = self._held_grantable(st, p, target, wanted)
        missing = wanted - held - {ALL}
        if (
            ALL in wanted
            and ALL not in held
            and not (expand_all(target.perm_kind, [ALL]) - {ALL}) <= held
        ):
            missing |= {ALL}
        if missing:
            raise AccessDeniedError(
                f"{p} cannot grant {', '.join(sorted(missing))} on {target.label}: it holds "
                "no grant option for it (ask an admin of the owning account)"
            )
        return bounded

    def _held_grantable(
        self, st: GovernanceState, p: str, target: GrantTarget, wanted: Set[str]
    ) -> set[str]:
        """The permissions ``p`` holds with the grant option on ``target`` (its account's
        admins hold all of them; not decided here)."""
        account = p.split("/", 1)[0]
        held: set[str] = set()
        if target.kind == "table":
            acc = table_access(st, p, target.target_id)
            held = set(acc.grantable)
            if SELECT in wanted:
                cols = set(target.spec.get("columns") or st.tables[target.target_id].columns)
                if "excluded" in target.spec:
                    cols -= set(target.spec["excluded"])
                if cols <= acc.grant_columns:
                    held.add(SELECT)
                elif (
                    st.is_admin(p, account)
                    and account != target.account
                    and account_table_access(st, account, target.target_id).rules
                ):
                    held.add(SELECT)  # rule 21: the admin may grant SELECT within what it got
        elif target.kind == "table_wildcard":
            for grantee in (p, account) if st.is_admin(p, account) else (p,):
                for g in grants_index(st, grantee).get(("table_wildcard", target.target_id), []):
                    held |= expand_all("table", g.grantable)
        elif target.kind == "database":
            held = set(database_access(st, p, target.target_id).grantable)
        elif target.kind == "filter":
            f = st.filters[target.target_id]
            acc = table_access(st, p, f.table_id)
            if (
                f.name in acc.grant_filters
                or f.creator == p
                or (
                    st.is_admin(p, account)
                    and any(
                        r.name == f.name
                        for r in account_table_access(st, account, f.table_id).rules
                    )
                )
            ):
                held.add(SELECT)
        elif target.kind == "catalog":
            for g in grants_index(st, p).get(("catalog", 0), []):
                if g.target_account == target.account:
                    held |= g.grantable
        elif target.kind == "location":
            for g in grants_index(st, p).get(("location", target.target_id), []):
                held |= g.grantable
        elif target.kind == "tag":
            tp = tag_permissions(st, p, target.keys[0])
            values = (
                target.keys[0].values if target.spec["values"] == ["*"] else target.spec["values"]
            )
            held = (
                set.intersection(*(tp.value_grantable.get(v, set()) for v in values))
                if values
                else set()
            )
            held |= tp.key_grantable
        elif target.kind == "tag_policy":
            held = self._tag_policy_held(st, target, p)
        elif target.kind == "model_group":  # rule 30
            held = _model_group_grantable(self.rt.engine.reader, st, p, target.target_id)
        return held

    def _tag_policy_held(self, st: GovernanceState, target: GrantTarget, p: str) -> set[str]:
        """Rule 17: GRANT_WITH_TAG_EXPRESSION on the values, or a wider grant with option."""
        expr = {int(k): set(v) for k, v in target.spec["expression"]}
        gwte = True
        for key in target.keys:
            tp = tag_permissions(st, p, key)
            values = key.values if "*" in expr[key.id] else expr[key.id]
            if not all("GRANT_WITH_TAG_EXPRESSION" in tp.value_perms.get(v, ()) for v in values):
                gwte = False
        if gwte:
            kind = target.perm_kind
            return set(expand_all(kind, [ALL]))
        held: set[str] = set()
        account = p.split("/", 1)[0]
        sources = [p, account] if st.is_admin(p, account) else [p]
        for grantee in sources:
            for g in grants_index(st, grantee).get(("tag_policy", 0), []):
                if g.spec.get("type") != target.spec["type"] or g.target_account != target.account:
                    continue
                orig = {int(k): set(v) for k, v in g.spec.get("expression", [])}
                if all(
                    k in expr and ("*" in vals or (expr[k] <= vals and "*" not in expr[k]))
                    for k, vals in orig.items()
                ):
                    held |= expand_all(target.perm_kind, g.grantable)
        return held

    def _store(
        self,
        target: GrantTarget,
        to: PrincipalId,
        perms: frozenset[str],
        gopt: frozenset[str],
        bounded: bool,
    ) -> GrantInfoView:
        grantee = str(to)
        scope = target_scope(self.state(), target.kind, target.target_id, self.account, to.account)
        with self.change(
            "grant",
            target.label,
            [target.account, self.account, to.account],
            after={"grantee": grantee, "permissions": sorted(perms), "grantable": sorted(gopt)},
        ) as (session, record):
            row = _find_row(session, grantee, target)
            if row is None:
                row = GrantRow(
                    grantee=grantee,
                    kind=target.kind,
                    target_account=target.account,
                    target_id=target.target_id,
                    spec_key=target.spec_key,
                    spec=target.spec,
                    permissions=sorted(perms),
                    grantable=sorted(gopt),
                    grantor=self.principal,
                    bounded=bounded,
                    created_at=datetime.now(UTC),
                )
                session.add(row)
            else:
                record["before"] = {"permissions": row.permissions, "grantable": row.grantable}
                row.permissions = sorted(set(row.permissions) | perms)
                row.grantable = sorted(set(row.grantable) | gopt)
                row.bounded = row.bounded and bounded
            record["after"] = {
                "grantee": grantee,
                "permissions": row.permissions,
                "grantable": row.grantable,
            }
            label = target.label
            cols: list[str] = target.spec.get("columns") or target.spec.get("excluded") or []
            if cols:
                label += f" ({'' if 'columns' in target.spec else 'excluding '}{', '.join(cols)})"
            view = GrantInfoView(
                grantee, label, tuple(row.permissions), tuple(row.grantable), row.grantor
            )
            self.emit(
                "grant.created",
                f"/grants/{target.account}",
                label,
                {**record["after"], "grantor": self.principal, "before": record["before"]},
                scope,
            )
        return view

    # ------------------------------------------------------------------ revoke
    @in_unit
    def revoke(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> None:
        """Remove ``permissions`` and, separately, the grant option of ``grantable``.

        Revoking a permission removes its grant option too; grants the grantee made
        with it stay (rule 4), except what rule 23 bounds.
        """
        st = self.state()
        target = resolve_target(self.rt.engine, st, self.principal, resource)
        to = self._grantee(st, grantee)
        perms = normalize_permissions(target.perm_kind, permissions)
        gopt = normalize_permissions(target.perm_kind, grantable or [])
        if not perms and not gopt:
            raise InvalidInputError("name at least one permission or grant option to revoke")
        with self.rt.store.read() as session:
            row = _find_row(session, str(to), target)
        if row is None or not ((perms & set(row.permissions)) or (gopt & set(row.grantable))):
            raise NotFoundError(f"{to} holds no such grant on {target.label}")
        if not (
            st.is_admin(self.principal, target.account)
            or row.grantor == self.principal
            or target.creator == self.principal
        ):
            try:
                self._authorize(st, target, to, perms | gopt, frozenset())
            except AccessDeniedError as exc:
                raise AccessDeniedError(
                    f"{self.principal} may not revoke grants on {target.label}: only its "
                    "grantor, an admin of the owning account, or a holder of the grant option may"
                ) from exc
        with self.change(
            "revoke",
            target.label,
            [target.account, self.account, to.account],
            before={"grantee": str(to), "permissions": row.permissions, "grantable": row.grantable},
        ) as (session, record):
            live = session.get(GrantRow, row.id)
            if live is None:
                raise NotFoundError(f"{to} holds no such grant on {target.label}")
            new_perms = sorted(set(live.permissions) - perms)
            new_gopt = sorted((set(live.grantable) - gopt - perms) & set(new_perms))
            record["after"] = {"grantee": str(to), "permissions": new_perms, "grantable": new_gopt}
            scope = target_scope(st, target.kind, target.target_id, self.account, to.account)
            if new_perms:
                live.permissions, live.grantable = new_perms, new_gopt
            else:
                session.delete(live)
            self.emit(
                "grant.revoked",
                f"/grants/{target.account}",
                target.label,
                {**record["after"], "revoked": sorted(perms), "revoked_grantable": sorted(gopt)},
                scope,
            )

    # ------------------------------------------------------------------ listing
    def effective_permissions(self, principal: str, resource: Resource) -> list[EffectiveView]:
        """What ``principal`` may do on ``resource``, whatever the source (explicit grants,
        its account's, tag policies, admin or creator rights, shares), each with the
        decision's reason and whether it may grant it on (rule 26).

        The caller asks about itself, or as an admin of the principal's account (or root).

        Raises:
            NotFoundError: an unknown principal, or a resource the caller cannot see.
            AccessDeniedError: a principal of an account the caller does not administer.
        """
        st = self.state()
        if not isinstance(principal, str) or principal not in st.principals:
            raise NotFoundError(f"principal {principal} not found")
        target = resolve_target(self.rt.engine, st, self.principal, resource)  # rule 0: first
        if not (
            principal == self.principal
            or self.principal == ROOT
            or st.is_admin(self.principal, principal.split("/", 1)[0])
        ):
            raise AccessDeniedError(
                "only admins of its account may list another principal's effective permissions"
            )
        names = sorted(expand_all(target.perm_kind, [ALL]) - {ALL})
        grantable: set[str] | None = None
        out: list[EffectiveView] = []
        for name in names:
            decision = self.rt.engine.decide(principal, name, resource, st=st)
            if not decision.allowed:
                continue
            if grantable is None:
                grantable = (
                    set(names)
                    if st.is_admin(principal, target.account)
                    else self._held_grantable(st, principal, target, set(names))
                )
            out.append(
                EffectiveView(principal, target.label, name, name in grantable, decision.reason)
            )
        return out

    def list_permissions(
        self, principal: str | None = None, resource: Resource | None = None
    ) -> list[GrantInfoView] | list[EffectiveView]:
        """Explicit grants the caller may see (rule 26), filtered by grantee and resource;
        with both a principal and a resource, the principal's effective permissions on it
        and their reasons (:meth:`effective_permissions`)."""
        if principal is not None and resource is not None:
            return self.effective_permissions(principal, resource)
        st = self.state()
        target = resolve_target(self.rt.engine, st, self.principal, resource) if resource else None
        out: list[GrantInfoView] = []
        grantees = [principal] if principal else sorted(st.grants_by_grantee)
        for grantee in grantees:
            for g in st.grants_by_grantee.get(grantee, []):
                if target is not None and (g.kind, g.target_id, g.target_account) != (
                    target.kind,
                    target.target_id,
                    target.account,
                ):
                    continue
                visible = (
                    self.principal == ROOT
                    or g.grantee == self.principal
                    or g.grantor == self.principal
                    or st.is_admin(self.principal, g.target_account)
                    or st.is_admin(self.principal, g.grantee.split("/", 1)[0])
                )
                if not visible:
                    continue
                label = _label(st, g.kind, g.target_account, g.target_id, g.spec)
                out.append(
                    GrantInfoView(
                        g.grantee,
                        label,
                        tuple(sorted(g.permissions)),
                        tuple(sorted(g.grantable)),
                        g.grantor,
                    )
                )
        return out


@dataclass(frozen=True)
class EffectiveView:
    """One permission a principal holds on a resource, and why (rule 26)."""

    principal: str
    resource: str
    permission: str
    grantable: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "principal": self.principal,
            "resource": self.resource,
            "permission": self.permission,
            "grantable": self.grantable,
            "reason": self.reason,
        }


def _model_group_grantable(
    store: StoreReader, st: GovernanceState, principal: str, group_id: int
) -> set[str]:
    from meshlake.governance.models import model_group_access, model_groups

    group = model_groups(store, st).get(group_id)
    return set() if group is None else model_group_access(st, principal, group).grantable


def _find_row(session: Session, grantee: str, target: GrantTarget) -> GrantRow | None:
    """The grant row of ``grantee`` on ``target`` (one per grantee, target and spec)."""
    return session.scalars(
        select(GrantRow).where(
            GrantRow.grantee == grantee,
            GrantRow.kind == target.kind,
            GrantRow.target_account == target.account,
            GrantRow.target_id == target.target_id,
            GrantRow.spec_key == target.spec_key,
        )
    ).first()


def _label(
    st: GovernanceState, kind: str, account: str, target_id: int, spec: dict[str, Any]
) -> str:
    if kind in ("database", "table_wildcard") and target_id in st.databases:
        db = st.databases[target_id]
        return f"{'database' if kind == 'database' else 'tables'}:{db.account}.{db.name}" + (
            ".*" if kind == "table_wildcard" else ""
        )
    if kind == "table" and target_id in st.tables:
        db, t = st.table_of(target_id)
        cols = spec.get("columns") or spec.get("excluded")
        suffix = f" ({'' if 'columns' in spec else 'excluding '}{', '.join(cols)})" if cols else ""
        return f"table:{db.account}.{db.name}.{t.name}{suffix}"
    if kind == "filter" and target_id in st.filters:
        f = st.filters[target_id]
        db, t = st.table_of(f.table_id)
        return f"filter:{db.account}.{db.name}.{t.name}.{f.name}"
    if kind in ("tag", "tag_policy"):
        if kind == "tag":
            key = st.tag_keys.get(target_id)
            return f"tag:{account}.{key.key if key else target_id}=" + "|".join(
                spec.get("values", [])
            )
        parts = [
            f"{st.tag_keys[int(k)].key if int(k) in st.tag_keys else k}={'|'.join(v)}"
            for k, v in spec.get("expression", [])
        ]
        return f"tag_policy:{spec.get('type')}:{{{', '.join(parts)}}}"
    if kind == "model_group":
        from meshlake.governance.models import model_group_label

        return model_group_label(st, account, target_id)
    if kind == "location" and target_id in st.locations:
        return f"location:{st.locations[target_id][1]}"
    return f"{kind}:{account}"
