"""Every console page and its JSON twin over the small world: headers, what each principal
sees (a principal holding nothing sees nothing), no storage paths, CSRF on every form."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import meshlake
from meshlake.server.console import COOKIE, SECURITY_HEADERS
from meshlake.server.console.pages import ENV_SECURE_COOKIE

from ..world import SECRET_VALUES, token_for
from .conftest import Browser, csrf_of, login, sign_in

PAGES = [
    "/console",
    "/console/databases/sales?account=p",
    "/console/databases/sales/tables/orders?account=p",
    "/console/products",
    "/console/products?q=orders",
    "/console/access",
    "/console/permissions",
    "/console/permissions/explain?action=SELECT&kind=table&database=sales&table=orders",
    "/console/tags",
    "/console/query",
    "/console/audit",
    "/console/models",
    "/console/inbox",
    "/console/deliveries",
    "/console/deliveries?state=dead",
]


def check_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_every_page_and_its_json_twin(browser: Browser) -> None:
    client = browser("p/admin")
    for url in PAGES:
        page = client.get(url)
        assert page.status_code == 200, url
        assert page.headers["content-type"].startswith("text/html")
        assert "p/admin" in page.text and "<script>" not in page.text
        check_headers(page)
        twin = client.get(url + ("&" if "?" in url else "?") + "format=json")
        assert twin.status_code == 200 and twin.headers["content-type"] == "application/json"
        check_headers(twin)
        accept = client.get(url, headers={"Accept": "application/json"})
        assert accept.json() == twin.json(), url


def test_what_the_admin_sees(browser: Browser) -> None:
    client = browser("p/admin")
    table = client.get("/console/databases/sales/tables/orders?account=p&format=json").json()
    assert [c["name"] for c in table["table"]["columns"]] == [
        "id", "region", "amount", "customer_name", "ssn",
    ]  # fmt: skip
    assert table["tags"] == {"domain": "sales"} and "SELECT" in table["permissions"]
    grants = client.get("/console/permissions?format=json").json()["grants"]
    assert any(
        g["grantee"] == "p/u" and g["resource"] == "filter:p.sales.orders.us_only" for g in grants
    )
    assert client.get("/console/tags?format=json").json()["tags"][0]["key"] == "domain"
    audit = client.get("/console/audit?format=json").json()
    assert audit["chain"]["ok"] is True and audit["chain"]["events"] > 5
    assert {e["action"] for e in audit["events"]} >= {"create_table", "create_filter"}


def test_columns_as_the_principal_sees_them(browser: Browser) -> None:
    client = browser("p/u")
    page = client.get("/console/databases/sales/tables/orders?account=p")
    assert "amount" in page.text and "ssn" not in page.text and "customer_name" not in page.text
    twin = client.get("/console/databases/sales/tables/orders?account=p&format=json").json()
    assert [c["name"] for c in twin["table"]["columns"]] == ["id", "region", "amount"]
    assert twin["permissions"] == ["SELECT", "DESCRIBE"]


def test_a_principal_holding_nothing_sees_nothing(browser: Browser) -> None:
    client = browser("p/nobody")
    assert client.get("/console?format=json").json() == {"databases": []}
    assert "No database is visible to you" in client.get("/console").text
    r = client.get("/console/databases/sales/tables/orders?account=p")
    assert r.status_code == 404 and "not_found" in r.text
    assert (
        client.get("/console/databases/sales/tables/orders?account=p&format=json").json()["error"][
            "type"
        ]
        == "not_found"
    )
    assert client.get("/console/permissions?format=json").json()["grants"] == []
    # tag keys are visible to the principals of their account (and to grantees) only
    assert browser("c/u").get("/console/tags?format=json").json()["tags"] == []
    assert client.get("/console/products?format=json").json()["products"] == []
    assert client.get("/console/access?format=json").json() == {
        "state": "", "pending": [], "requests": [],
    }  # fmt: skip
    audit = client.get("/console/audit?format=json").json()
    assert audit["events"] == [] and audit["chain"] is None  # not an admin
    assert client.get("/console/models?format=json").json()["groups"] == []
    inbox = client.get("/console/inbox?format=json").json()
    assert inbox["items"] == [] and inbox["subscriptions"] == []
    history = client.get("/console/query?format=json").json()["history"]
    assert history == []
    form = client.get("/console/query").text
    r = client.post(
        "/console/query", data={"sql": "SELECT * FROM sales.orders", "csrf": csrf_of(form)}
    )
    assert r.status_code == 404 and not any(v in r.text for v in SECRET_VALUES)
    explain = client.get(
        "/console/permissions/explain?action=SELECT&kind=table&database=sales&table=orders"
        "&account=p&format=json"
    ).json()["explanation"]
    assert explain["allowed"] is False and explain["path"] == ["not visible"]


def test_no_storage_path_on_any_page(world: meshlake.Mesh, browser: Browser) -> None:
    client = browser("p/admin")
    form = client.get("/console/query").text
    run = client.post(
        "/console/query?format=json",
        data={"sql": "SELECT id FROM sales.orders", "csrf": csrf_of(form)},
    ).json()
    urls = [*PAGES, f"/console/queries/{run['result']['query_id']}"]
    home = str(world.home)
    for url in urls:
        for suffix in ("", ("&" if "?" in url else "?") + "format=json"):
            text = client.get(url + suffix).text
            assert home not in text and "file://" not in text, url + suffix
            assert "warehouse" not in text and "result_location" not in text


def test_every_form_needs_its_csrf_value(world: meshlake.Mesh, browser: Browser) -> None:
    client = browser("p/admin")
    before = len(world.session("p/admin").audit())
    posts = {
        "/console/logout": {},
        "/console/query": {"sql": "SELECT 1 AS x"},
        "/console/permissions/grant": {
            "grantee": "p/nobody", "kind": "database", "database": "sales",
            "permissions": "DESCRIBE",
        },
        "/console/permissions/revoke": {
            "grantee": "p/u", "kind": "datafilter", "database": "sales", "table": "orders",
            "name": "us_only", "permissions": "SELECT",
        },
        "/console/access": {"product": "x", "reason": "r", "permissions": "SELECT"},
        "/console/access/1/approve": {},
        "/console/access/1/deny": {},
        "/console/access/1/revoke": {},
        "/console/subscriptions": {"database": "sales"},
        "/console/subscriptions/1/delete": {},
        "/console/inbox/read": {"ids": "x"},
        "/console/models/p/g/1/approve": {},
        "/console/tags": {"key": "evil", "values": "x"},
        "/console/tags/values": {"key": "domain", "add": "x"},
        "/console/tags/delete": {"key": "domain"},
        "/console/databases/sales/tags": {"account": "p", "tag": "domain=hr"},
        "/console/databases/sales/tags/remove": {"account": "p", "key": "domain"},
        "/console/databases/sales/tables/orders/tags": {"account": "p", "tag": "domain=hr"},
        "/console/databases/sales/tables/orders/tags/remove": {"account": "p", "key": "domain"},
        "/console/databases/sales/tables/orders/filters": {
            "account": "p", "filter_name": "evil", "all_rows": "true",
        },
        "/console/databases/sales/tables/orders/filters/us_only/drop": {"account": "p"},
        "/console/workgroups": {"name": "evil"},
        "/console/workgroups/primary": {"max_runtime_s": "1"},
        "/console/deliveries/replay": {"every": "true"},
    }  # fmt: skip
    for url, data in posts.items():
        for csrf in (None, "0" * 64):
            body = dict(data) if csrf is None else {**data, "csrf": csrf}
            r = client.post(url, data=body, follow_redirects=False)
            assert r.status_code == 403 and "another site" in r.text, url
            check_headers(r)
    assert len(world.session("p/admin").audit()) == before
    assert world.session("p/admin").queries.list() == []
    assert [t.key for t in world.session("p/admin").tags.list()] == ["domain"]
    assert [w.name for w in world.session("p/admin").queries.workgroups()] == ["primary"]
    assert client.get("/console?format=json").status_code == 200  # still signed in


def test_sign_in_cookie_flags(
    world: meshlake.Mesh, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cookie(base_url: str) -> str:
        client = TestClient(app, base_url=base_url)
        r = login(client, token_for(world, "p/u"))
        return "; ".join(v for k, v in r.headers.multi_items() if k == "set-cookie" and COOKIE in v)

    plain = cookie("http://testserver")
    assert "HttpOnly" in plain and "SameSite=strict" in plain and "Path=/console" in plain
    assert "Secure" not in plain
    assert "Secure" in cookie("https://testserver")
    monkeypatch.setenv(ENV_SECURE_COOKIE, "true")  # e.g. behind a TLS proxy
    form = TestClient(app).get("/console/login")
    assert "Secure" in form.headers["set-cookie"]  # the sign-in form's own cookie too
    monkeypatch.setenv(ENV_SECURE_COOKIE, "false")
    assert "Secure" not in cookie("https://testserver")


def test_signed_out_pages_and_twins(world: meshlake.Mesh, app: FastAPI) -> None:
    client = TestClient(app)
    r = client.get("/console/audit", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    check_headers(r)
    assert client.get("/console/audit?format=json").status_code == 401
    assert login(client, "mlk_bogus").status_code == 401
    # the sign-in form has a CSRF value of its own (double submit with a cookie)
    r = client.post("/console/login", data={"token": token_for(world, "p/u"), "csrf": "x" * 64})
    assert r.status_code == 403 and COOKIE + "=" not in r.headers.get("set-cookie", "")
    twin = client.get("/console/login?format=json").json()
    assert len(twin["csrf"]) == 64
    signed = sign_in(app, world, "p/u")
    r = signed.post("/console/logout", data={"csrf": csrf_of(signed.get("/console").text)})
    assert r.url.path == "/console/login"
    assert signed.get("/console", follow_redirects=False).status_code == 303
    assert set(SECURITY_HEADERS) <= {k.title() for k in r.headers} | set(SECURITY_HEADERS)


def test_bad_parameters_and_json_clients(world: meshlake.Mesh, browser: Browser) -> None:
    client = browser("p/u")
    r = client.get("/console/audit?before_seq=abc")
    assert r.status_code == 400 and "invalid_input" in r.text
    check_headers(r)
    assert client.get("/console/access/abc?format=json").json()["error"]["type"] == (
        "invalid_input"
    )
    csrf = csrf_of(client.get("/console").text)
    r = client.post(
        "/console/query",
        data={"sql": "SELECT id FROM sales.orders ORDER BY id"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert r.json()["result"]["rows"] == [[1], [3]]


def test_audit_filters_and_pages(
    world: meshlake.Mesh, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.server.console import audit

    monkeypatch.setattr(audit, "PAGE", 4)
    monkeypatch.setattr(audit, "_BATCH", 3)
    client = browser("p/admin")
    every = [e.seq for e in world.session("p/admin").audit()][::-1]  # newest first
    seen: list[int] = []
    url = "/console/audit?format=json"
    while True:
        page = client.get(url).json()
        assert len(page["events"]) <= 4
        seen += [e["seq"] for e in page["events"]]
        if page["next_before_seq"] is None:
            break
        url = f"/console/audit?format=json&before_seq={page['next_before_seq']}"
    assert seen == every
    grants = client.get("/console/audit?format=json&action=grant").json()["events"]
    assert grants and {e["action"] for e in grants} == {"grant"}
    mine = client.get("/console/audit?format=json&principal=root&category=change").json()
    assert mine["events"] and {e["principal"] for e in mine["events"]} == {"root"}
    text = client.get("/console/audit?format=json&q=us_only").json()["events"]
    assert text and all("us_only" in str(e) for e in text)
