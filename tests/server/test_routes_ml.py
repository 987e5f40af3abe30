"""ML routes without training: bad input is a 400 in the error envelope before any work
starts, invisible groups are 404s, and the mesh root runs no jobs."""

from __future__ import annotations

from fastapi.testclient import TestClient

import meshlake

from .conftest import bearer
from .test_routes_data import error_of, finished

PROCESS = {"sql": "SELECT * FROM sales.orders", "target": "region", "output_database": "ml"}


def test_bad_ml_requests_are_refused_before_they_start(
    world: meshlake.Mesh, client: TestClient
) -> None:
    u = bearer(world, "p/u")
    error_of(client.post("/v1/ml/processing-jobs", json={}, headers=u), 400, "invalid_input")
    bad_split = {**PROCESS, "split": "most"}
    error_of(client.post("/v1/ml/processing-jobs", json=bad_split, headers=u), 400, "invalid_input")
    scripted = {**PROCESS, "script": "/srv/featurize.py"}  # unknown fields are ignored ...
    r = client.post("/v1/ml/processing-jobs", json=scripted, headers=u)
    assert "script" not in finished(client, r, u)["request"]  # ... and never run
    bad_seed = {"job": "x", "seed": -1}
    error_of(client.post("/v1/ml/training-jobs", json=bad_seed, headers=u), 400, "invalid_input")
    steps = [
        {"name": "a", "type": "train", "input": "b"},
        {"name": "b", "type": "train", "input": "a"},
    ]
    for pipeline in (
        {"name": "p", "steps": steps},  # a cycle
        {"name": "p", "steps": [{"name": "a", "type": "explode"}]},
        "/srv/pipelines/credit.yaml",
        {"name": "p", "steps": [{"name": "a", "type": "process", "script": "x.py"}]},
    ):
        r = client.post("/v1/ml/pipelines/executions", json={"pipeline": pipeline}, headers=u)
        error_of(r, 400, "invalid_input")
    error_of(client.get("/v1/ml/model-groups/risk/versions/0", headers=u), 400, "invalid_input")
    assert client.get("/v1/operations", headers=u).json()["items"][0]["kind"] == "ml.process"


def test_model_groups_are_governed(world: meshlake.Mesh, client: TestClient) -> None:
    u = bearer(world, "p/u")
    error_of(client.get("/v1/ml/model-groups/risk", headers=u), 404, "not_found")
    error_of(client.get("/v1/ml/model-groups/risk/model", headers=u), 404, "not_found")
    error_of(
        client.post("/v1/ml/model-groups/risk/versions/1/approve", json={}, headers=u),
        404,
        "not_found",
    )
    error_of(client.get("/v1/ml/jobs/nope", headers=u), 404, "not_found")
    error_of(client.get("/v1/ml/pipelines/executions/nope", headers=u), 404, "not_found")
    assert client.get("/v1/ml/model-groups", headers=u).json() == {"items": []}
    root = bearer(world, "root")
    op = finished(client, client.post("/v1/ml/processing-jobs", json=PROCESS, headers=root), root)
    assert op["error"]["type"] == "access_denied" and "root runs no jobs" in op["error"]["message"]
    error_of(
        client.post("/v1/ml/model-groups", json={"name": "bad name"}, headers=u),
        400,
        "invalid_input",
    )
