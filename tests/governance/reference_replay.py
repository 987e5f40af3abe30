"""What the rules say about each operation, and its effect, on a :class:`ReferenceModel`.

``check(model, op)`` gives the :class:`Verdict` rule 0 prescribes (kinds in its order:
not_found, invalid_input, access_denied, conflict); ``apply(model, op)`` replays an operation
that succeeded. Written from the rules; nothing here imports meshlake.
"""

from __future__ import annotations

from typing import Any

from .reference_model import GrantRow, ReferenceModel, expand_all, fail
from .reference_ops import (
    ALL,
    DATABASE_PERMISSIONS,
    DESCRIBE,
    OK,
    SELECT,
    TABLE_PERMISSIONS,
    TAG_KEY_PERMISSIONS,
    TAG_VALUE_PERMISSIONS,
    AddValue,
    Assign,
    CreateKey,
    DatabaseRes,
    DbTarget,
    DeleteKey,
    Grant,
    GrantResource,
    Op,
    PolicyRes,
    RemoveValue,
    Revoke,
    TableRes,
    TagTarget,
    Unassign,
    Verdict,
    WildcardRes,
)

__all__ = ["apply", "check"]

WILDCARD = "*"
WRITES = frozenset({"ALTER", "DELETE", "DROP", "INSERT"})
GWTE = "GRANT_WITH_TAG_EXPRESSION"

GrantKey = tuple[Any, ...]


# ------------------------------------------------------------------ resolution (rule 0)
def grant_key(m: ReferenceModel, actor: str, res: GrantResource) -> GrantKey | Verdict:
    """The identity of the grant row ``res`` names, as ``actor`` sees it, or why not."""
    if isinstance(res, TableRes):
        shown = (
            m.shown_columns(actor, res.db, res.table) if (res.db, res.table) in m.tables else None
        )
        if shown is None:
            return fail("not_found", "table not visible to the grantor")
        named = res.columns if res.columns is not None else res.excluded
        if named is not None and not set(named) <= set(shown):
            return fail("not_found", "column not visible to the grantor")
        return (
            "table",
            res.db,
            res.table,
            frozenset(res.columns) if res.columns is not None else None,
            frozenset(res.excluded) if res.excluded is not None else None,
        )
    if isinstance(res, (WildcardRes, DatabaseRes)):
        if not m.database_visible(actor, res.db):
            return fail("not_found", "database not visible to the grantor")
        return ("wildcard" if isinstance(res, WildcardRes) else "database", res.db)
    pairs = res.expression if isinstance(res, PolicyRes) else [(res.key, res.values)]
    if any(k not in m.keys for k, _ in pairs):  # every missing key before any bad value
        return fail("not_found", "tag key does not exist")
    expr = []
    for k, vals in pairs:
        kid, allowed = m.keys[k]
        if vals is None or WILDCARD in vals:
            expr.append((kid, frozenset({WILDCARD})))
        elif not set(vals) <= allowed:
            return fail("invalid_input", "tag value outside its key's values")
        else:
            expr.append((kid, frozenset(vals)))
    if isinstance(res, PolicyRes):
        return ("policy", res.resource_type, frozenset(expr))
    return ("tag", expr[0][0], expr[0][1])


def _kind(key: GrantKey) -> frozenset[str]:
    if key[0] in ("table", "wildcard") or key[:2] == ("policy", "TABLE"):
        return TABLE_PERMISSIONS
    return DATABASE_PERMISSIONS


# ------------------------------------------------------------------ grants (4, 6, 8, 17)
def _rule8(m: ReferenceModel, op: Grant, key: GrantKey) -> Verdict:
    limited = key[3] is not None or key[4] is not None
    if limited and set(op.permissions) != {SELECT}:
        return fail("invalid_input", "rule 8: a column list grants SELECT only")
    if limited and key[4] is not None and op.grantable:
        return fail("invalid_input", "rule 8: grant option needs an include list")
    held_limited = False
    held_whole: set[str] = set()
    for (who, k), row in m.grants.items():
        if who != op.grantee or k[:3] != key[:3]:
            continue
        if k[3] is not None or k[4] is not None:
            held_limited = True
        else:
            held_whole |= expand_all(TABLE_PERMISSIONS, row.permissions)
    if not limited and held_limited and expand_all(TABLE_PERMISSIONS, op.permissions) - {SELECT}:
        return fail("invalid_input", "rule 8: column-limited SELECT plus other permissions")
    if limited and held_whole & (WRITES | {DESCRIBE}):
        return fail("invalid_input", "rule 8: other permissions plus column-limited SELECT")
    return OK


