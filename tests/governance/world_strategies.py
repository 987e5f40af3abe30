"""Hypothesis strategies: small random worlds of one account and a history of operations.

A world has 1-2 databases, 1-3 tables of 2-4 columns (each database has a table; tables are
created by ``p/admin`` or by ``p/u1``), 1-3 tag keys of 2-3 values, and a history of about
4-30 operations: tag assignments and removals, key changes, grants by the admin (named tables
whole or with column lists, table wildcards, databases, tag policies on TABLE and DATABASE,
tag permissions), re-grants by principals that received a grant option (same or narrower
resource, sometimes more than they hold), tagging by principals holding ASSOCIATE, and revokes.
Some runs of operations are related on purpose, so that rules interact: tags assigned and then
a policy over them; a column-limited and a whole-table grant to one grantee on one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from .reference_ops import (
    AddValue,
    Assign,
    ColumnTarget,
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
    TableTarget,
    TagRes,
    TagTarget,
    Unassign,
    WildcardRes,
)

__all__ = ["ADMIN", "COLUMNS", "PRINCIPALS", "USERS", "VALUES", "World", "worlds"]

ADMIN = "p/admin"
USERS = ("p/u1", "p/u2", "p/u3")
PRINCIPALS = (ADMIN, *USERS)
COLUMNS = ("a", "b", "c", "d")
VALUES = ("x", "y", "z")
KEYS = ("k0", "k1", "k2")
TABLE_ACTIONS = ("SELECT", "DESCRIBE", "INSERT", "ALTER", "DROP", "DELETE")
TABLE_PERMS = ("SELECT", "ALL", "DESCRIBE", "INSERT", "ALTER", "DROP", "DELETE")
DB_PERMS = ("DESCRIBE", "CREATE_TABLE", "ALTER", "DROP", "ALL")
VALUE_PERMS = ("ASSOCIATE", "DESCRIBE", "GRANT_WITH_TAG_EXPRESSION")
OP_KINDS = (
    ("tags_then_policy", "grant") * 4
    + ("assign", "regrant", "user_tagging") * 3
    + ("unassign", "revoke", "empower", "key", "combination") * 2
    + ("revoke_all",)
)
GRANT_KINDS = (
    "table",
    "columns",
    "policy",
    "tag",
    "tag",
    "database",
    "wildcard",
    "database_policy",
)


@dataclass(frozen=True)
class World:
    """The drawn structure and the operations replayed on it."""

    databases: tuple[str, ...]
    tables: tuple[tuple[str, str, tuple[str, ...], str], ...]  # db, name, columns, creator
    keys: tuple[tuple[str, tuple[str, ...]], ...]
    ops: tuple[Op, ...]


class _Drawer:
    """Draws operations over one world's names (``draw`` is Hypothesis' composite draw)."""

    def __init__(self, draw: Callable[..., Any], world: World) -> None:
        self.draw = draw
        self.world = world
        self.values = dict(world.keys)
        self.names = [k for k, _ in world.keys]
        self.grants: list[Grant] = []
        self.deleted: list[str] = []
        self.assigned: list[tuple[str, str]] = []

    def pick(self, items: Any) -> Any:
        return self.draw(st.sampled_from(tuple(items)))

    def subset(self, items: tuple[str, ...], lo: int = 1, hi: int | None = None) -> tuple[str, ...]:
        hi = len(items) if hi is None else hi
        return tuple(
            sorted(self.draw(st.sets(st.sampled_from(items), min_size=lo, max_size=max(lo, hi))))
        )

    def chance(self, one_in: int) -> bool:
        return bool(self.draw(st.integers(0, one_in - 1)) == 0)

    def value_of(self, key: str) -> str:
        """Mostly one of the key's values; sometimes any value (possibly not the key's)."""
        return str(self.pick(self.values.get(key, VALUES) * 4 + VALUES))

    def target(self) -> TagTarget:
        db, t, cols, _ = self.pick(self.world.tables)
        level = self.pick(("table", "column", "database"))
        if level == "database":
            return DbTarget(db)
        return TableTarget(db, t) if level == "table" else ColumnTarget(db, t, self.pick(cols))

    def perms(self, choices: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        ps = self.subset(choices, 1, 3)
        return ps, self.subset(ps) if self.chance(2) else ()

    def expression(self, keys: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(
            (k, ("*",) if self.chance(4) else self.subset(self.values[k] * 3 + VALUES, 1, 2))
            for k in sorted(keys)
        )

    def policy_expression(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Mostly built from tags assigned so far (so that it matches something), else random."""
        if not self.assigned or self.chance(3):
            keys = self.draw(
                st.lists(st.sampled_from(self.names), min_size=1, max_size=2, unique=True)
            )
            return self.expression(keys)
        expr: dict[str, tuple[str, ...]] = {}
        for _ in range(self.draw(st.integers(1, 2))):
            key, value = self.pick(self.assigned)
            if self.chance(4):
                expr[key] = ("*",)
            else:
                expr[key] = tuple(sorted({value, *self.subset(self.values.get(key, VALUES), 0, 1)}))
        return tuple(sorted(expr.items()))

    def table_and_grantee(self) -> tuple[tuple[str, str, tuple[str, ...], str], str]:
        """Often the table and grantee of an earlier grant, so that grants combine (rule 8)."""
        earlier = [g for g in self.grants if isinstance(g.resource, TableRes)]
        if earlier and self.chance(2):
            g = self.pick(earlier)
            res = g.resource
            assert isinstance(res, TableRes)
            table = next(x for x in self.world.tables if x[:2] == (res.db, res.table))
            return table, g.grantee
        return self.pick(self.world.tables), self.pick(USERS * 3 + (ADMIN,))

    # ------------------------------------------------------------ operations
    def grant(self, kind: str | None = None) -> Grant:
        actor = self.pick((ADMIN,) * 5 + USERS)
        kind = kind or self.pick(GRANT_KINDS)
        (db, t, cols, _), grantee = self.table_and_grantee()
        res: GrantResource
        if kind == "columns":
            include = self.draw(st.booleans())
            named = self.subset(cols, 1, None if include else len(cols) - 1)
            res = TableRes(db, t, named, None) if include else TableRes(db, t, None, named)
            ps, go = self.perms(TABLE_PERMS) if self.chance(5) else (("SELECT",), ())
            return Grant(
                actor, grantee, res, ps, ps if ps == ("SELECT",) and self.chance(2) else go
            )
        if kind in ("policy", "database_policy"):
            table = kind == "policy"
            res = PolicyRes("TABLE" if table else "DATABASE", self.policy_expression())
            ps, go = self.perms(TABLE_PERMS if table else DB_PERMS)
        elif kind == "tag":
            key = self.pick(self.names)
            whole = self.draw(st.booleans())
            res = TagRes(key, None if whole else self.subset(self.values[key]))
            ps, go = self.perms(VALUE_PERMS + (("ALTER", "DROP") if whole else ()))
        elif kind == "database":
            res, (ps, go) = DatabaseRes(db), self.perms(DB_PERMS)
        elif kind == "wildcard":
            res, (ps, go) = WildcardRes(db), self.perms(TABLE_PERMS)
        else:
            res, (ps, go) = TableRes(db, t), self.perms(TABLE_PERMS)
        return Grant(actor, grantee, res, ps, go)

    def empower(self) -> Grant:
        """The admin hands a user ALL or ASSOCIATE with the grant option."""
        db, t, _, _ = self.pick(self.world.tables)
        user = self.pick(USERS)
        res: GrantResource = self.pick(
            (DatabaseRes(db), TableRes(db, t), WildcardRes(db), TagRes(self.pick(self.names)))
        )
        perms = ("ASSOCIATE", "DESCRIBE") if isinstance(res, TagRes) else ("ALL",)
        return Grant(ADMIN, user, res, perms, perms)

    def narrower(self, res: GrantResource) -> GrantResource:
        """The same resource, or a narrower one (fewer columns, values; more keys)."""
        if self.chance(2):
            return res
        if isinstance(res, TableRes) and res.excluded is None:
            cols = res.columns or next(
                c for d, t, c, _ in self.world.tables if (d, t) == (res.db, res.table)
            )
            return TableRes(res.db, res.table, self.subset(cols), None)
        if isinstance(res, PolicyRes):
            expr = dict(res.expression)
            extra = [k for k in self.names if k not in expr]
            if extra and self.chance(2):
                k = self.pick(extra)
                expr[k] = self.expression([k])[0][1]
            else:
                k = self.pick(sorted(expr))
                if expr[k] != ("*",):
                    expr[k] = self.subset(expr[k])
                else:
                    expr[k] = self.subset(self.values.get(k, VALUES), 1, 2)
            return PolicyRes(res.resource_type, tuple(sorted(expr.items())))
        if isinstance(res, TagRes) and res.values is not None:
            return TagRes(res.key, self.subset(res.values))
        return res

    def regrant(self) -> Grant:
        """A holder of a grant option passes (some of) it on, sometimes more than it holds."""
        held = [g for g in self.grants if g.grantable and g.grantee != ADMIN]
        if not held:
            return self.grant()
        g = self.pick(held)
        perms = self.subset(g.grantable)
        if self.chance(4):  # more than it holds, now and then not even of the right kind
            kinds = {TagRes: VALUE_PERMS, DatabaseRes: DB_PERMS}
            choices = kinds.get(type(g.resource), TABLE_PERMS)
            if isinstance(g.resource, PolicyRes) and g.resource.resource_type == "DATABASE":
                choices = DB_PERMS
            perms = tuple(
                sorted(
                    {
                        *perms,
                        self.pick(choices if self.chance(5) is False else TABLE_PERMS + DB_PERMS),
                    }
                )
            )
        grantee = self.pick([u for u in USERS if u != g.grantee])
        go = self.subset(perms) if self.chance(3) else ()
        return Grant(g.grantee, grantee, self.narrower(g.resource), perms, go)

    def user_tagging(self) -> Op:
        """A principal that received ASSOCIATE tags what it created or holds ALL on."""
        associates = [
            g
            for g in self.grants
            if isinstance(g.resource, TagRes)
            and "ASSOCIATE" in g.permissions
            and g.grantee != ADMIN
        ]
        if not associates:
            empower = Grant(
                ADMIN,
                self.pick(USERS),
                TagRes(self.pick(self.names)),
                ("ASSOCIATE",),
                ("ASSOCIATE",) if self.chance(2) else (),
            )
            self.grants.append(empower)
            return empower
        g = self.pick(associates)
        res = g.resource
        assert isinstance(res, TagRes)
        value = self.pick(res.values or self.values.get(res.key, VALUES))
        targets: list[TagTarget] = []
        for db, t, cols, creator in self.world.tables:
            if creator == g.grantee:
                targets += [TableTarget(db, t), *(ColumnTarget(db, t, c) for c in cols)]
        for h in self.grants:
            if h.grantee == g.grantee and "ALL" in h.grantable:
                if isinstance(h.resource, DatabaseRes):
                    targets.append(DbTarget(h.resource.db))
                elif isinstance(h.resource, TableRes) and h.resource.columns is None:
                    targets.append(TableTarget(h.resource.db, h.resource.table))
        target = self.pick(targets) if targets and self.chance(4) is False else self.target()
        if self.chance(4):
            return Unassign(g.grantee, target, res.key)
        return Assign(g.grantee, target, res.key, value)

    def tags_then_policy(self) -> list[Op]:
        """The admin tags a table, its columns or its database, then grants a policy on them."""
        db, t, cols, _ = self.pick(self.world.tables)
        levels = [DbTarget(db), TableTarget(db, t), *(ColumnTarget(db, t, c) for c in cols)]
        ops: list[Op] = []
        assigned = []
        for target in self.draw(st.lists(st.sampled_from(levels), min_size=1, max_size=3)):
            key = self.pick(self.names[:2])
            assigned.append((key, self.pick(self.values[key])))
            ops.append(Assign(ADMIN, target, *assigned[-1]))
        self.assigned += assigned
        grant = self.grant(self.pick(("policy", "policy", "database_policy")))
        if self.chance(2):  # over exactly these tags
            assert isinstance(grant.resource, PolicyRes)
            expr = {k: ("*",) if self.chance(4) else (v,) for k, v in assigned}
            grant = Grant(
                grant.actor,
                grant.grantee,
                PolicyRes(grant.resource.resource_type, tuple(sorted(expr.items()))),
                grant.permissions,
                grant.grantable,
            )
        self.grants.append(grant)
        return [*ops, grant]

    def combination(self) -> list[Op]:
        """Two grants to one grantee on one table, one of them column-limited (rule 8)."""
        first = self.grant("columns")
        res = first.resource
        assert isinstance(res, TableRes)
        whole = Grant(ADMIN, first.grantee, TableRes(res.db, res.table), *self.perms(TABLE_PERMS))
        pair = [first, whole] if self.draw(st.booleans()) else [whole, first]
        self.grants += pair
        return list(pair)

    def revoke_all(self) -> list[Op]:
        """ALL and a separate grant on one resource; revoking ALL leaves the other (rule 6)."""
        (db, t, _, _), grantee = self.table_and_grantee()
        res: GrantResource = self.pick((TableRes(db, t), WildcardRes(db), DatabaseRes(db)))
        other = self.pick(DB_PERMS[:-1] if isinstance(res, DatabaseRes) else TABLE_ACTIONS)
        grants = [Grant(ADMIN, grantee, res, ("ALL",)), Grant(ADMIN, grantee, res, (other,))]
        self.grants += grants
        return [*grants, Revoke(ADMIN, grantee, res, ("ALL",))]

    def ops(self) -> list[Op]:
        """One operation, or a short run of related ones."""
        kind = self.pick(OP_KINDS)
        if kind == "tags_then_policy":
            return self.tags_then_policy()
        if kind == "combination":
            return self.combination()
        if kind == "revoke_all":
            return self.revoke_all()
        return [self.op(kind)]

    def op(self, kind: str) -> Op:
        if kind == "user_tagging":
            return self.user_tagging()
        if kind == "assign":
            key = self.pick(self.names)
            value = self.value_of(key)
            self.assigned.append((key, value))
            return Assign(self.pick((ADMIN, ADMIN, *USERS)), self.target(), key, value)
        if kind == "unassign":
            return Unassign(self.pick((ADMIN, ADMIN, *USERS)), self.target(), self.pick(self.names))
        if kind == "revoke" and self.grants:
            g = self.pick(self.grants)
            if g.grantable and self.draw(st.booleans()):
                return Revoke(ADMIN, g.grantee, g.resource, (), self.subset(g.grantable))
            return Revoke(ADMIN, g.grantee, g.resource, self.subset(g.permissions))
        if kind == "key":
            key = self.pick((*self.names, KEYS[-1]))
            action = self.pick(("delete", "create", "add", "remove"))
            if action == "delete":
                self.deleted.append(key)
                return DeleteKey(key)
            if action == "create":  # mostly a key deleted before: is it a new key (rule 15)?
                key = self.pick(self.deleted) if self.deleted and self.chance(4) is False else key
                return CreateKey(key, self.subset(VALUES, 2))
            if action == "add":
                return AddValue(key, self.pick(VALUES))
            return RemoveValue(key, self.value_of(key))
        op = {"regrant": self.regrant, "empower": self.empower}.get(kind, self.grant)()
        assert isinstance(op, Grant)
        self.grants.append(op)
        return op


@st.composite
def worlds(draw: Callable[..., Any]) -> World:
    """Random small worlds with a random history of tagging and granting."""
    dbs = tuple(f"d{i}" for i in range(draw(st.integers(1, 2))))
    tables = []
    for i in range(draw(st.integers(len(dbs), 3))):
        db = dbs[i] if i < len(dbs) else draw(st.sampled_from(dbs))
        creator = draw(st.sampled_from((ADMIN, ADMIN, USERS[0])))
        tables.append((db, f"t{i}", COLUMNS[: draw(st.integers(2, 4))], creator))
    keys = tuple(
        (KEYS[i], tuple(sorted(draw(st.sets(st.sampled_from(VALUES), min_size=2)))))
        for i in range(draw(st.integers(1, 3)))
    )
    world = World(dbs, tuple(tables), keys, ())
    drawer = _Drawer(draw, world)
    ops: list[Op] = []
    for _ in range(draw(st.integers(3, 12))):
        ops += drawer.ops()
    return World(dbs, tuple(tables), keys, tuple(ops))
