"""Every route, called by a principal holding nothing: no data the engine would deny.

The walker knows a request for each route of the app; a route added without one fails
:func:`test_the_walker_covers_every_route`, so new routes are walked too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import meshlake

from .conftest import bearer
from .world import SECRET_VALUES

TABLE = {"kind": "table", "database": "sales", "name": "orders"}
DB = {"kind": "database", "name": "sales"}
ORDERS = "/v1/databases/{database}/tables/{name}"
FILTERS = "/v1/databases/{database}/tables/{table}/filters"

#: (method, route path) -> (query params, JSON body); path parameters come from PATH_VALUES.
REQUESTS: dict[tuple[str, str], tuple[dict[str, Any] | None, Any]] = {
    ("GET", "/health"): (None, None),
    ("GET", "/v1/session"): (None, None),
    ("GET", "/v1/accounts"): (None, None),
    ("POST", "/v1/accounts"): (None, {"name": "evil"}),
    ("GET", "/v1/accounts/{name}"): (None, None),
    ("PUT", "/v1/accounts/{name}/admins"): (None, {"admins": ["p/nobody"]}),
    ("GET", "/v1/principals"): (None, None),
    ("POST", "/v1/principals"): (None, {"principal": "p/evil"}),
    ("GET", "/v1/principals/{account}/{name}"): (None, None),
    ("POST", "/v1/tokens"): (None, {"for_principal": "p/admin"}),
    ("GET", "/v1/tokens"): (None, None),
    ("DELETE", "/v1/tokens/{token_id}"): (None, None),
    ("GET", "/v1/audit"): ({"limit": 1000}, None),
    ("POST", "/v1/audit/verify"): (None, None),
    ("GET", "/v1/databases"): (None, None),
    ("POST", "/v1/databases"): (None, {"name": "evil"}),
    ("POST", "/v1/links"): (None, {"name": "l", "account": "p", "database": "sales"}),
    ("POST", "/v1/locations"): (None, {"uri": "s3://bucket/landing"}),
    ("GET", "/v1/databases/{name}"): (None, None),
    ("DELETE", "/v1/databases/{name}"): (None, None),
    ("GET", "/v1/databases/{database}/tables"): (None, None),
    ("POST", "/v1/databases/{database}/tables"): (None, {"name": "t", "columns": {"a": "bigint"}}),
    ("GET", ORDERS): (None, None),
    ("DELETE", ORDERS): (None, None),
    ("GET", "/v1/tags"): (None, None),
    ("POST", "/v1/tags"): (None, {"key": "evil", "values": ["x"]}),
    ("PATCH", "/v1/tags/{key}"): (None, {"add": ["x"]}),
    ("DELETE", "/v1/tags/{key}"): (None, None),
    ("POST", "/v1/tags/assign"): (None, {"resource": TABLE, "tags": {"domain": "hr"}}),
    ("POST", "/v1/tags/remove"): (None, {"resource": DB, "keys": ["domain"]}),
    ("POST", "/v1/tags/of"): (None, {"resource": TABLE}),
    ("GET", FILTERS): (None, None),
    ("POST", FILTERS): (None, {"name": "mine", "all_rows": True}),
    ("DELETE", FILTERS + "/{name}"): (None, None),
    ("POST", "/v1/grants"): (
        None,
        {"grantee": "p/nobody", "resource": TABLE, "permissions": ["SELECT"]},
    ),
    ("POST", "/v1/grants/revoke"): (
        None,
        {
            "grantee": "p/u",
            "resource": {
                "kind": "datafilter",
                "database": "sales",
                "table": "orders",
                "name": "us_only",
            },
            "permissions": ["SELECT"],
        },
    ),
    ("GET", "/v1/grants"): ({"resource": json.dumps(TABLE)}, None),
    ("POST", "/v1/decide"): (None, {"action": "SELECT", "resource": TABLE, "principal": "p/u"}),
    ("POST", "/v1/check"): (None, {"action": "SELECT", "resource": TABLE}),
    ("POST", "/v1/explain"): (None, {"action": "SELECT", "resource": TABLE, "principal": "p/u"}),
    ("POST", "/v1/query"): (None, {"sql": "SELECT * FROM sales.orders"}),
    ("GET", "/v1/queries"): ({"principal": "p/u"}, None),
    ("GET", "/v1/queries/{query_id}"): (None, None),
    ("POST", "/v1/queries/{query_id}/cancel"): (None, None),
    ("GET", "/v1/queries/{query_id}/result"): (None, None),
    ("GET", "/v1/products"): (None, None),
    ("GET", "/v1/products/search"): ({"q": "orders"}, None),
    ("POST", "/v1/products"): (None, {"contract": "a: 1\nb: 2\n", "database": "sales"}),
    ("GET", "/v1/products/{name}"): (None, None),
    ("GET", "/v1/products/{name}/versions"): (None, None),
    ("POST", "/v1/access-requests"): (
        None,
        {"product": "orders", "permissions": ["SELECT"], "reason": "curious"},
    ),
    ("GET", "/v1/access-requests"): (None, None),
    ("GET", "/v1/access-requests/{request_id}"): (None, None),
    ("POST", "/v1/access-requests/{request_id}/approve"): (None, None),
    ("POST", "/v1/access-requests/{request_id}/deny"): (None, {"reason": "no"}),
    ("POST", "/v1/access-requests/{request_id}/revoke"): (None, None),
}

#: What a principal holding nothing may still do (rule 1: accounts and principals are
#: listed to all; its own session, decisions and empty listings).
ALLOWED_FOR_NOBODY = {
    "/health",
    "/v1/session",
    "/v1/accounts",
    "/v1/accounts/{name}",
    "/v1/principals",
    "/v1/principals/{account}/{name}",
    "/v1/audit",
    "/v1/databases",
    "/v1/tags",
    "/v1/grants",
    "/v1/check",
    "/v1/queries",
    "/v1/products",
    "/v1/products/search",
    "/v1/access-requests",
    "/v1/tokens",
}


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the API, as its OpenAPI document lists them."""
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    )


