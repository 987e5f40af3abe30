"""Rule 21: what a receiving account's principal sees is the intersection with what it received.

Account ``p`` owns ``sales.orders`` and shares it with account ``c`` in one of several ways
(a filter limiting rows, columns or both, several filters, a whole-table SELECT, a
column-limited SELECT, a tag policy matching some columns). ``c/admin`` then grants ``c/u``
the received filter, a filter of its own, SELECT on the table or a column-limited SELECT. For
every combination, ``c/u``'s governed query must return exactly the cells that both the
account's view and ``c/u``'s grants show, and ``get_table`` and ``decide`` must name the same
columns.

The expectation is computed cell by cell from the spec, independently of the engine: under
rule 20 a cell is visible to a holder of rules ``R`` when some rule of ``R`` matching the row
lists the column. Under rule 21 ``c/u`` sees a cell when both the account's rules and its own
rules show it; its columns are those some rule of each side names, in table order; a row is
returned when at least one of its cells is visible to both (a row whose matching rules on the
two sides share no column would be all NULL, and is not returned).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import meshlake
from meshlake import (
    AccessDeniedError,
    Column,
    Database,
    DataFilter,
    InvalidInputError,
    NotFoundError,
    Table,
    TagPolicy,
)

COLUMNS = ("id", "region", "amount", "customer_name", "ssn")
ROWS: tuple[tuple[Any, ...], ...] = (
    (1, "us", 10.0, "alice", "111"),
    (2, "eu", 20.0, "bob", "222"),
    (3, "us", 30.0, "carol", "333"),
)
Row = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One source of access for the oracle: rows matching ``where``, cells of ``columns``."""

    where: Callable[[Row], bool]
    columns: frozenset[str]


def _all(_: Row) -> bool:
    return True


def _cols(*names: str) -> frozenset[str]:
    return frozenset(names)


ALL_COLUMNS = frozenset(COLUMNS)
NOT_SSN = ALL_COLUMNS - {"ssn"}


# ---------------------------------------------------------------- what the account receives
@dataclass(frozen=True)
class Share:
    """How ``p`` shares ``sales.orders`` with ``c``: the set-up and the oracle's rules."""

    name: str
    setup: Callable[[meshlake.Session], None]
    rules: tuple[Rule, ...]
    filters: tuple[str, ...] = ()  # the filters received (the admin may re-grant them)


def _share_filter(
    name: str, *, row_filter: str | None = None, **kwargs: Any
) -> Callable[[meshlake.Session], None]:
    def setup(p: meshlake.Session) -> None:
        if row_filter is None:
            p.filters.create("sales", "orders", name, all_rows=True, **kwargs)
        else:
            p.filters.create("sales", "orders", name, row_filter=row_filter, **kwargs)
        p.grant("c", DataFilter("sales", "orders", name, account="p"), ["SELECT"], ["SELECT"])

    return setup


def _share_two_filters(p: meshlake.Session) -> None:
    _share_filter("us", row_filter="region = 'us'", columns=["id", "region", "amount"])(p)
    _share_filter("big", row_filter="amount > 15", columns=["id", "amount", "customer_name"])(p)


def _share_table(p: meshlake.Session) -> None:
    p.grant("c", Table("sales", "orders"), ["SELECT"], ["SELECT"])


def _share_columns(p: meshlake.Session) -> None:
    cols = ["id", "region", "amount", "customer_name"]
    p.grant("c", Table("sales", "orders", columns=cols), ["SELECT"], ["SELECT"])


def _share_tag_policy(p: meshlake.Session) -> None:
    p.tags.assign(Column("sales", "orders", "ssn"), {"domain": "hr"})
    policy = TagPolicy("TABLE", {"domain": ["sales"]})
    p.grant("c", policy, ["SELECT", "DESCRIBE"], ["SELECT", "DESCRIBE"])


def _us(r: Row) -> bool:
    return bool(r["region"] == "us")


def _big(r: Row) -> bool:
    return bool(r["amount"] > 15)


