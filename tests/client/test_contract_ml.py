"""ML through the HTTP SDK and embedded, on one mesh: the same jobs, registry values,
metadata, lineage shape and errors; long calls wait for their server operation."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

import meshlake
from meshlake.demo.ml import APPROVER, ML_DATABASE, PRODUCT_SQL, SCIENTIST, grant_ml_roles
from meshlake.demo.scenario import run
from meshlake.resources import ModelGroup
from meshlake.server import create_app
from meshlake.server.wire import Scrubber
from meshlake.service.operations import Operation
from server.world import remote_session

from .test_contract import norm

OUTSIDER = "consumer/outsider"
ANALYST = "consumer/analyst1"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[meshlake.Mesh]:
    """The demo's credit product and ML roles, served (no folder allowed)."""
    home: Path = tmp_path_factory.mktemp("mlhttp") / "home"
    run(home, console=Console(file=io.StringIO()), ml=False)
    mesh = meshlake.connect(home, allowed_roots=[])
    grant_ml_roles(mesh)
    mesh.session("root").principals.create(OUTSIDER)
    yield mesh
    mesh.close()


@pytest.fixture(scope="module")
def app(mesh: meshlake.Mesh) -> Any:
    return create_app(mesh)


def both(mesh: meshlake.Mesh, app: Any, principal: str) -> tuple[Any, Any]:
    return mesh.session(principal), remote_session(mesh, app, principal)


def outcome(call: Any) -> Any:
    try:
        return norm(call())
    except meshlake.MeshError as exc:
        return norm(exc)


def seen(mesh: meshlake.Mesh, value: Any) -> Any:
    """A value as a client may see it: without the storage paths the server never sends."""
    return Scrubber(mesh.settings).body(norm(value))


def job_summary(job: Any) -> dict[str, Any]:
    """What two runs of the same job share (ids, clocks and table names differ)."""
    return {
        "kind": job.kind,
        "state": job.state,
        "principal": job.principal,
        "metrics": job.metrics,
        "counts": job.outputs.get("counts"),
        "rows": {split: t["rows"] for split, t in job.tables.items()},
    }


@pytest.fixture(scope="module")
def trained(mesh: meshlake.Mesh, app: Any) -> tuple[Any, Any]:
    """A processing job and a training job, both made embedded."""
    sci = mesh.session(SCIENTIST)
    job = sci.ml.process(
        PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=7, output_prefix="emb"
    )
    return job, sci.ml.train(job, estimator="logistic_regression", seed=7)


def test_processing_and_training_agree(
    mesh: meshlake.Mesh, app: Any, trained: tuple[Any, Any]
) -> None:
    emb, rem = both(mesh, app, SCIENTIST)
    job, training = trained
    remote_job = rem.ml.process(
        PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=7, output_prefix="rem"
    )
    assert job_summary(remote_job) == job_summary(job)
    assert remote_job.tables["train"]["table"] == "rem_train"
    assert seen(mesh, rem.ml.job(job.id)) == seen(mesh, emb.ml.job(job.id))
    assert [j.id for j in rem.ml.jobs()] == [j.id for j in emb.ml.jobs()]
    # the same training asked through the server finds the embedded one (step cache)
    again = rem.ml.train(job.id, estimator="logistic_regression", seed=7, cache=True)
    assert again.cached and again.id == training.id and again.metrics == training.metrics
    assert "model" not in again.outputs or again.outputs["model"] == "<managed>"
    # errors: same class, same message
    for face_call in (
        lambda s: s.ml.process(PRODUCT_SQL, target="nope", output_database=ML_DATABASE),
        lambda s: s.ml.train("no-such-job"),
        lambda s: s.ml.job("no-such-job"),
    ):
        remote_error = outcome(lambda f=face_call: f(rem))
        assert remote_error == outcome(lambda f=face_call: f(emb))
        assert remote_error[0] == "error"
    out_emb, out_rem = both(mesh, app, OUTSIDER)
    call = lambda s: s.ml.process(PRODUCT_SQL, target="credit_risk", output_database="x")  # noqa: E731
    assert outcome(lambda: call(out_rem)) == outcome(lambda: call(out_emb))
    assert outcome(lambda: call(out_rem))[1] == "NotFoundError"
    with pytest.raises(meshlake.InvalidInputError, match="no client code"):
        rem.ml.train(job, script="train.py")
    op = rem.ml.process(
        PRODUCT_SQL,
        target="credit_risk",
        output_database=ML_DATABASE,
        seed=7,
        output_prefix="later",
        wait=False,
    )
    assert isinstance(op, Operation) and op.kind == "ml.process"
    done = rem.operations.wait(op.id, timeout=60)
    assert (
        done.state == "SUCCEEDED"
        and done.result["outputs"]["tables"]["train"]["table"] == "later_train"
    )


