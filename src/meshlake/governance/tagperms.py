"""Tag permissions (rule 16) and which tag keys a principal can see (rule 11)."""

from __future__ import annotations

from dataclasses import dataclass, field

from meshlake.governance.access import grants_index
from meshlake.governance.permissions import TAG_KEY_PERMISSIONS, TAG_VALUE_PERMISSIONS
from meshlake.governance.state import GovernanceState, GrantInfo, TagKeyInfo

__all__ = ["TagPerms", "tag_permissions", "visible_key"]


@dataclass
class TagPerms:
    """A principal's permissions on one tag key and its values."""

    key_perms: set[str] = field(default_factory=set)
    key_grantable: set[str] = field(default_factory=set)
    value_perms: dict[str, set[str]] = field(default_factory=dict)
    value_grantable: dict[str, set[str]] = field(default_factory=dict)
    reason: str = ""

    @property
    def any(self) -> bool:
        """True when some permission is held."""
        return bool(self.key_perms or any(self.value_perms.values()))


def _apply(perms: TagPerms, key: TagKeyInfo, grants: list[GrantInfo]) -> None:
    for g in grants:
        values = g.spec.get("values") or ["*"]
        vals = key.values if "*" in values else [v for v in values if v in key.values]
        for v in vals:
            perms.value_perms.setdefault(v, set()).update(g.permissions & TAG_VALUE_PERMISSIONS)
            perms.value_grantable.setdefault(v, set()).update(g.grantable & TAG_VALUE_PERMISSIONS)
        perms.key_perms |= g.permissions & TAG_KEY_PERMISSIONS
        perms.key_grantable |= g.grantable & TAG_KEY_PERMISSIONS
        perms.reason = perms.reason or f"tag grant {g.id} by {g.grantor}"


def tag_permissions(st: GovernanceState, principal: str, key: TagKeyInfo) -> TagPerms:
    """Everything ``principal`` holds on a tag key (admin rights included)."""
    cache_key = ("tp", principal, key.id)
    cached = st.cache.get(cache_key)
    if cached is not None:
        return cached
    perms = TagPerms()
    account = principal.split("/", 1)[0]
    if st.is_admin(principal, key.account):
        perms.key_perms = set(TAG_KEY_PERMISSIONS)
        perms.key_grantable = set(TAG_KEY_PERMISSIONS)
        for v in key.values:
            perms.value_perms[v] = set(TAG_VALUE_PERMISSIONS)
            perms.value_grantable[v] = set(TAG_VALUE_PERMISSIONS)
        perms.reason = f"admin of account {key.account} (rule 2)"
    own = grants_index(st, principal).get(("tag", key.id), [])
    _apply(perms, key, [g for g in own if not g.bounded])
    if account != key.account and st.is_admin(principal, account):
        _apply(perms, key, list(grants_index(st, account).get(("tag", key.id), [])))
    bounded = [g for g in own if g.bounded]
    if bounded:
        mine, theirs = TagPerms(), TagPerms()
        _apply(mine, key, bounded)
        _apply(theirs, key, list(grants_index(st, account).get(("tag", key.id), [])))
        for v, ps in mine.value_perms.items():
            perms.value_perms.setdefault(v, set()).update(ps & theirs.value_perms.get(v, set()))
        perms.reason = perms.reason or "re-granted within what the account holds"
    st.cache[cache_key] = perms
    return perms


def key_visible(st: GovernanceState, principal: str, key: TagKeyInfo) -> bool:
    """Every principal of the key's account sees it; others need a tag permission."""
    if principal.split("/", 1)[0] == key.account:
        return True
    return tag_permissions(st, principal, key).any


def visible_key(
    st: GovernanceState, principal: str, name: str, account: str | None = None
) -> TagKeyInfo | None:
    """Resolve a key name as rule 11 says: the resource's account, the caller's, then shares."""
    name = name.lower()
    caller = principal.split("/", 1)[0]
    for acct in dict.fromkeys([a for a in (account, caller) if a]):
        kid = st.tag_key_by_name.get((acct, name))
        if kid is not None and key_visible(st, principal, st.tag_keys[kid]):
            return st.tag_keys[kid]
    for (acct, kname), kid in st.tag_key_by_name.items():
        if kname == name and acct not in (account, caller):
            key = st.tag_keys[kid]
            if key_visible(st, principal, key):
                return key
    return None
