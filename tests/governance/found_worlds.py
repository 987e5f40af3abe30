"""Worlds the governance property test once found the engine and the rules disagreeing on.

Each is replayed by ``test_found_worlds`` on every run; the comment names the rules at stake.
"""

from __future__ import annotations

from .reference_ops import (
    Assign,
    ColumnTarget,
    CreateKey,
    DatabaseRes,
    DbTarget,
    DeleteKey,
    Grant,
    Op,
    PolicyRes,
    TableTarget,
    TagRes,
)
from .world_strategies import ADMIN, World

__all__ = ["FOUND"]


def _world(
    *ops: Op, keys: tuple[tuple[str, tuple[str, ...]], ...] = (("k0", ("x", "y")),)
) -> World:
    """A one-table world (columns a, b) for the examples below."""
    return World(("d0",), (("d0", "t0", ("a", "b"), ADMIN),), keys, ops)


U1 = "p/u1"
T0, A, B = TableTarget("d0", "t0"), ColumnTarget("d0", "t0", "a"), ColumnTarget("d0", "t0", "b")
K0X = PolicyRes("TABLE", (("k0", ("x",)),))

FOUND = (
    # rules 8, 14: a DESCRIBE policy matching column a only shows a's metadata.
    (
        "partial-policy-shows-matched-columns",
        _world(Assign(ADMIN, A, "k0", "x"), Grant(ADMIN, U1, K0X, ("DESCRIBE",))),
    ),
    # rules 7, 14: so does a policy granting only DELETE: it yields DESCRIBE on column a.
    (
        "partial-write-policy-shows-matched-columns",
        _world(Assign(ADMIN, A, "k0", "x"), Grant(ADMIN, U1, K0X, ("DELETE",))),
    ),
    # rule 14: the table's tags match but no column's: the policy applies (DESCRIBE).
    (
        "table-match-without-column-match",
        _world(
            Assign(ADMIN, T0, "k0", "x"),
            Assign(ADMIN, A, "k0", "y"),
            Assign(ADMIN, B, "k0", "y"),
            Grant(ADMIN, U1, K0X, ("SELECT",)),
        ),
    ),
    # rule 16: ALL with the grant option on a database lets its holder tag it.
    (
        "all-with-grant-option-tags-database",
        _world(
            Grant(ADMIN, U1, TagRes("k0", ("x",)), ("ASSOCIATE",)),
            Grant(ADMIN, U1, DatabaseRes("d0"), ("ALL",), ("ALL",)),
            Assign(U1, DbTarget("d0"), "k0", "x"),
        ),
    ),
    # rule 15: a deleted key's grants stop matching, also after a key is re-created.
    (
        "deleted-key-grants-stay-dead",
        _world(
            Grant(ADMIN, U1, K0X, ("SELECT",)),
            Assign(ADMIN, T0, "k0", "x"),
            DeleteKey("k0"),
            CreateKey("k0", ("x", "y")),
            Assign(ADMIN, T0, "k0", "x"),
        ),
    ),
    # rule 0: a missing key (NotFoundError) wins over another key's bad value (InvalidInput).
    (
        "missing-key-before-bad-value",
        _world(
            DeleteKey("k1"),
            Grant(ADMIN, U1, PolicyRes("TABLE", (("k0", ("z",)), ("k1", ("x",)))), ("SELECT",)),
            keys=(("k0", ("x", "y")), ("k1", ("x", "y"))),
        ),
    ),
)
