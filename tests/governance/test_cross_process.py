"""Two processes on one store: a change committed through one is decided on at once by the
other, for every kind of governance change, and the other's state (brought up to date from
the change log) equals a full load."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest
from tests.events.test_outbox import CONTRACT

import meshlake
from meshlake import Catalog, Database, DataFilter, ModelGroup, Table, TagKey, TagPolicy

from .state_compare import assert_current


@pytest.fixture
def pair(mesh: meshlake.Mesh) -> Iterator[tuple[meshlake.Mesh, meshlake.Mesh]]:
    """``mesh`` (A) and a second mesh on the same store (B: its own engine and state)."""
    root = mesh.session("root")
    root.accounts.create("p")
    for name in ("admin", "ann", "bob"):
        root.principals.create(f"p/{name}")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint", "region": "string"}, [[1, "eu"]])
    other = meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)
    try:
        other.runtime.engine.state()  # B holds a state before every change below
        yield mesh, other
    finally:
        other.close()


def _sees(
    other: meshlake.Mesh, change: Callable[[], object], who: str, action: str, resource: object
) -> None:
    """B decides ``action`` differently before and after A's ``change`` (allowed after)."""
    before = other.session(who).decide(action, resource).allowed  # type: ignore[arg-type]
    change()
    after = other.session(who).decide(action, resource).allowed  # type: ignore[arg-type]
    assert (before, after) == (False, True), (who, action, resource)
    assert_current(other)


def _loses(
    other: meshlake.Mesh, change: Callable[[], object], who: str, action: str, resource: object
) -> None:
    """B decides ``action`` allowed before A's ``change``, not after."""
    before = other.session(who).decide(action, resource).allowed  # type: ignore[arg-type]
    change()
    after = other.session(who).decide(action, resource).allowed  # type: ignore[arg-type]
    assert (before, after) == (True, False), (who, action, resource)
    assert_current(other)


def test_every_kind_of_change_is_seen_by_the_other_process_at_once(
    pair: tuple[meshlake.Mesh, meshlake.Mesh],
) -> None:
    a, b = pair
    root, admin = a.session("root"), a.session("p/admin")
    # accounts and principals
    root.accounts.create("q")
    assert "q" in assert_current(b).accounts
    root.principals.create("q/zed")
    assert "q/zed" in assert_current(b).principals
    _sees(
        b,
        lambda: root.accounts.set_admins("q", ["q/zed"]),
        "q/zed",
        "CREATE_DATABASE",
        Catalog("q"),
    )
    # databases: create, link, drop
    _sees(b, lambda: admin.catalog.create_database("db2"), "p/admin", "DESCRIBE", Database("db2"))
    _sees(
        b,
        lambda: admin.catalog.create_resource_link("lnk", account="p", database="db"),
        "p/admin",
        "DESCRIBE",
        Database("lnk"),
    )
    # tables: create, alter (rename a column, evolve the schema)
    _sees(
        b,
        lambda: admin.catalog.create_table("db2", "t2", {"id": "bigint", "c": "string"}, []),
        "p/admin",
        "SELECT",
        Table("db2", "t2"),
    )
    _sees(
        b,
        lambda: admin.catalog.rename_column("db2", "t2", "c", "renamed"),
        "p/admin",
        "SELECT",
        Table("db2", "t2", columns=["renamed"]),
    )
    _sees(
        b,
        lambda: admin.catalog.evolve_schema("db2", "t2", pa.schema([("score", pa.float64())])),
        "p/admin",
        "SELECT",
        Table("db2", "t2", columns=["score"]),
    )
    # grants: grant, revoke
    _sees(
        b,
        lambda: admin.grant("p/ann", Table("db2", "t2"), ["SELECT"]),
        "p/ann",
        "SELECT",
        Table("db2", "t2"),
    )
    _loses(
        b,
        lambda: admin.revoke("p/ann", Table("db2", "t2"), ["SELECT"]),
        "p/ann",
        "SELECT",
        Table("db2", "t2"),
    )
    # tags: key create, values change, assign, unassign
    _sees(b, lambda: admin.tags.create("tier", ["gold"]), "p/admin", "DESCRIBE", TagKey("tier"))
    _sees(
        b,
        lambda: admin.tags.update("tier", add=["silver"]),
        "p/admin",
        "DESCRIBE",
        TagKey("tier", values=("silver",)),
    )
    admin.grant("p/bob", TagPolicy("TABLE", {"tier": ["gold"]}), ["SELECT"])
    _sees(
        b,
        lambda: admin.tags.assign(Table("db2", "t2"), {"tier": "gold"}),
        "p/bob",
        "SELECT",
        Table("db2", "t2"),
    )
    _loses(
        b,
        lambda: admin.tags.remove(Table("db2", "t2"), ["tier"]),
        "p/bob",
        "SELECT",
        Table("db2", "t2"),
    )
    _sees(
        b,
        lambda: admin.tags.assign(Database("db2"), {"tier": "gold"}),
        "p/bob",
        "SELECT",
        Table("db2", "t2"),
    )
    # filters: create (and a grant on it), drop
    admin.filters.create("db", "t", "eu", row_filter="region = 'eu'")
    _sees(
        b,
        lambda: admin.grant("p/ann", DataFilter("db", "t", "eu"), ["SELECT"]),
        "p/ann",
        "SELECT",
        Table("db", "t"),
    )
    _loses(b, lambda: admin.filters.drop("db", "t", "eu"), "p/ann", "SELECT", Table("db", "t"))
    # a product publish tags its table (domain=sales): a tag policy on it starts to match
    admin.catalog.create_table("db", "orders", {"order_id": "bigint", "amount": "double"}, [])
    admin.tags.create("domain", ["sales"])
    admin.grant("p/ann", TagPolicy("TABLE", {"domain": ["sales"]}), ["SELECT"])
    _sees(
        b,
        lambda: admin.products.publish(CONTRACT.format(quality=""), database="db", table="orders"),
        "p/ann",
        "SELECT",
        Table("db", "orders"),
    )
    # model groups
    _sees(
        b, lambda: admin.ml.create_model_group("churn"), "p/admin", "DESCRIBE", ModelGroup("churn")
    )
    # drops: table, database
    _loses(
        b, lambda: admin.catalog.drop_table("db2", "t2"), "p/admin", "SELECT", Table("db2", "t2")
    )
    _loses(b, lambda: admin.catalog.drop_database("db2"), "p/admin", "DESCRIBE", Database("db2"))
    assert b.runtime.engine.state().changes_read is not None  # never loaded whole again
