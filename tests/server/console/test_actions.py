"""Console forms over the small world: grant, explain and revoke; the SQL editor with its
history and stored results; following a database and reading the inbox."""

from __future__ import annotations

import time

import meshlake

from ..world import SECRET_VALUES
from .conftest import Browser, csrf_of


def test_grant_explain_and_revoke(world: meshlake.Mesh, browser: Browser) -> None:
    admin = browser("p/admin")
    csrf = csrf_of(admin.get("/console/permissions").text)
    r = admin.post(
        "/console/permissions/grant",
        data={
            "csrf": csrf, "grantee": "p/nobody", "kind": "table", "database": "sales",
            "table": "orders", "excluded_columns": "ssn, customer_name",
            "permissions": ["SELECT"],
        },
    )  # fmt: skip
    assert r.status_code == 200 and r.url.path == "/console/permissions"
    assert "table:p.sales.orders (excluding customer_name, ssn)" in r.text
    why = admin.get(
        "/console/permissions/explain?principal=p/nobody&action=SELECT&kind=table"
        "&database=sales&table=orders&format=json"
    ).json()["explanation"]
    assert why["allowed"] is True and why["principal"] == "p/nobody" and why["path"]
    page = admin.get(
        "/console/permissions/explain?principal=p/nobody&action=SELECT&kind=table"
        "&database=sales&table=orders"
    ).text
    assert 'id="verdict"' in page and "may</span>" in page
    nobody = world.session("p/nobody")
    assert nobody.query("SELECT count(*) FROM sales.orders").rows() == [(3,)]
    # the listing's revoke form carries the grant's resource
    grants = admin.get("/console/permissions?principal=p/nobody&format=json").json()["grants"]
    (row,) = grants
    assert row["revoke"] == {
        "kind": "table", "account": "p", "database": "sales", "table": "orders",
        "excluded_columns": "customer_name, ssn",
    }  # fmt: skip
    r = admin.post(
        "/console/permissions/revoke",
        data={
            "csrf": csrf,
            "grantee": "p/nobody",
            "permissions": row["permissions"],
            **row["revoke"],
        },
    )
    assert r.status_code == 200
    assert admin.get("/console/permissions?principal=p/nobody&format=json").json()["grants"] == []
    assert world.session("p/nobody").catalog.list_databases() == []


def test_a_grant_the_principal_may_not_make_is_refused(
    world: meshlake.Mesh, browser: Browser
) -> None:
    user = browser("p/u")
    csrf = csrf_of(user.get("/console/permissions").text)
    r = user.post(
        "/console/permissions/grant",
        data={"csrf": csrf, "grantee": "p/nobody", "kind": "database", "database": "sales",
              "permissions": "DESCRIBE"},
    )  # fmt: skip
    assert r.status_code in (403, 404) and "error" in r.text
    assert world.session("p/nobody").catalog.list_databases() == []


def test_sql_editor_history_and_stored_result(browser: Browser) -> None:
    user = browser("p/u")
    csrf = csrf_of(user.get("/console/query").text)
    r = user.post(
        "/console/query",
        data={"csrf": csrf, "sql": "SELECT * FROM orders ORDER BY id", "database": "sales",
              "workgroup": "primary"},
    )  # fmt: skip
    assert r.status_code == 200 and 'id="result"' in r.text and "2 row(s)" in r.text
    assert not any(v in r.text for v in SECRET_VALUES)
    twin = user.get("/console/query?format=json").json()
    (past,) = twin["history"]
    assert past["state"] == "SUCCEEDED" and past["rows"] == 2
    assert [w["name"] for w in twin["workgroups"]] == ["primary"]
    detail = user.get(f"/console/queries/{past['query_id']}?format=json").json()
    assert detail["result"]["columns"] == ["id", "region", "amount"]
    assert detail["result"]["rows"] == [[1, "us", 10.0], [3, "us", 30.0]]
    assert "result_path" not in detail["execution"]
    bad = user.post("/console/query", data={"csrf": csrf, "sql": "DROP TABLE sales.orders"})
    assert bad.status_code == 400 and "DROP TABLE sales.orders" in bad.text  # kept in the editor
    other = browser("p/nobody")
    assert other.get(f"/console/queries/{past['query_id']}").status_code == 404


def test_follow_a_database_and_read_the_inbox(world: meshlake.Mesh, browser: Browser) -> None:
    user = browser("p/u")
    csrf = csrf_of(user.get("/console/inbox").text)
    r = user.post("/console/subscriptions", data={"csrf": csrf, "database": "sales"})
    assert r.status_code == 200 and 'id="subscriptions"' in r.text
    world.session("p/admin").tags.assign(meshlake.Database("sales"), {"domain": "hr"})
    deadline = time.monotonic() + 10
    while not (items := user.get("/console/inbox?format=json").json()["items"]):
        assert time.monotonic() < deadline, "no event reached the inbox"
        time.sleep(0.1)
    ids = [i["event"]["id"] for i in items]
    assert all(not i["read"] for i in items)
    r = user.post("/console/inbox/read", data={"csrf": csrf, "ids": ids})
    assert r.status_code == 200
    assert user.get("/console/inbox?unread=true&format=json").json()["items"] == []
    (sub,) = user.get("/console/inbox?format=json").json()["subscriptions"]
    user.post(f"/console/subscriptions/{sub['id']}/delete", data={"csrf": csrf})
    assert user.get("/console/inbox?format=json").json()["subscriptions"] == []