def test_the_walker_covers_every_route(app: FastAPI) -> None:
    assert set(routes(app)) == set(REQUESTS)


def fixtures_of(world: meshlake.Mesh) -> dict[str, str]:
    """Path parameter values naming real things of the world (others' token and query)."""
    token = world.session("root").tokens.create("p/u").info.id
    query_id = world.session("p/u").query("SELECT id FROM sales.orders").query_id
    assert query_id is not None
    return {
        "name": "sales",
        "database": "sales",
        "table": "orders",
        "account": "p",
        "key": "domain",
        "token_id": token,
        "query_id": query_id,
        "request_id": "1",
    }


def url_for(path: str, values: dict[str, str]) -> str:
    """``path`` with its parameters filled: ``{name}`` names what the route is about."""
    if path.startswith("/v1/principals/"):
        path = path.replace("{name}", "u")
    elif path.startswith("/v1/accounts/"):
        path = path.replace("{name}", "p")
    elif path.endswith("/filters/{name}"):
        path = path.replace("{name}", "us_only")
    elif path.startswith((ORDERS, "/v1/products/")):
        path = path.replace("{name}", "orders")
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


def walk(world: meshlake.Mesh, client: TestClient, principal: str) -> list[tuple[Any, Any]]:
    """Call every route once as ``principal`` (deletions last, so that a principal who may
    delete still walks the other routes over the whole world)."""
    values = fixtures_of(world)
    headers = bearer(world, principal)
    out = []
    calls = sorted(REQUESTS.items(), key=lambda item: item[0][0] == "DELETE")
    for (method, path), (params, body) in calls:
        url = url_for(path, values)
        r = client.request(method, url, params=params, json=body, headers=headers)
        out.append(((method, path), r))
    return out


def test_a_principal_holding_nothing_gets_nothing(world: meshlake.Mesh, client: TestClient) -> None:
    version = world.runtime.store.version()
    for (method, path), r in walk(world, client, "p/nobody"):
        assert r.status_code < 500, (method, path, r.text)
        for secret in SECRET_VALUES:
            assert secret not in r.text, (method, path, r.text)
        assert "orders" not in r.text or r.status_code >= 400, (method, path, r.text)
        if r.status_code < 400:
            assert path in ALLOWED_FOR_NOBODY, (method, path, r.status_code, r.text)
        else:
            assert r.json()["error"]["type"] in {
                "not_found",
                "access_denied",
                "invalid_input",
                "invalid_query",
            }, (method, path, r.text)
    assert world.runtime.store.version() == version  # nothing changed
    assert world.session("p/u").query("SELECT count(*) FROM sales.orders").rows() == [(2,)]


@pytest.mark.parametrize("principal", ["root", "p/admin"])
def test_no_route_returns_a_storage_path(
    world: meshlake.Mesh, client: TestClient, principal: str
) -> None:
    home = str(world.home)
    for (method, path), r in walk(world, client, principal):
        assert r.status_code < 500, (method, path, r.text)
        assert home not in r.text, (method, path, r.text)