SHARES = {
    s.name: s
    for s in (
        Share(
            "filter-rows",
            _share_filter("us", row_filter="region = 'us'"),
            (Rule(_us, ALL_COLUMNS),),
            ("us",),
        ),
        Share(
            "filter-rows-columns",
            _share_filter("us", row_filter="region = 'us'", columns=["id", "region", "amount"]),
            (Rule(_us, _cols("id", "region", "amount")),),
            ("us",),
        ),
        Share(
            "filter-columns",
            _share_filter("nossn", excluded_columns=["ssn"]),
            (Rule(_all, NOT_SSN),),
            ("nossn",),
        ),
        Share(
            "two-filters",
            _share_two_filters,
            (
                Rule(_us, _cols("id", "region", "amount")),
                Rule(_big, _cols("id", "amount", "customer_name")),
            ),
            ("us", "big"),
        ),
        Share("table", _share_table, (Rule(_all, ALL_COLUMNS),)),
        Share(
            "table-columns",
            _share_columns,
            (Rule(_all, _cols("id", "region", "amount", "customer_name")),),
        ),
        Share("tag-policy", _share_tag_policy, (Rule(_all, NOT_SSN),)),
    )
}


# ---------------------------------------------------------------- what the admin re-grants
@dataclass(frozen=True)
class Regrant:
    """What ``c/admin`` grants ``c/u``; ``rules`` gets the share (for "the received filter")."""

    name: str
    setup: Callable[[meshlake.Session, Share], None]
    rules: Callable[[Share], tuple[Rule, ...]]


def _grant_received(a: meshlake.Session, share: Share) -> None:
    a.grant("c/u", DataFilter("sales", "orders", share.filters[0], account="p"), ["SELECT"])


def _own_filter(
    row_filter: str, columns: list[str] | None = None
) -> Callable[[meshlake.Session, Share], None]:
    def setup(a: meshlake.Session, share: Share) -> None:
        a.filters.create(
            "sales", "orders", "mine", row_filter=row_filter, columns=columns, account="p"
        )
        a.grant("c/u", DataFilter("sales", "orders", "mine", account="p"), ["SELECT"])

    return setup


def _grant_table(a: meshlake.Session, share: Share) -> None:
    a.grant("c/u", Table("sales", "orders", account="p"), ["SELECT"])


def _grant_columns(a: meshlake.Session, share: Share) -> None:
    a.grant("c/u", Table("sales", "orders", columns=["id", "amount"], account="p"), ["SELECT"])


REGRANTS = {
    g.name: g
    for g in (
        Regrant("received-filter", _grant_received, lambda s: s.rules[:1]),
        Regrant(
            "own-filter-rows",
            _own_filter("amount < 25"),
            lambda s: (Rule(lambda r: bool(r["amount"] < 25), ALL_COLUMNS),),
        ),
        Regrant(
            "own-filter-rows-columns",
            _own_filter("amount > 15", ["id", "region", "amount"]),
            lambda s: (Rule(_big, _cols("id", "region", "amount")),),
        ),
        Regrant("select", _grant_table, lambda s: (Rule(_all, ALL_COLUMNS),)),
        Regrant("select-columns", _grant_columns, lambda s: (Rule(_all, _cols("id", "amount")),)),
    )
}

COMBINATIONS = [
    pytest.param(s, g, id=f"{s}+{g}")
    for s in SHARES
    for g in REGRANTS
    if g != "received-filter" or SHARES[s].filters
]
CORE = {
    "filter-rows+own-filter-rows",
    "filter-rows-columns+own-filter-rows-columns",
    "filter-rows-columns+select",
    "two-filters+own-filter-rows-columns",
    "table-columns+received-filter",
    "tag-policy+own-filter-rows",
}


# ---------------------------------------------------------------- the oracle
def _cells(rules: tuple[Rule, ...], row: Row) -> set[str]:
    out: set[str] = set()
    for r in rules:
        if r.where(row):
            out |= r.columns
    return out


