"""The REST API in-process: auth, errors, results as JSON and Arrow, pages, no paths."""

from __future__ import annotations

import io

import pyarrow as pa
from fastapi.testclient import TestClient

import meshlake

from .conftest import bearer


def test_every_route_needs_a_token(world: meshlake.Mesh, client: TestClient) -> None:
    for method, path in [("GET", "/v1/databases"), ("POST", "/v1/query"), ("GET", "/v1/audit")]:
        r = client.request(method, path)
        assert r.status_code == 401, path
        assert r.json()["error"]["type"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer"
    r = client.get("/v1/databases", headers={"Authorization": "Bearer mlk_nope"})
    assert r.status_code == 401
    assert client.get("/health").json() == {"status": "ok"}


def test_errors_carry_the_mesh_error_kind_and_status(
    world: meshlake.Mesh, client: TestClient
) -> None:
    h = bearer(world, "p/nobody")
    r = client.get("/v1/databases/sales/tables/orders", headers=h)
    assert (r.status_code, r.json()["error"]["type"]) == (404, "not_found")
    r = client.post("/v1/query", json={"sql": "DROP TABLE sales.orders"}, headers=h)
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_query")
    r = client.post("/v1/accounts", json={"name": "x"}, headers=h)
    assert (r.status_code, r.json()["error"]["type"]) == (403, "access_denied")
    r = client.post("/v1/accounts", json={"nom": "x"}, headers=h)  # malformed body
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_input")
    r = client.post("/v1/tags/of", json={"resource": {"kind": "bogus"}}, headers=h)
    assert (r.status_code, r.json()["error"]["type"]) == (400, "invalid_input")
    r = client.post("/v1/databases", json={"name": "sales"}, headers=bearer(world, "p/admin"))
    assert (r.status_code, r.json()["error"]["type"]) == (409, "conflict")


def test_query_as_json_and_as_arrow_under_the_policy(
    world: meshlake.Mesh, client: TestClient
) -> None:
    h = bearer(world, "p/u")
    body = {"sql": "SELECT * FROM sales.orders ORDER BY id"}
    r = client.post("/v1/query", json=body, headers=h)
    assert r.status_code == 200
    data = r.json()
    assert data["columns"] == ["id", "region", "amount"]
    assert data["rows"] == [[1, "us", 10.0], [3, "us", 30.0]]
    r = client.post(
        "/v1/query", json=body, headers={**h, "Accept": "application/vnd.apache.arrow.stream"}
    )
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert int(r.headers["content-length"]) == len(r.content)  # small: one body, not streamed
    table = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    assert table.column_names == ["id", "region", "amount"] and table.num_rows == 2
    qid = r.headers["x-meshlake-query-id"]
    ex = client.get(f"/v1/queries/{qid}", headers=h).json()
    assert ex["state"] == "SUCCEEDED" and "result_path" not in ex
    r = client.get(f"/v1/queries/{qid}/result", headers=h)
    assert r.json()["rows"] == [[1, "us", 10.0], [3, "us", 30.0]]
    r = client.get(f"/v1/queries/{qid}", headers=bearer(world, "p/nobody"))
    assert r.status_code == 404  # another principal's query


def test_listings_are_paged(world: meshlake.Mesh, client: TestClient) -> None:
    h = bearer(world, "p/u")
    first = client.get("/v1/principals", params={"limit": 2}, headers=h).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = client.get("/v1/principals", params={"limit": 100, "offset": 2}, headers=h).json()
    assert rest["next_offset"] is None
    ids = [p["id"] for p in first["items"] + rest["items"]]
    assert ids == sorted(ids) and len(ids) == 5
    assert client.get("/v1/principals", params={"limit": 0}, headers=h).status_code == 400


def test_responses_never_carry_storage_paths(world: meshlake.Mesh, client: TestClient) -> None:
    h = bearer(world, "p/admin")
    home = str(world.home)
    for path in ("/v1/databases/sales/tables/orders", "/v1/databases/sales", "/v1/audit"):
        r = client.get(path, headers=h)
        assert r.status_code == 200 and home not in r.text and "location" not in r.json()
    made = client.post(
        "/v1/databases/sales/tables",
        json={"name": "t2", "columns": {"a": "bigint"}, "rows": [[1]]},
        headers=h,
    )
    assert made.status_code == 201 and home not in made.text
    dropped = client.delete("/v1/databases/sales/tables/t2", headers=h)
    assert dropped.status_code == 200 and home not in dropped.text
    # a server lets no principal name a folder as a location (allowed_roots = none)
    r = client.post("/v1/databases", json={"name": "x", "location": "/tmp/x"}, headers=h)
    assert r.status_code == 400 and home not in r.text


def test_contracts_are_text_never_server_files(world: meshlake.Mesh, client: TestClient) -> None:
    r = client.post(
        "/v1/products",
        json={"contract": "/etc/passwd.yaml", "database": "sales"},
        headers=bearer(world, "p/admin"),
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_input"


def test_openapi_describes_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "meshlake"
    for path in ("/v1/query", "/v1/grants", "/v1/tokens", "/v1/access-requests/{request_id}"):
        assert path in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
