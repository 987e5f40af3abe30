"""Decisions on model groups (rule 30).

A model group belongs to an account. Its creator holds ALL with the grant option; its
account's admins hold every permission. Grants on it are ordinary grant rows of kind
``model_group`` (rules 4, 6, 22-24): a grant to an external account reaches that account's
admins, who may re-grant it to their own principals for as long as the account holds it.

The groups themselves live in the store table ``ml_model_groups``; they are read once per
governance state (the state is replaced whenever the store version moves, and creating a group
bumps it), so a decision never queries the store twice for the same version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from meshlake.catalog.ml_models import ModelGroupRow
from meshlake.governance.access import grants_index
from meshlake.governance.permissions import ALL, DESCRIBE, MODEL_GROUP_PERMISSIONS
from meshlake.governance.state import GovernanceState

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from meshlake.governance.engine import Decision
    from meshlake.resources import ModelGroup


class StoreReader(Protocol):
    """What model-group lookups need of the store: read sessions."""

    def read(self) -> AbstractContextManager[Any]:
        """A read session."""


__all__ = [
    "ModelGroupAccess",
    "ModelGroupInfo",
    "decide_model_group",
    "find_model_group",
    "model_group_access",
    "model_group_label",
    "model_groups",
]

_CACHE_KEY = ("model_groups",)


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
class ModelGroupAccess:
    """What one principal holds on one model group, and why."""

    perms: set[str] = field(default_factory=set)
    grantable: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)

    @property
    def visible(self) -> bool:
        """Any permission implies DESCRIBE (rule 7's analogue)."""
        return bool(self.perms)


def model_groups(store: StoreReader, st: GovernanceState) -> dict[int, ModelGroupInfo]:
    """Every model group, by id, read once per governance state."""
    cached: dict[int, ModelGroupInfo] | None = st.cache.get(_CACHE_KEY)
    if cached is None:
        with store.read() as session:
            rows = session.execute(
                select(
                    ModelGroupRow.id,
                    ModelGroupRow.account,
                    ModelGroupRow.name,
                    ModelGroupRow.creator,
                )
            ).all()
        cached = {r[0]: ModelGroupInfo(r[0], r[1], r[2], r[3]) for r in rows}
        st.cache[_CACHE_KEY] = cached
    return cached


def model_group_label(st: GovernanceState, account: str, group_id: int) -> str:
    """A group's label from the state's cache (grant listings), its id when not loaded."""
    cached: dict[int, ModelGroupInfo] = st.cache.get(_CACHE_KEY) or {}
    group = cached.get(group_id)
    return group.label if group else f"model_group:{account}#{group_id}"


def _expand(perms: frozenset[str] | set[str]) -> set[str]:
    out = set(perms)
    if ALL in out:
        out |= MODEL_GROUP_PERMISSIONS
    return out


def model_group_access(
    st: GovernanceState, principal: str, group: ModelGroupInfo
) -> ModelGroupAccess:
    """Rule 30: creator and admin rights, named grants, and what the account received (23)."""
    acc = ModelGroupAccess()
    account = principal.split("/", 1)[0]
    if group.creator == principal:
        acc.perms |= MODEL_GROUP_PERMISSIONS | {ALL}
        acc.grantable |= MODEL_GROUP_PERMISSIONS | {ALL}
        acc.reasons.append("creator of the model group (rule 30)")
    if st.is_admin(principal, group.account):
        acc.perms |= MODEL_GROUP_PERMISSIONS | {ALL}
        acc.grantable |= MODEL_GROUP_PERMISSIONS | {ALL}
        acc.reasons.append(f"admin of account {group.account} (rule 30)")
    received = [
        g
        for g in grants_index(st, account).get(("model_group", group.id), [])
        if g.target_account == group.account
    ]
    if st.is_admin(principal, account):
        for g in received:
            acc.perms |= _expand(g.permissions)
            acc.grantable |= _expand(g.grantable)
            acc.reasons.append(f"granted to account {account} (grant {g.id})")
    held_by_account = (
        set().union(*(_expand(g.permissions) for g in received)) if received else set()
    )
    for g in grants_index(st, principal).get(("model_group", group.id), []):
        if g.target_account != group.account:
            continue
        perms, gopt = _expand(g.permissions), _expand(g.grantable)
        if g.bounded:  # a re-grant of what the account received (rule 23)
            perms &= held_by_account
            gopt &= held_by_account
        if perms:
            acc.perms |= perms
            acc.grantable |= gopt
            acc.reasons.append(f"{'/'.join(sorted(g.permissions))} (grant {g.id})")
    if acc.perms:
        acc.perms.add(DESCRIBE)
    return acc


def find_model_group(
    store: StoreReader,
    st: GovernanceState,
    principal: str,
    name: str,
    account: str | None = None,
) -> ModelGroupInfo | None:
    """A model group ``principal`` may see, by name (default account: the principal's)."""
    account = account or principal.split("/", 1)[0]
    for g in model_groups(store, st).values():
        if g.account == account and g.name == name:
            return g if model_group_access(st, principal, g).visible else None
    return None


def decide_model_group(
    store: StoreReader,
    st: GovernanceState,
    principal: str,
    action: str,
    resource: ModelGroup,
) -> Decision:
    """Decide ``action`` on a model group; never raises for visibility (rule 0)."""
    from meshlake.governance.engine import NOT_VISIBLE, Decision

    group = find_model_group(store, st, principal, resource.name, resource.account)
    if group is None:
        return Decision(False, NOT_VISIBLE)
    acc = model_group_access(st, principal, group)
    if action in acc.perms:
        return Decision(True, "; ".join(dict.fromkeys(acc.reasons)))
    return Decision(False, f"no grant or rule gives {action} on {group.label}")
