"""Crawls, recipes, workgroups, row writes and streamed results over HTTP: rights, 404s,
bad input in the error envelope, and no storage paths."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient

import meshlake

from .conftest import bearer

ARROW = "application/vnd.apache.arrow.stream"


def error_of(r: Any, status: int, kind: str) -> str:
    """Assert ``r`` is the error envelope of ``kind`` with ``status``; its message."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["type"] == kind and isinstance(error["message"], str), r.text
    return str(error["message"])


def finished(client: TestClient, r: Any, headers: dict[str, str]) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    op = client.get(r.headers["location"], params={"wait": 20}, headers=headers).json()
    assert op["state"] in ("SUCCEEDED", "FAILED"), op
    return dict(op)


def landing(world: meshlake.Mesh) -> Path:
    folder = world.home.parent / "landing"
    folder.mkdir(exist_ok=True)
    (folder / "t.csv").write_text("a,b\n1,x\n2,y\n")
    world.session("p/admin").catalog.register_location(str(folder))
    return folder


def test_crawls_and_their_runs(world: meshlake.Mesh, client: TestClient) -> None:
    folder = landing(world)
    admin, u = bearer(world, "p/admin"), bearer(world, "p/u")
    body = {"location": str(folder), "database": "sales", "table": "landed"}
    op = finished(client, client.post("/v1/crawls", json=body, headers=admin), admin)
    assert op["state"] == "SUCCEEDED" and op["result"]["rows_added"] == 2
    runs = client.get("/v1/crawls", headers=admin).json()["items"]
    assert [r["id"] for r in runs] == [op["result"]["id"]]
    assert "location" not in runs[0] and str(folder) not in str(runs)
    assert client.get("/v1/crawls", headers=u).json()["items"] == []  # another's runs
    # a folder that is no registered location: the server allows none
    other = world.home.parent / "elsewhere"
    other.mkdir()
    op = finished(
        client,
        client.post("/v1/crawls", json={**body, "location": str(other)}, headers=admin),
        admin,
    )
    assert op["error"]["type"] == "invalid_input"  # (the message echoes the caller's own text)
    assert "only registered locations" in op["error"]["message"]
    missing = {**body, "database": "nope"}
    op = finished(client, client.post("/v1/crawls", json=missing, headers=admin), admin)
    assert op["error"]["type"] == "not_found"
    error_of(
        client.post("/v1/crawls", json={"database": "sales"}, headers=admin), 400, "invalid_input"
    )
    bad_policy = {**body, "policy": {"update_behavior": "EXPLODE"}}
    error_of(client.post("/v1/crawls", json=bad_policy, headers=admin), 400, "invalid_input")


def test_recipes_take_documents_never_files(world: meshlake.Mesh, client: TestClient) -> None:
    admin = bearer(world, "p/admin")
    recipe = "name: slim\nsteps:\n  - drop: [ssn, customer_name]\n"
    body = {"recipe": recipe, "source": "sales.orders", "target": "sales.slim"}
    op = finished(client, client.post("/v1/recipes/runs", json=body, headers=admin), admin)
    assert op["state"] == "SUCCEEDED", op
    assert op["result"]["columns_out"] == ["id", "region", "amount"]
    runs = client.get("/v1/recipes/runs", params={"target": "sales.slim"}, headers=admin).json()
    assert [r["id"] for r in runs["items"]] == [op["result"]["id"]]
    assert client.get("/v1/recipes/runs", headers=bearer(world, "p/u")).json()["items"] == []
    for recipe_doc in (
        "/etc/recipe.yaml",
        {
            "steps": [
                {
                    "decode": {
                        "column": "region",
                        "codebook": {"path": "/etc/cb.yaml", "attribute": "x"},
                    }
                }
            ]
        },
        "- just\n- a list\n",
    ):
        r = client.post("/v1/recipes/runs", json={**body, "recipe": recipe_doc}, headers=admin)
        error_of(r, 400, "invalid_input")
    nobody = bearer(world, "p/nobody")
    op = finished(client, client.post("/v1/recipes/runs", json=body, headers=nobody), nobody)
    assert op["error"]["type"] == "not_found"


def test_workgroups(world: meshlake.Mesh, client: TestClient) -> None:
    admin, u = bearer(world, "p/admin"), bearer(world, "p/u")
    r = client.post("/v1/workgroups", json={"name": "etl", "max_runtime_s": 60}, headers=admin)
    assert r.status_code == 201 and r.json()["max_runtime_s"] == 60
    assert "result_location" not in r.json() and str(world.home) not in r.text
    names = [w["name"] for w in client.get("/v1/workgroups", headers=u).json()["items"]]
    assert names == ["etl", "primary"]
    r = client.patch("/v1/workgroups/etl", json={"memory_limit": "1GB"}, headers=admin)
    assert r.json()["memory_limit"] == "1GB" and r.json()["max_runtime_s"] == 60
    r = client.patch("/v1/workgroups/etl", json={"memory_limit": None}, headers=admin)
    assert r.json()["memory_limit"] is None
    error_of(client.post("/v1/workgroups", json={"name": "x"}, headers=u), 403, "access_denied")
    error_of(client.patch("/v1/workgroups/etl", json={}, headers=u), 403, "access_denied")
    error_of(client.get("/v1/workgroups/nope", headers=u), 404, "not_found")
    error_of(client.patch("/v1/workgroups/nope", json={}, headers=admin), 404, "not_found")
    bad = client.patch("/v1/workgroups/etl", json={"memory_limit": "lots"}, headers=admin)
    error_of(bad, 400, "invalid_input")
    error_of(
        client.post("/v1/workgroups", json={"name": "y", "retention_s": 0}, headers=admin),
        400,
        "invalid_input",
    )
    error_of(client.post("/v1/workgroups", json={"name": "etl"}, headers=admin), 409, "conflict")
    folder = client.post(
        "/v1/workgroups", json={"name": "z", "result_location": "/tmp/z"}, headers=admin
    )
    error_of(folder, 400, "invalid_input")  # no folder but registered locations


