"""The web console through HTTP: sign-in, browsing, queries under the policy, CSRF, escaping
(the browser journeys are in ``test_journeys.py``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

import meshlake
from meshlake.server.console import COOKIE

from ..world import token_for
from .conftest import csrf_of, login


def sign_in(client: TestClient, mesh: meshlake.Mesh, principal: str) -> str:
    token = token_for(mesh, principal)
    r = login(client, token)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and COOKIE in v)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    return token


def test_pages_need_a_valid_token(world: meshlake.Mesh, client: TestClient) -> None:
    r = client.get("/console", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    r = login(client, "mlk_bogus")
    assert r.status_code == 401 and "unauthenticated" in r.text
    token = sign_in(client, world, "p/u")
    assert "sales" in client.get("/console").text
    token_id = token.split("_")[1]
    world.session("root").tokens.revoke(token_id)  # refused at once
    r = client.get("/console", follow_redirects=False)
    assert r.status_code == 303


def test_browsing_and_querying_under_the_policy(world: meshlake.Mesh, client: TestClient) -> None:
    sign_in(client, world, "p/u")
    home = client.get("/console")
    assert "p/u" in home.text and "/console/databases/sales?account=p" in home.text
    assert "orders" in client.get("/console/databases/sales?account=p").text
    page = client.get("/console/databases/sales/tables/orders?account=p").text
    assert "amount" in page and "ssn" not in page and "customer_name" not in page
    form = client.get("/console/query").text
    r = client.post(
        "/console/query",
        data={"sql": "SELECT * FROM sales.orders ORDER BY id", "csrf": csrf_of(form)},
    )
    assert r.status_code == 200 and "2 row(s)" in r.text and "alice" not in r.text
    r = client.post(
        "/console/query", data={"sql": "SELECT ssn FROM sales.orders", "csrf": csrf_of(form)}
    )
    assert r.status_code == 404 and "not_found" in r.text and "111-secret" not in r.text


def test_a_form_without_its_csrf_value_changes_nothing(
    world: meshlake.Mesh, client: TestClient
) -> None:
    sign_in(client, world, "p/u")
    r = client.post("/console/query", data={"sql": "SELECT 1 AS x", "csrf": "0" * 64})
    assert r.status_code == 403 and "another site" in r.text
    assert world.session("p/u").queries.list() == []


def test_values_are_escaped(world: meshlake.Mesh, client: TestClient) -> None:
    admin = world.session("p/admin")
    admin.catalog.create_table("sales", "notes", {"t": "varchar"}, [["<script>alert(1)</script>"]])
    sign_in(client, world, "p/admin")
    form = client.get("/console/query").text
    r = client.post(
        "/console/query", data={"sql": "SELECT t FROM sales.notes", "csrf": csrf_of(form)}
    )
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_sign_out_forgets_the_cookie(world: meshlake.Mesh, client: TestClient) -> None:
    sign_in(client, world, "p/u")
    csrf = csrf_of(client.get("/console").text)
    r = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and f'{COOKIE}=""' in r.headers["set-cookie"]
