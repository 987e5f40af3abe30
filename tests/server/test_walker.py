"""Every route, called by a principal holding nothing: no data the engine would deny.

The walker knows a request for each route of the app; a route added without one fails
:func:`test_the_walker_covers_every_route`, so new routes are walked too. The same holds for
the web console (its routes are not in the OpenAPI document): :data:`CONSOLE_REQUESTS` has a
request for each route of :data:`meshlake.server.console.MODULES`, sent signed in through
the console's cookie with the page's CSRF value, as a browser would.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

import meshlake
from meshlake.catalog.event_models import DriftReportRow
from meshlake.errors import error_class_for_kind
from meshlake.server import console
from meshlake.service.operations import new_operation

from .conftest import bearer
from .console.conftest import csrf_of, sign_in
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
    ("POST", "/v1/audit/checkpoints"): (None, None),
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
    ("GET", ORDERS + "/description"): (None, None),
    ("GET", ORDERS + "/snapshot"): (None, None),
    ("GET", ORDERS + "/properties"): (None, None),
    ("PATCH", ORDERS + "/properties"): (None, {"properties": {"owner": "evil"}}),
    ("POST", ORDERS + "/schema"): (None, {"columns": {"evil": "varchar"}}),
    ("POST", ORDERS + "/columns/{column}/rename"): (None, {"to": "evil"}),
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
    # listings first: a principal's own failed requests below echo what it asked for
    ("GET", "/v1/operations"): (None, None),
    ("GET", "/v1/operations/{operation_id}"): ({"wait": 0}, None),
    ("GET", "/v1/crawls"): (None, None),
    ("GET", "/v1/recipes/runs"): (None, None),
    ("GET", "/v1/ml/jobs"): (None, None),
    ("GET", "/v1/ml/jobs/{job_id}"): (None, None),
    ("GET", "/v1/ml/pipelines/executions"): (None, None),
    ("GET", "/v1/ml/pipelines/executions/{execution_id}"): (None, None),
    ("GET", "/v1/ml/model-groups"): (None, None),
    ("GET", "/v1/workgroups"): (None, None),
    ("GET", "/v1/workgroups/{name}"): (None, None),
    ("GET", "/v1/events/subscriptions"): (None, None),
    ("GET", "/v1/events/inbox"): (None, None),
    ("GET", "/v1/events/deliveries"): (None, None),
    ("GET", "/v1/events/dead-letters"): (None, None),
    ("GET", "/v1/events/triggers"): (None, None),
    ("GET", "/v1/events/triggers/runs"): (None, None),
    ("GET", "/v1/events/triggers/settled"): (None, None),
    ("GET", "/v1/events/drift-reports"): (None, None),
    ("GET", "/v1/events/drift-reports/{report_id}"): (None, None),
    ("GET", "/v1/events/drift-reports/{report_id}/plots/{name}"): (None, None),
    # storage and queries
    ("POST", "/v1/crawls"): (None, {"location": "{landing}", "database": "sales"}),
    ("POST", "/v1/recipes/runs"): (
        None,
        {"recipe": {"steps": [{"drop": ["id"]}]}, "source": "sales.orders", "target": "sales.x"},
    ),
    ("POST", "/v1/queries"): (None, {"sql": "SELECT * FROM sales.orders"}),
    ("POST", "/v1/workgroups"): (None, {"name": "evil"}),
    ("PATCH", "/v1/workgroups/{name}"): (None, {"max_runtime_s": 1}),
    ("POST", ORDERS + "/rows"): (None, {"rows": [[9, "us", 1.0, "x", "y"]]}),
    ("PUT", ORDERS + "/rows"): (None, {"rows": []}),
    # ML
    ("POST", "/v1/ml/processing-jobs"): (
        None,
        {"sql": "SELECT * FROM sales.orders", "target": "id", "output_database": "ml"},
    ),
    ("POST", "/v1/ml/training-jobs"): (None, {"job": "no-such-job"}),
    ("POST", "/v1/ml/evaluation-jobs"): (None, {"job": "no-such-job"}),
    ("POST", "/v1/ml/scoring-jobs"): (
        None,
        {
            "sql": "SELECT * FROM sales.orders",
            "group": "risk",
            "output_database": "ml",
            "output_table": "s",
        },
    ),
    ("POST", "/v1/ml/model-groups"): (None, {"name": "not a name!"}),
    ("GET", "/v1/ml/model-groups/{name}"): (None, None),
    ("POST", "/v1/ml/model-groups/{name}/versions"): (None, {"job": "no-such-job"}),
    ("GET", "/v1/ml/model-groups/{name}/version"): ({"status": "Approved"}, None),
    ("GET", "/v1/ml/model-groups/{name}/versions/{version}"): (None, None),
    ("POST", "/v1/ml/model-groups/{name}/versions/{version}/approve"): (None, {}),
    ("POST", "/v1/ml/model-groups/{name}/versions/{version}/reject"): (None, {}),
    ("POST", "/v1/ml/model-groups/{name}/versions/{version}/status"): (
        None,
        {"status": "Approved"},
    ),
    ("POST", "/v1/ml/model-groups/{name}/versions/{version}/alias"): (None, {"alias": "x"}),
    ("GET", "/v1/ml/model-groups/{name}/model"): (None, None),
    ("GET", "/v1/ml/model-groups/{name}/versions/{version}/lineage"): (None, None),
    ("POST", "/v1/ml/pipelines/executions"): (
        None,
        {
            "pipeline": {
                "name": "p",
                "steps": [
                    {
                        "name": "process",
                        "type": "process",
                        "sql": "SELECT * FROM sales.orders",
                        "target": "id",
                        "output_database": "ml",
                    }
                ],
            }
        },
    ),
    # events
    ("POST", "/v1/events/subscriptions"): (None, {"database": "sales"}),
    ("DELETE", "/v1/events/subscriptions/{subscription_id}"): (None, None),
    ("POST", "/v1/events/inbox/read"): (None, {"ids": ["x"]}),
    ("POST", "/v1/events/dead-letters/replay"): (None, {}),
    ("POST", "/v1/events/triggers"): (
        None,
        {"name": "evil", "on": "table.*", "do": "recrawl", "params": {}},
    ),
    ("DELETE", "/v1/events/triggers/{name}"): (None, None),
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
    "/v1/operations",
    "/v1/crawls",
    "/v1/recipes/runs",
    "/v1/ml/jobs",
    "/v1/ml/pipelines/executions",
    "/v1/ml/model-groups",
    "/v1/workgroups",
    "/v1/workgroups/{name}",
    "/v1/events/subscriptions",
    "/v1/events/inbox",
    "/v1/events/inbox/read",
    "/v1/events/deliveries",
    "/v1/events/dead-letters",
    "/v1/events/dead-letters/replay",
    "/v1/events/triggers",
    "/v1/events/triggers/runs",
    "/v1/events/triggers/settled",
    "/v1/events/drift-reports",
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
    """Path parameter values naming real things of the world (others' token, query,
    operation, subscription and trigger; a registered location outside the mesh)."""
    token = world.session("root").tokens.create("p/u").info.id
    query_id = world.session("p/u").query("SELECT id FROM sales.orders").query_id
    assert query_id is not None
    landing = landing_of(world)
    if not landing.exists():
        landing.mkdir()
        (landing / "t.csv").write_text("a,b\n1,x\n")
        admin = world.session("p/admin")
        admin.catalog.register_location(str(landing))
        admin.events.subscribe(database="sales")
        admin.events.triggers.create(
            "t1",
            on="table.updated",
            do="recrawl",
            params={"location": str(landing), "database": "sales"},
        )
    report_id = str(drift_report_of(world, "p/admin"))
    operation = new_operation(
        world.runtime,
        operation_id=str(uuid.uuid4()),
        principal="p/admin",
        kind="crawl",
        request={"database": "sales"},
        runner="elsewhere",
        lease=timedelta(hours=1),
    )
    return {
        "landing": str(landing),
        "operation_id": operation.id,
        "job_id": "no-such-job",
        "execution_id": "no-such-execution",
        "subscription_id": "1",
        "version": "1",
        "name": "sales",
        "database": "sales",
        "table": "orders",
        "account": "p",
        "key": "domain",
        "token_id": token,
        "query_id": query_id,
        "request_id": "1",
        "report_id": report_id,
    }


def drift_report_of(world: meshlake.Mesh, principal: str) -> int:
    """The id of a drift report computed as ``principal``, kept the first time (as a drift
    check would keep it: two samples' statistics and distributions)."""
    from meshlake.ml.drift import distributions, drift_report, plot_names

    with world.runtime.store.read() as session:
        found = session.scalars(
            select(DriftReportRow.id).where(DriftReportRow.principal == principal)
        ).first()
    if found is not None:
        return int(found)
    ref = pa.table({"amount": [1.0, 2.0, 3.0, 4.0] * 25})
    cur = pa.table({"amount": [5.0, 6.0, 7.0, 8.0] * 25})
    report = drift_report(ref, cur)
    doc = json.loads(
        json.dumps(
            {**report.to_dict(), "distributions": distributions(ref, cur, report)}, default=float
        )
    )
    with world.runtime.store.transaction(bump=False) as session:
        row = DriftReportRow(
            account=principal.split("/")[0],
            principal=principal,
            trigger="t1",
            product=None,
            resource=None,
            reference_snapshot=None,
            current_snapshot=None,
            drifted=report.drifted,
            report=doc,
            plots=plot_names(doc),
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return int(row.id)


def landing_of(world: meshlake.Mesh) -> Path:
    """The world's registered location (outside the mesh's folders)."""
    return world.home.parent / "landing"


def url_for(path: str, values: dict[str, str]) -> str:
    """``path`` with its parameters filled: ``{name}`` names what the route is about."""
    if path.startswith("/v1/workgroups/"):
        path = path.replace("{name}", "primary")
    elif path.startswith("/v1/ml/model-groups/"):
        path = path.replace("{name}", "risk")
    elif path.startswith("/v1/events/triggers/"):
        path = path.replace("{name}", "t1")
    elif path.startswith("/v1/events/drift-reports/"):
        path = path.replace("{name}", "psi.png")
    elif path.startswith("/v1/principals/"):
        path = path.replace("{name}", "u")
    elif path.startswith("/v1/accounts/"):
        path = path.replace("{name}", "p")
    elif path.endswith("/filters/{name}"):
        path = path.replace("{name}", "us_only")
    elif path.startswith((ORDERS, "/v1/products/")):
        path = path.replace("{name}", "orders").replace("{column}", "amount")
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


def walk(
    world: meshlake.Mesh,
    client: TestClient,
    principal: str,
    headers: dict[str, str] | None = None,
) -> list[tuple[Any, Any]]:
    """Call every route once as ``principal`` (deletions last, so that a principal who may
    delete still walks the other routes over the whole world), with a token of its own or
    the given ``headers``."""
    values = fixtures_of(world)
    headers = headers or bearer(world, principal)
    out = []
    calls = sorted(REQUESTS.items(), key=lambda item: item[0][0] == "DELETE")
    for (method, path), (params, body) in calls:
        url = url_for(path, values)
        if isinstance(body, dict) and body.get("location") == "{landing}":
            body = {**body, "location": values["landing"]}
        r: Any = client.request(method, url, params=params, json=body, headers=headers)
        if r.status_code == 202:
            r = follow(client, r, headers)
        out.append(((method, path), r))
    return out


@dataclass
class Followed:
    """The end of an accepted request (an operation or a started query) as a response:
    its status is its error's, its text everything it recorded."""

    status_code: int
    text: str
    error: dict[str, Any] | None

    def json(self) -> dict[str, Any]:
        return {"error": self.error}


def follow(client: TestClient, r: Any, headers: dict[str, str]) -> Followed:
    """Wait for what a ``202`` answer started, at its ``Location``."""
    where = r.headers["location"]
    deadline = time.monotonic() + 60
    while True:
        got = client.get(
            where, params={"wait": 5} if "/operations/" in where else None, headers=headers
        )
        assert got.status_code == 200, got.text
        body = got.json()
        if body["state"] not in ("QUEUED", "RUNNING"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    error = body.get("error")
    if isinstance(error, str):  # a query execution records "kind: message"
        kind, _, message = error.partition(": ")
        error = {"type": kind, "message": message}
    status = 200 if error is None else error_class_for_kind(error["type"]).status
    return Followed(status, r.text + got.text, error)


def test_a_principal_holding_nothing_gets_nothing(world: meshlake.Mesh, client: TestClient) -> None:
    fixtures_of(world)  # the others' things exist before the version is taken
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


def test_a_revoked_token_is_refused_by_every_route(
    world: meshlake.Mesh, client: TestClient
) -> None:
    fixtures_of(world)
    root = world.session("root")
    revoked = root.tokens.create("root")  # the mightiest principal's
    root.tokens.revoke(revoked.info.id)
    version, seen = world.runtime.store.version(), root.audit()[-1].seq
    headers = {"Authorization": f"Bearer {revoked.token}"}
    for (method, path), r in walk(world, client, "root", headers):
        if path == "/health":
            continue
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["type"] == "unauthenticated", (method, path, r.text)
    assert world.runtime.store.version() == version  # nothing changed, nothing done as root
    done = [e for e in root.audit() if e.seq > seen and e.principal == "root"]
    assert [(e.action, e.data["after"]["principal"]) for e in done] == [
        ("create_token", "p/u")  # the walker's own fixture (fixtures_of)
    ]


@pytest.mark.parametrize("principal", ["root", "p/admin"])
def test_no_route_returns_a_storage_path(
    world: meshlake.Mesh, client: TestClient, principal: str
) -> None:
    home = str(world.home)
    results = walk(world, client, principal)
    landing = str(landing_of(world))
    for (method, path), r in results:
        assert r.status_code < 500, (method, path, r.text)
        assert home not in r.text, (method, path, r.text)
        assert landing not in r.text, (method, path, r.text)


# ---------------------------------------------------------------------- the console
CONSOLE_TABLE = "/console/databases/{database}/tables/{name}"
CONSOLE_MODEL = "/console/models/{account}/{name}/{version}"

#: (method, console route path) -> (query params, form fields); path parameters as
#: :func:`console_url_for` fills them. Every POST also carries the page's CSRF value.
CONSOLE_REQUESTS: dict[tuple[str, str], tuple[dict[str, Any] | None, dict[str, Any] | None]] = {
    ("GET", "/console/static/{name}"): (None, None),
    ("GET", "/console/login"): (None, None),
    ("POST", "/console/login"): (None, {"token": "mlk_bogus"}),
    ("POST", "/console/logout"): (None, {}),
    ("GET", "/console"): (None, None),
    ("GET", "/console/databases/{name}"): ({"account": "p"}, None),
    ("POST", "/console/databases/{name}/tags"): (None, {"account": "p", "tag": "domain=hr"}),
    ("POST", "/console/databases/{name}/tags/remove"): (None, {"account": "p", "key": "domain"}),
    ("GET", CONSOLE_TABLE): ({"account": "p"}, None),
    ("POST", CONSOLE_TABLE + "/tags"): (
        None,
        {"account": "p", "column": "amount", "tag": "domain=hr"},
    ),
    ("POST", CONSOLE_TABLE + "/tags/remove"): (None, {"account": "p", "key": "domain"}),
    ("POST", CONSOLE_TABLE + "/filters"): (
        None,
        {"account": "p", "filter_name": "mine", "all_rows": "true", "column_mode": "all"},
    ),
    ("POST", CONSOLE_TABLE + "/filters/{filter_name}/drop"): (None, {"account": "p"}),
    ("GET", "/console/products"): ({"q": "orders"}, None),
    ("GET", "/console/products/{name}"): (None, None),
    ("GET", "/console/access"): (None, None),
    ("GET", "/console/access/new"): ({"product": "orders"}, None),
    ("POST", "/console/access"): (
        None,
        {"product": "orders", "reason": "curious", "permissions": "SELECT"},
    ),
    ("GET", "/console/access/{request_id}"): (None, None),
    ("POST", "/console/access/{request_id}/approve"): (None, {}),
    ("POST", "/console/access/{request_id}/deny"): (None, {"reason": "no"}),
    ("POST", "/console/access/{request_id}/revoke"): (None, {}),
    ("GET", "/console/permissions"): ({"principal": "p/u"}, None),
    ("POST", "/console/permissions/grant"): (
        None,
        {
            "grantee": "p/nobody",
            "kind": "table",
            "database": "sales",
            "table": "orders",
            "permissions": "SELECT",
        },
    ),
    ("POST", "/console/permissions/revoke"): (
        None,
        {
            "grantee": "p/u",
            "kind": "datafilter",
            "database": "sales",
            "table": "orders",
            "name": "us_only",
            "permissions": "SELECT",
        },
    ),
    ("GET", "/console/permissions/explain"): (
        {
            "principal": "p/u",
            "action": "SELECT",
            "kind": "table",
            "database": "sales",
            "table": "orders",
        },
        None,
    ),
    ("GET", "/console/tags"): (None, None),
    ("POST", "/console/tags"): (None, {"key": "evil", "values": "x"}),
    ("POST", "/console/tags/values"): (None, {"key": "domain", "add": "x", "remove": "hr"}),
    ("POST", "/console/tags/delete"): (None, {"key": "domain"}),
    ("GET", "/console/query"): (None, None),
    ("POST", "/console/query"): (None, {"sql": "SELECT * FROM sales.orders"}),
    ("GET", "/console/queries/{query_id}"): (None, None),
    ("POST", "/console/workgroups"): (None, {"name": "evil", "max_runtime_s": "1"}),
    ("POST", "/console/workgroups/{name}"): (None, {"max_runtime_s": "1"}),
    ("GET", "/console/audit"): (None, None),
    ("GET", "/console/models"): (None, None),
    ("GET", "/console/models/{account}/{name}"): (None, None),
    ("GET", CONSOLE_MODEL): (None, None),
    ("POST", CONSOLE_MODEL + "/{decision}"): (None, {"reason": "fine"}),
    ("GET", "/console/inbox"): (None, None),
    ("POST", "/console/inbox/read"): (None, {"ids": "x"}),
    ("POST", "/console/subscriptions"): (None, {"database": "sales"}),
    ("POST", "/console/subscriptions/{subscription_id}/delete"): (None, {}),
    ("GET", "/console/deliveries"): ({"state": "dead"}, None),
    ("POST", "/console/deliveries/replay"): (None, {"every": "true"}),
}

#: Console routes a principal holding nothing may still use: pages listing nothing (the tag
#: keys of its own account, rule 11), its empty inbox, its own sign-out.
CONSOLE_ALLOWED_FOR_NOBODY = {
    "/console/static/{name}",
    "/console/login",
    "/console/logout",
    "/console",
    "/console/products",
    "/console/access",
    "/console/permissions",
    "/console/permissions/explain",
    "/console/tags",
    "/console/query",
    "/console/audit",
    "/console/models",
    "/console/inbox",
    "/console/inbox/read",
    "/console/deliveries",
    "/console/deliveries/replay",
}
#: Console routes whose answer repeats the request (the search and explain forms show what
#: was asked).
CONSOLE_ECHOES = {"/console/products", "/console/permissions/explain"}
#: Words of a form's route that undo something, or sign the browser out (then in again,
#: with a bogus token): walked last, in this order.
_LAST = ("delete", "drop", "remove", "revoke", "logout", "login")


def _walk_order(item: tuple[tuple[str, str], Any]) -> int:
    (method, path), _ = item
    words = [i for i, w in enumerate(_LAST) if w in path] if method == "POST" else []
    return 1 + words[0] if words else 0


def console_routes() -> list[tuple[str, str]]:
    """Every (method, path) the console serves."""
    return sorted(
        (method, route.path)
        for module in console.MODULES
        for route in module.router.routes
        for method in getattr(route, "methods", ())
    )


def test_the_console_walker_covers_every_console_route() -> None:
    assert set(console_routes()) == set(CONSOLE_REQUESTS)


def console_url_for(path: str, values: dict[str, str]) -> str:
    """A console ``path`` with its parameters filled (``{name}`` names what it is about)."""
    if path.startswith("/console/static/"):
        path = path.replace("{name}", "console.css")
    elif path.startswith("/console/workgroups/"):
        path = path.replace("{name}", "primary")
    elif path.startswith("/console/models/"):
        path = path.replace("{name}", "risk").replace("{decision}", "approve")
    elif path.startswith("/console/products/") or "/tables/" in path:
        path = path.replace("{name}", "orders")
    values = {**values, "filter_name": "us_only"}
    for key, value in values.items():
        path = path.replace("{" + key + "}", value)
    return path


def console_walk(
    world: meshlake.Mesh, app: FastAPI, principal: str
) -> list[tuple[tuple[str, str], Any]]:
    """Call every console route once as ``principal``, signed in as a browser is, asking
    for the JSON twin (forms that undo something, and signing out, last)."""
    values = fixtures_of(world)
    browser = sign_in(app, world, principal)
    csrf = csrf_of(browser.get("/console").text)
    out = []
    calls = sorted(CONSOLE_REQUESTS.items(), key=_walk_order)
    for (method, path), (params, form) in calls:
        url = console_url_for(path, values)
        data = None if form is None else {**form, "csrf": csrf}
        r = browser.request(
            method,
            url,
            params=params,
            data=data,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        out.append(((method, path), r))
    return out


def test_a_principal_holding_nothing_gets_nothing_from_the_console(
    world: meshlake.Mesh, app: FastAPI
) -> None:
    fixtures_of(world)
    version = world.runtime.store.version()
    tags = world.session("p/admin").tags.list()
    for (method, path), r in console_walk(world, app, "p/nobody"):
        assert r.status_code < 500, (method, path, r.text)
        for secret in SECRET_VALUES:
            assert secret not in r.text, (method, path, r.text)
        for name in ("us_only", "customer_name"):  # only an error repeats what was asked
            assert name not in r.text or r.status_code >= 400, (method, path, r.text)
        if path not in CONSOLE_ECHOES:
            assert "orders" not in r.text or r.status_code >= 400, (method, path, r.text)
        if r.status_code < 400:
            assert path in CONSOLE_ALLOWED_FOR_NOBODY, (method, path, r.status_code, r.text)
        else:
            assert r.json()["error"]["type"] in {
                "not_found",
                "access_denied",
                "invalid_input",
                "unauthenticated",
            }, (method, path, r.text)
    assert world.runtime.store.version() == version  # nothing changed
    assert world.session("p/admin").tags.list() == tags
    assert [w.name for w in world.session("p/admin").queries.workgroups()] == ["primary"]
    assert [s.id for s in world.session("p/admin").events.subscriptions()] == [1]
    assert world.session("p/u").query("SELECT count(*) FROM sales.orders").rows() == [(2,)]


def test_no_console_route_returns_a_storage_path(world: meshlake.Mesh, app: FastAPI) -> None:
    home = str(world.home)
    landing = str(landing_of(world))
    for (method, path), r in console_walk(world, app, "p/admin"):
        assert r.status_code < 500, (method, path, r.text)
        assert home not in r.text and landing not in r.text, (method, path, r.text)
        assert "file://" not in r.text, (method, path, r.text)