def test_registry_metadata_and_lineage_agree(
    mesh: meshlake.Mesh, app: Any, trained: tuple[Any, Any], tmp_path: Path
) -> None:
    emb, rem = both(mesh, app, SCIENTIST)
    _, training = trained
    version = rem.ml.register(training, "risk-http")
    assert version.status == "PendingManualApproval" and version.version == 1
    assert seen(mesh, rem.ml.describe_model_group("risk-http")) == seen(
        mesh, emb.ml.describe_model_group("risk-http")
    )
    assert seen(mesh, rem.ml.list_model_groups()) == seen(mesh, emb.ml.list_model_groups())
    assert seen(mesh, rem.ml.model_version("risk-http", 1)) == seen(
        mesh, emb.ml.model_version("risk-http", 1)
    )
    emb.grant(ANALYST, ModelGroup("risk-http"), ["DESCRIBE", "USE"])
    a_emb, a_rem = both(mesh, app, ANALYST)
    assert outcome(lambda: a_rem.ml.approve(version)) == outcome(lambda: a_emb.ml.approve(version))
    assert outcome(lambda: a_rem.ml.approve(version))[1] == "AccessDeniedError"
    assert outcome(lambda: a_rem.ml.set_status(version, "Rejected")) == outcome(
        lambda: a_emb.ml.set_status(version, "Rejected")
    )
    o_emb, o_rem = both(mesh, app, OUTSIDER)
    assert outcome(lambda: o_rem.ml.describe_model_group("risk-http")) == outcome(
        lambda: o_emb.ml.describe_model_group("risk-http")
    )
    assert norm(o_rem.ml.list_model_groups()) == []
    emb.grant(APPROVER, ModelGroup("risk-http"), ["APPROVE", "DESCRIBE"])
    ap_emb, approver = both(mesh, app, APPROVER)
    approved = approver.ml.approve(version, reason="reviewed")
    assert approved.status == "Approved"
    assert seen(mesh, approved) == seen(mesh, emb.ml.model_version("risk-http", 1))
    back = approver.ml.set_status(approved, "pendingmanualapproval", reason="second look")
    assert back.status == "PendingManualApproval"
    assert outcome(lambda: approver.ml.set_status(back, "shipped")) == outcome(
        lambda: ap_emb.ml.set_status(back, "shipped")
    )
    approved = approver.ml.approve(back, reason="reviewed")
    aliased = approver.ml.set_alias(approved, "champion")
    assert aliased.aliases == ("champion",)
    assert seen(mesh, rem.ml.model_version("risk-http", alias="champion")) == seen(
        mesh, emb.ml.model_version("risk-http", alias="champion")
    )
    assert seen(mesh, a_rem.ml.model_metadata("risk-http", status="Approved")) == seen(
        mesh, a_emb.ml.model_metadata("risk-http", status="Approved")
    )
    assert outcome(lambda: o_rem.ml.model_metadata("risk-http")) == outcome(
        lambda: o_emb.ml.model_metadata("risk-http")
    )
    remote_lineage, embedded_lineage = rem.ml.lineage(approved), emb.ml.lineage(approved)
    assert remote_lineage.kinds() == embedded_lineage.kinds()
    assert [n.visible for n in remote_lineage.nodes] == [n.visible for n in embedded_lineage.nodes]
    text = str(remote_lineage.to_dict())
    assert str(mesh.home) not in text and "<managed>" not in text
    files = remote_lineage.of_kind("source_file")
    assert files and all(n.id == "file:credit_export.txt" for n in files)
    # OpenLineage: the SDK writes the lineage the server answered to a local file
    remote_file = rem.ml.export_openlineage(approved, tmp_path / "remote.jsonl")
    embedded_file = emb.ml.export_openlineage(approved, tmp_path / "embedded.jsonl")
    assert remote_file == tmp_path / "remote.jsonl"
    remote_events = [json.loads(line) for line in remote_file.read_text().splitlines()]
    embedded_events = [json.loads(line) for line in embedded_file.read_text().splitlines()]
    assert remote_events and len(remote_events) == len(embedded_events)
    assert [e["job"]["name"] for e in remote_events] == [e["job"]["name"] for e in embedded_events]
    assert str(mesh.home) not in remote_file.read_text()
    scored = a_rem.ml.score(
        PRODUCT_SQL,
        group="risk-http",
        account="consumer",
        output_database=ML_DATABASE,
        output_table="scores_http",
    )
    assert scored.state == "SUCCEEDED" and scored.metrics["rows"] == 1000


def test_pipelines_agree(mesh: meshlake.Mesh, app: Any) -> None:
    emb, rem = both(mesh, app, SCIENTIST)

    def pipeline(name: str, target: str) -> dict[str, Any]:
        step = {
            "name": "process",
            "type": "process",
            "sql": PRODUCT_SQL,
            "target": target,
            "output_database": ML_DATABASE,
            "seed": 3,
            "output_prefix": name,
        }
        return {"name": name, "steps": [step]}

    remote = rem.ml.pipelines.run(pipeline("pipe-http", "credit_risk"))
    local = emb.ml.pipelines.run(pipeline("pipe-emb", "credit_risk"))
    assert [(s.name, s.state) for s in remote.steps] == [(s.name, s.state) for s in local.steps]
    assert remote.state == "SUCCEEDED"
    assert seen(mesh, rem.ml.pipelines.get(remote.id)) == seen(
        mesh, emb.ml.pipelines.get(remote.id)
    )
    assert [e.id for e in rem.ml.pipelines.list()] == [e.id for e in emb.ml.pipelines.list()]
    bad_remote = outcome(lambda: rem.ml.pipelines.run(pipeline("bad", "nope")))
    bad_local = outcome(lambda: emb.ml.pipelines.run(pipeline("bad", "nope")))
    assert bad_remote == bad_local and bad_remote[1] == "InvalidInputError"
    with pytest.raises(meshlake.InvalidInputError, match="script"):
        rem.ml.pipelines.run(
            {"name": "s", "steps": [{**pipeline("s", "y")["steps"][0], "script": "x.py"}]}
        )
    client = TestClient(app)
    r = client.get("/v1/ml/pipelines/executions/nope", headers=rem.http.headers)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
