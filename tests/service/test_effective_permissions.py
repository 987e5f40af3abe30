"""Rule 26: with a principal and a resource, list_permissions gives the effective
permissions, whatever their source, each with its reason and grant option."""

from __future__ import annotations

import pytest

import meshlake
from meshlake.resources import Database, Table, TagPolicy


@pytest.fixture
def world(mesh: meshlake.Mesh) -> meshlake.Mesh:
    root = mesh.bootstrap()
    for account in ("p", "q"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    for p in ("p/direct", "p/tagged", "p/option", "p/nothing"):
        root.principals.create(p)
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint", "s": "varchar"}, [[1, "a"]])
    admin.catalog.create_table("db", "hidden", {"id": "bigint"}, [[1]])
    admin.tags.create("domain", ["credit", "other"])
    admin.tags.assign(Table("db", "t"), {"domain": "credit"})
    admin.grant("p/direct", Table("db", "t"), ["SELECT"])
    admin.grant("p/tagged", TagPolicy("TABLE", {"domain": ["credit"]}), ["SELECT", "DESCRIBE"])
    admin.grant("p/option", Table("db", "t"), ["SELECT", "INSERT"], grantable=["SELECT"])
    return mesh


def _effective(s: meshlake.Session, who: str, res: object) -> dict[str, tuple[bool, str]]:
    out = s.list_permissions(principal=who, resource=res)  # type: ignore[arg-type]
    return {e.permission: (e.grantable, e.reason) for e in out}  # type: ignore[union-attr]


def test_each_source_of_a_permission_is_listed_with_its_reason(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    direct = _effective(admin, "p/direct", Table("db", "t"))
    assert set(direct) == {"SELECT", "DESCRIBE"} or set(direct) == {"SELECT"}
    assert direct["SELECT"][0] is False and direct["SELECT"][1]
    tagged = _effective(admin, "p/tagged", Table("db", "t"))
    assert {"SELECT", "DESCRIBE"} <= set(tagged)
    assert "tag" in tagged["SELECT"][1].lower()
    option = _effective(admin, "p/option", Table("db", "t"))
    assert option["SELECT"] == (True, option["SELECT"][1])
    assert option["INSERT"][0] is False
    assert _effective(admin, "p/nothing", Table("db", "t")) == {}
    owner = _effective(admin, "p/admin", Table("db", "t"))
    assert {"SELECT", "INSERT", "DELETE", "ALTER", "DROP", "DESCRIBE"} <= set(owner)
    assert all(grantable for grantable, _ in owner.values())
    db = _effective(admin, "p/admin", Database("db"))
    assert "CREATE_TABLE" in db


def test_the_effective_answer_agrees_with_decide(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    for who in ("p/direct", "p/tagged", "p/option", "p/nothing", "p/admin"):
        for res in (Table("db", "t"), Table("db", "hidden"), Database("db")):
            listed = set(_effective(admin, who, res))
            for action in ("SELECT", "INSERT", "DELETE", "ALTER", "DROP", "DESCRIBE"):
                if isinstance(res, Database) and action in ("SELECT", "INSERT", "DELETE"):
                    continue
                assert (action in listed) == admin.decide(action, res, principal=who).allowed


def test_who_may_ask_and_about_what(world: meshlake.Mesh) -> None:
    direct = world.session("p/direct")
    assert "SELECT" in _effective(direct, "p/direct", Table("db", "t"))  # itself
    with pytest.raises(meshlake.AccessDeniedError):
        _effective(direct, "p/tagged", Table("db", "t"))  # another principal, not an admin
    with pytest.raises(meshlake.NotFoundError):
        _effective(direct, "p/direct", Table("db", "hidden"))  # a table it cannot see
    with pytest.raises(meshlake.NotFoundError):
        _effective(world.session("p/admin"), "p/ghost", Table("db", "t"))
    with pytest.raises(meshlake.NotFoundError):  # rule 0: the invisible table comes first
        _effective(world.session("q/admin"), "p/direct", Table("db", "t", account="p"))
    with pytest.raises(meshlake.AccessDeniedError):
        _effective(world.session("q/admin"), "p/direct", meshlake.Catalog())
    # one of the two alone still lists explicit grants
    grants = world.session("p/admin").list_permissions(principal="p/option")
    assert [g.grantee for g in grants] == ["p/option"]  # type: ignore[union-attr]