def _covered(missing: set[str], held_any: bool) -> Verdict:
    if not missing:
        return OK
    if missing == {DESCRIBE} and held_any:
        return Verdict(None, None, "open: DESCRIBE as 'less' than a held grant option")
    return fail("access_denied", f"no grant option for {sorted(missing)}")


def _authorize(m: ReferenceModel, op: Grant, key: GrantKey) -> Verdict:
    """Rules 2, 4, 8, 17: does the grantor hold what it grants, with the grant option?"""
    actor = op.actor
    if actor in m.admins:
        return OK
    wanted = expand_all(_kind(key), set(op.permissions) | set(op.grantable))
    if key[0] == "table":
        acc = m.table_access(actor, key[1], key[2])
        columns = m.tables[(key[1], key[2])][0]
        cols = set(key[3]) if key[3] is not None else set(columns) - set(key[4] or ())
        held = acc.grant_whole | ({SELECT} if cols <= acc.grant_columns else set())
        return _covered(wanted - held, bool(acc.grant_whole or acc.grant_columns))
    if key[0] == "wildcard":
        held = set()
        for (who, k), row in m.grants.items():
            if who == actor and k == key:
                held |= expand_all(TABLE_PERMISSIONS, row.grantable)
        return _covered(wanted - held, bool(held))
    if key[0] == "database":
        held = m.database_permissions(actor, key[1])[1]
        return _covered(wanted - held, bool(held))
    if key[0] == "tag":
        names = {kid: n for n, (kid, _) in m.keys.items()}
        tp = m.tag_permissions(actor, names[key[1]])
        values = m.keys[names[key[1]]][1] if WILDCARD in key[2] else key[2]
        missing = {
            p
            for p in wanted
            if p
            not in (
                tp.key_go
                if p in TAG_KEY_PERMISSIONS
                else set.intersection(*(tp.values_go.get(v, set()) for v in values))
            )
        }
        return _covered(missing, False)
    # a tag policy (rule 17)
    names = {kid: n for n, (kid, _) in m.keys.items()}
    new = dict(key[2])
    if all(
        GWTE in m.tag_permissions(actor, names[kid]).values.get(v, set())
        for kid, vals in new.items()
        for v in (m.keys[names[kid]][1] if WILDCARD in vals else vals)
    ):
        return Verdict(None, None, "open: what GRANT_WITH_TAG_EXPRESSION allows granting")
    held = set()
    for (who, k), row in m.grants.items():
        if who != actor or k[:2] != key[:2]:
            continue
        if all(
            kid in new and (WILDCARD in vals or (WILDCARD not in new[kid] and new[kid] <= vals))
            for kid, vals in dict(k[2]).items()
        ):
            held |= expand_all(_kind(key), row.grantable)
    return _covered(wanted - held, False)


def _allowed_permissions(key: GrantKey) -> frozenset[str]:
    """Rule 5: what may be granted on this kind of resource (ALL where the kind has it)."""
    if key[0] == "tag":
        return TAG_KEY_PERMISSIONS | TAG_VALUE_PERMISSIONS
    return _kind(key) | {ALL}


def _check_grant(m: ReferenceModel, op: Grant) -> Verdict:
    key = grant_key(m, op.actor, op.resource)
    if isinstance(key, Verdict):
        return key
    if not set(op.permissions) <= _allowed_permissions(key):
        return fail("invalid_input", "rule 5: not a permission of this resource kind")
    if key[0] == "table":
        verdict = _rule8(m, op, key)
        if verdict.valid is False:
            return verdict
    return _authorize(m, op, key)


