"""Decisions on model groups (rule 30).

A model group belongs to an account. Its creator holds ALL with the grant option; its
account's admins hold every permission. Grants on it are ordinary grant rows of kind
``model_group`` (rules 4, 6, 22-24): a grant to an external account reaches that account's
admins, who may re-grant it to their own principals for as long as the account holds it.

The groups themselves live in the store table ``ml_model_groups``; the governance state holds
them (``GovernanceState.model_groups``, kept current through the change log like the rest), so
a decision never queries the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from meshlake.governance.access import grants_index
from meshlake.governance.permissions import ALL, DESCRIBE, MODEL_GROUP_PERMISSIONS
from meshlake.governance.state import GovernanceState, ModelGroupInfo

if TYPE_CHECKING:
    from meshlake.governance.engine import Decision
    from meshlake.resources import ModelGroup

__all__ = [
    "ModelGroupAccess",
    "ModelGroupInfo",
    "decide_model_group",
    "find_model_group",
    "model_group_access",
    "model_group_label",
    "model_groups",
]


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


def model_groups(st: GovernanceState) -> dict[int, ModelGroupInfo]:
    """Every model group, by id."""
    return st.model_groups


def model_group_label(st: GovernanceState, account: str, group_id: int) -> str:
    """A group's label (grant listings), its id when the group is gone."""
    group = st.model_groups.get(group_id)
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
    st: GovernanceState,
    principal: str,
    name: str,
    account: str | None = None,
) -> ModelGroupInfo | None:
    """A model group ``principal`` may see, by name (default account: the principal's)."""
    account = account or principal.split("/", 1)[0]
    for g in st.model_groups.values():
        if g.account == account and g.name == name:
            return g if model_group_access(st, principal, g).visible else None
    return None


def decide_model_group(
    st: GovernanceState,
    principal: str,
    action: str,
    resource: ModelGroup,
) -> Decision:
    """Decide ``action`` on a model group; never raises for visibility (rule 0)."""
    from meshlake.governance.engine import NOT_VISIBLE, Decision

    group = find_model_group(st, principal, resource.name, resource.account)
    if group is None:
        return Decision(False, NOT_VISIBLE)
    acc = model_group_access(st, principal, group)
    if action in acc.perms:
        return Decision(True, "; ".join(dict.fromkeys(acc.reasons)))
    return Decision(False, f"no grant or rule gives {action} on {group.label}")