def test_rows_are_appended_as_json_or_arrow(world: meshlake.Mesh, client: TestClient) -> None:
    admin = bearer(world, "p/admin")
    world.session("p/admin").catalog.create_table("sales", "t", {"a": "bigint", "b": "varchar"})
    path = "/v1/databases/sales/tables/t/rows"
    r = client.post(path, json={"rows": [[1, "x"]]}, headers=admin)
    assert r.status_code == 200 and isinstance(r.json()["snapshot_id"], int)
    sink = io.BytesIO()
    data = pa.table({"a": pa.array([2, 3], pa.int64()), "b": ["y", "z"]})
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    r = client.post(path, content=sink.getvalue(), headers={**admin, "Content-Type": ARROW})
    assert r.status_code == 200, r.text
    rows = world.session("p/admin").query("SELECT a, b FROM sales.t ORDER BY a").rows()
    assert rows == [(1, "x"), (2, "y"), (3, "z")]
    r = client.put(path, json={"rows": [[9, "q"]]}, headers=admin)
    assert r.status_code == 200
    assert world.session("p/admin").query("SELECT a FROM sales.t").rows() == [(9,)]
    bad = client.post(path, content=b"not arrow", headers={**admin, "Content-Type": ARROW})
    error_of(bad, 400, "invalid_input")
    error_of(client.post(path, json={"rows": "x"}, headers=admin), 400, "invalid_input")
    error_of(client.post(path, json={"rows": [["x", 1]]}, headers=admin), 400, "invalid_input")
    error_of(client.post(path, content=b"{", headers=admin), 400, "invalid_input")
    orders = "/v1/databases/sales/tables/orders/rows"
    row = {"rows": [[4, "us", 1.0, "d", "4"]]}
    error_of(client.post(orders, json=row, headers=bearer(world, "p/u")), 403, "access_denied")
    error_of(client.post(orders, json=row, headers=bearer(world, "p/nobody")), 404, "not_found")
    error_of(
        client.post("/v1/databases/sales/tables/nope/rows", json=row, headers=admin),
        404,
        "not_found",
    )


def test_columns_are_added_as_json_type_names(world: meshlake.Mesh, client: TestClient) -> None:
    admin = bearer(world, "p/admin")
    world.session("p/admin").catalog.create_table("sales", "s", {"a": "bigint"}, [[1]])
    path = "/v1/databases/sales/tables/s/schema"
    r = client.post(
        path, json={"columns": {"note": "varchar", "d": "decimal(10,2)"}}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert [(c["name"], c["type"]) for c in r.json()["columns"]] == [
        ("a", "BIGINT"),
        ("note", "VARCHAR"),
        ("d", "DECIMAL(10,2)"),
    ]
    for bad in ({"columns": {"x": "varcharr"}}, {"columns": {}}, {"columns": ["x"]}, {}):
        error_of(client.post(path, json=bad, headers=admin), 400, "invalid_input")
    error_of(client.post(path, content=b"{", headers=admin), 400, "invalid_input")
    error_of(
        client.post(path, content=b"not arrow", headers={**admin, "Content-Type": ARROW}),
        400,
        "invalid_input",
    )
    assert len(world.session("p/admin").catalog.get_table("sales", "s").columns) == 3


def test_arrow_results_are_streamed_batch_by_batch(
    world: meshlake.Mesh, client: TestClient
) -> None:
    n = 150_000
    world.session("p/admin").catalog.create_table(
        "sales", "big", data=pa.table({"i": pa.array(range(n), pa.int64())})
    )
    h = {**bearer(world, "p/admin"), "Accept": ARROW}
    with client.stream(
        "POST", "/v1/query", json={"sql": "SELECT i FROM sales.big"}, headers=h
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"] == ARROW
        assert "content-length" not in r.headers  # over ONE_BODY_BYTES: streamed
        query_id = r.headers["x-meshlake-query-id"]
        chunks = list(r.iter_raw())
    assert len(chunks) >= 3  # schema, one chunk per batch, end of stream
    table = pa.ipc.open_stream(io.BytesIO(b"".join(chunks))).read_all()
    assert table.num_rows == n and table.column("i").to_pylist()[-1] is not None
    with client.stream("GET", f"/v1/queries/{query_id}/result", headers=h) as r:
        stored = list(r.iter_raw())
    assert len(stored) >= 4  # read from the result file batch by batch (65,536 rows each)
    assert pa.ipc.open_stream(io.BytesIO(b"".join(stored))).read_all().num_rows == n
    r = client.post(
        "/v1/query", json={"sql": "SELECT i FROM sales.big"}, headers=bearer(world, "p/admin")
    )
    assert "ask for application/vnd.apache.arrow.stream" in error_of(r, 400, "invalid_input")
    other = client.get(
        f"/v1/queries/{query_id}/result", headers={**bearer(world, "p/u"), "Accept": ARROW}
    )
    error_of(other, 404, "not_found")


def test_a_started_query_is_followed_by_its_execution(
    world: meshlake.Mesh, client: TestClient
) -> None:
    u = bearer(world, "p/u")
    r = client.post("/v1/queries", json={"sql": "SELECT id FROM sales.orders"}, headers=u)
    assert r.status_code == 202 and r.headers["location"] == f"/v1/queries/{r.json()['query_id']}"
    error_of(client.post("/v1/queries", json={"sql": 1}, headers=u), 400, "invalid_input")