def _check_revoke(m: ReferenceModel, op: Revoke) -> Verdict:
    key = grant_key(m, op.actor, op.resource)
    if isinstance(key, Verdict):
        return key
    row = m.grants.get((op.grantee, key))
    if row is None:
        return fail(None, "no such grant")
    if set(op.permissions) & row.permissions or set(op.grantable) & row.grantable:
        return OK
    if ALL in row.permissions and set(op.permissions) <= expand_all(_kind(key), [ALL]):
        return Verdict(None, None, "open: revoking part of ALL (rule 6)")
    return fail(None, "the grant holds none of these")


# ------------------------------------------------------------------ tagging (rule 16)
def _may_tag(m: ReferenceModel, actor: str, target: TagTarget) -> bool:
    if actor in m.admins:
        return True
    if isinstance(target, DbTarget):
        go = m.database_permissions(actor, target.db)[1]
        return m.databases[target.db] == actor or go >= DATABASE_PERMISSIONS
    table = (target.db, target.table)
    return (
        m.tables[table][1] == actor
        or m.table_access(actor, *table).grant_whole >= TABLE_PERMISSIONS
    )


def _check_tagging(m: ReferenceModel, op: Assign | Unassign) -> Verdict:
    if not m.target_visible(op.actor, op.target):
        return fail("not_found", "resource not visible")
    if op.key not in m.keys:
        return fail("not_found", "tag key does not exist")
    kid, values = m.keys[op.key]
    if isinstance(op, Assign):
        if op.value not in values:
            return fail("invalid_input", "tag value outside its key's values")
        value = op.value
    else:
        own = m.assigned.get(op.target, {})
        if kid not in own:
            return fail(None, "the resource does not carry this key itself")
        value = own[kid]
    if "ASSOCIATE" not in m.tag_permissions(op.actor, op.key).values.get(value, set()):
        return fail("access_denied", "no ASSOCIATE on the value")
    if not _may_tag(m, op.actor, op.target):
        return fail("access_denied", "not creator, admin or holder of ALL with grant option")
    return OK


# ------------------------------------------------------------------ entry points
def check(m: ReferenceModel, op: Op) -> Verdict:
    """The verdict of the rules on ``op`` in the model's current state."""
    if isinstance(op, Grant):
        return _check_grant(m, op)
    if isinstance(op, Revoke):
        return _check_revoke(m, op)
    if isinstance(op, (Assign, Unassign)):
        return _check_tagging(m, op)
    if isinstance(op, CreateKey):
        return fail("conflict", "key exists") if op.key in m.keys else OK
    if op.key not in m.keys:
        return fail("not_found", "tag key does not exist")
    if isinstance(op, RemoveValue):
        kid, values = m.keys[op.key]
        if op.value not in values:
            return fail("invalid_input", "not a value of the key")
        if values == {op.value}:
            return Verdict(None, None, "open: removing a key's last value")
        if any(tags.get(kid) == op.value for tags in m.assigned.values()):
            return fail("conflict", "rule 15: the value is still assigned")
    return OK


def apply(m: ReferenceModel, op: Op) -> None:
    """Replay ``op``, which the engine accepted."""
    if isinstance(op, CreateKey):
        m.create_key(op.key, op.values)
    elif isinstance(op, DeleteKey):
        kid = m.keys.pop(op.key)[0]
        for tags in m.assigned.values():
            tags.pop(kid, None)
    elif isinstance(op, AddValue):
        m.keys[op.key][1].add(op.value)
    elif isinstance(op, RemoveValue):
        m.keys[op.key][1].discard(op.value)
    elif isinstance(op, Assign):
        m.assigned.setdefault(op.target, {})[m.keys[op.key][0]] = op.value
    elif isinstance(op, Unassign):
        m.assigned.get(op.target, {}).pop(m.keys[op.key][0], None)
    else:
        key = grant_key(m, op.actor, op.resource)
        assert not isinstance(key, Verdict), key
        row = m.grants.get((op.grantee, key))
        if isinstance(op, Grant):
            if row is None:
                row = m.grants[(op.grantee, key)] = GrantRow(set(), set())
            row.permissions |= set(op.permissions)
            row.grantable |= set(op.grantable)
        elif row is not None:
            row.permissions -= set(op.permissions)
            row.grantable = (
                row.grantable - set(op.grantable) - set(op.permissions)
            ) & row.permissions
            if not row.permissions:
                del m.grants[(op.grantee, key)]