def expected_view(
    *sides: tuple[Rule, ...],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns (table order) and rows of ``SELECT *`` for a holder of every side at once."""
    named = set(COLUMNS)
    for side in sides:
        named &= set().union(*(r.columns for r in side))
    columns = [c for c in COLUMNS if c in named]
    rows = []
    for values in ROWS:
        row = dict(zip(COLUMNS, values, strict=True))
        cells = set(COLUMNS)
        for side in sides:
            cells &= _cells(side, row)
        if cells:
            rows.append(tuple(row[c] if c in cells else None for c in columns))
    return columns, rows


# ---------------------------------------------------------------- the world
def _world(m: meshlake.Mesh) -> dict[str, meshlake.Session]:
    root = m.bootstrap()
    for account in ("p", "c", "d"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    for name in ("c/u", "c/v", "d/u"):
        root.principals.create(name)
    p = m.session("p/admin")
    p.catalog.create_database("sales")
    p.catalog.create_table(
        "sales",
        "orders",
        {
            "id": "bigint",
            "region": "varchar",
            "amount": "double",
            "customer_name": "varchar",
            "ssn": "varchar",
        },
        [list(r) for r in ROWS],
    )
    p.tags.create("domain", ["sales", "hr", "finance"])
    p.tags.assign(Database("sales"), {"domain": "sales"})
    c = m.session("c/admin")
    c.catalog.create_resource_link("lnk", account="p", database="sales")
    c.grant("c/u", Database("lnk"), ["DESCRIBE"])
    return {"p": p, "c": c, "u": m.session("c/u"), "v": m.session("c/v")}


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[meshlake.Mesh]:
    m = meshlake.connect(tmp_path / "home")
    yield m
    m.close()


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


def _query(s: meshlake.Session) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = s.query("SELECT * FROM lnk.orders")
    return list(result.columns), _sorted(result.rows())


def check_combination(m: meshlake.Mesh, share_name: str, regrant_name: str) -> None:
    """Set up one combination and compare every answer with the oracle's."""
    share, regrant = SHARES[share_name], REGRANTS[regrant_name]
    s = _world(m)
    share.setup(s["p"])
    regrant.setup(s["c"], share)

    # the account (its admin) sees what it received, untouched by the re-grant
    columns, rows = expected_view(share.rules)
    assert _query(s["c"]) == (columns, _sorted(rows))

    # its principal sees the intersection, and metadata and decisions agree with the query
    columns, rows = expected_view(share.rules, regrant.rules(share))
    assert columns, "every combination here leaves some column"
    assert _query(s["u"]) == (columns, _sorted(rows))
    u = s["u"]
    assert u.catalog.get_table("sales", "orders", account="p").column_names == columns
    assert u.catalog.get_table("lnk", "orders").column_names == columns
    assert u.decide("SELECT", Table("sales", "orders", account="p")).allowed
    assert u.explain("SELECT", Table("sales", "orders", account="p"))["allowed"] is True
    assert u.catalog.list_tables("lnk") == ["orders"]
    for c in COLUMNS:
        decision = u.decide("SELECT", Table("sales", "orders", columns=[c], account="p"))
        assert decision.allowed is (c in columns), (c, decision.reason)
        if c not in columns:
            with pytest.raises(NotFoundError):
                u.query(f"SELECT {c} FROM lnk.orders")
    assert u.check("DESCRIBE", Table("sales", "orders", account="p"))
    for action in ("INSERT", "DELETE", "ALTER", "DROP"):
        assert not u.check(action, Table("sales", "orders", account="p"))
    # rule 26: the listing names the re-grant, made by c/admin
    listed = s["c"].list_permissions(principal="c/u")
    assert any(g.grantor == "c/admin" and "sales.orders" in g.resource for g in listed)
    # another principal of c holds nothing on the table (rule 23)
    with pytest.raises(NotFoundError):
        s["v"].query("SELECT * FROM lnk.orders")


@pytest.mark.parametrize(("share_name", "regrant_name"), COMBINATIONS)
def test_rule21_intersection(embedded: meshlake.Mesh, share_name: str, regrant_name: str) -> None:
    """Every (share, re-grant) combination on the embedded SQLite catalog."""
    check_combination(embedded, share_name, regrant_name)


@pytest.mark.parametrize(
    ("share_name", "regrant_name"),
    [c for c in COMBINATIONS if c.id in CORE],
)
def test_rule21_intersection_both_backends(
    mesh: meshlake.Mesh, share_name: str, regrant_name: str
) -> None:
    """The core combinations on SQLite and PostgreSQL."""
    check_combination(mesh, share_name, regrant_name)


def test_issue_example(mesh: meshlake.Mesh) -> None:
    """The reported case, with literal rows: region = 'us' received, amount > 5 re-granted."""
    s = _world(mesh)
    _share_filter("us", row_filter="region = 'us'")(s["p"])
    _own_filter("amount > 5")(s["c"], SHARES["filter-rows"])
    result = s["u"].query("SELECT id, region, amount FROM lnk.orders ORDER BY id")
    assert result.rows() == [(1, "us", 10.0), (3, "us", 30.0)]
    assert s["u"].query("SELECT count(*) FROM lnk.orders").rows() == [(2,)]
    assert s["u"].query("SELECT id FROM lnk.orders WHERE region = 'eu'").rows() == []


def test_issue_example_columns(mesh: meshlake.Mesh) -> None:
    """Received rows and columns, own filter with other rows and columns: both intersected."""
    s = _world(mesh)
    _share_filter("us", row_filter="region = 'us'", columns=["id", "region", "amount"])(s["p"])
    _own_filter("amount > 5", ["id", "amount"])(s["c"], SHARES["filter-rows"])
    result = s["u"].query("SELECT * FROM lnk.orders ORDER BY id")
    assert list(result.columns) == ["id", "amount"]
    assert result.rows() == [(1, 10.0), (3, 30.0)]


def test_own_filter_grant_follows_the_share(mesh: meshlake.Mesh) -> None:
    """Rule 23: revoking the share takes the admin's own filter grant away at once."""
    s = _world(mesh)
    _share_filter("us", row_filter="region = 'us'")(s["p"])
    _own_filter("amount > 5")(s["c"], SHARES["filter-rows"])
    assert len(s["u"].query("SELECT id FROM lnk.orders").rows()) == 2
    s["p"].revoke("c", DataFilter("sales", "orders", "us"), ["SELECT"])
    with pytest.raises((NotFoundError, AccessDeniedError)):
        s["u"].query("SELECT id FROM lnk.orders")
    assert not s["u"].check("SELECT", Table("sales", "orders", account="p"))


def test_own_filter_stays_in_the_account(mesh: meshlake.Mesh) -> None:
    """Rule 23: a filter made on a received table is re-granted only inside the account."""
    s = _world(mesh)
    _share_filter("us", row_filter="region = 'us'")(s["p"])
    _own_filter("amount > 5")(s["c"], SHARES["filter-rows"])
    own = DataFilter("sales", "orders", "mine", account="p")
    for grantee, grantable in (("d", ["SELECT"]), ("d/u", [])):
        with pytest.raises(InvalidInputError):
            s["c"].grant(grantee, own, ["SELECT"], grantable)
    d = mesh.session("d/u")
    assert not d.check("SELECT", Table("sales", "orders", account="p"))


def test_owner_grant_of_a_receivers_filter_is_not_bounded(mesh: meshlake.Mesh) -> None:
    """Rule 24: the owner's admin granting c/u directly is usable at once, unbounded."""
    s = _world(mesh)
    _share_filter("us", row_filter="region = 'us'")(s["p"])
    _own_filter("amount > 5")(s["c"], SHARES["filter-rows"])
    s["p"].grant("c/u", Table("sales", "orders"), ["SELECT"])
    assert len(s["u"].query("SELECT id FROM lnk.orders").rows()) == 3


def test_receiving_non_admin_filter_creator_stays_bounded(mesh: meshlake.Mesh) -> None:
    """A principal of ``c`` holding a re-granted SELECT with the grant option on every column
    may create a filter (rule 18); what it grants with it stays within the share (rule 23)."""
    s = _world(mesh)
    _share_table(s["p"])
    every = Table("sales", "orders", columns=list(COLUMNS), account="p")
    s["c"].grant("c/u", every, ["SELECT"], ["SELECT"])
    s["c"].grant("c/v", Database("lnk"), ["DESCRIBE"])
    s["u"].filters.create("sales", "orders", "cheap", row_filter="amount < 25", account="p")
    s["u"].grant("c/v", DataFilter("sales", "orders", "cheap", account="p"), ["SELECT"])
    assert s["v"].query("SELECT id FROM lnk.orders ORDER BY id").rows() == [(1,), (2,)]
    s["p"].revoke("c", Table("sales", "orders"), ["SELECT"])
    with pytest.raises((NotFoundError, AccessDeniedError)):
        s["v"].query("SELECT id FROM lnk.orders")
