"""Model groups as governed resources (rule 30), approval, loading and batch scoring."""

from __future__ import annotations

import pytest

import meshlake
from meshlake.demo.ml import ML_DATABASE, PRODUCT_SQL, SCIENTIST
from meshlake.resources import ModelGroup

ADMIN = "consumer/ConsumerAdmin"


@pytest.fixture(scope="module")
def version(ml_mesh: meshlake.Mesh):
    sci = ml_mesh.session(SCIENTIST)
    job = sci.ml.process(PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=7)
    train = sci.ml.train(job, estimator="xgboost", seed=7)
    return sci.ml.register(train, "risk")


def _changes(session: meshlake.Session, action: str) -> list:
    return [e for e in session.audit(category="change") if e.action == action]


def test_creator_admin_and_others(ml_mesh: meshlake.Mesh, version) -> None:
    sci = ml_mesh.session(SCIENTIST)
    assert version.status == "PendingManualApproval" and version.version == 1
    assert sci.check("APPROVE", ModelGroup("risk"))  # creator: ALL with grant option
    assert ml_mesh.session(ADMIN).check("USE", ModelGroup("risk"))  # admin: everything
    ml_mesh.session("root").principals.create("consumer/outsider")
    outsider = ml_mesh.session("consumer/outsider")
    assert outsider.decide("DESCRIBE", ModelGroup("risk")).reason == "not visible"
    with pytest.raises(meshlake.NotFoundError):  # rule 0: existence is not revealed
        outsider.ml.describe_model_group("risk")
    with pytest.raises(meshlake.NotFoundError):
        outsider.grant("consumer/ModelApprover", ModelGroup("risk"), ["APPROVE"])
    assert [g.name for g in outsider.ml.list_model_groups()] == []
    assert _changes(sci, "register_model_version")[-1].data["after"]["version"] == 1


def test_approval_needs_approve_and_is_audited(ml_mesh: meshlake.Mesh, version) -> None:
    sci = ml_mesh.session(SCIENTIST)
    sci.grant("consumer/analyst1", ModelGroup("risk"), ["DESCRIBE", "USE"])
    analyst = ml_mesh.session("consumer/analyst1")
    before = len(_changes(ml_mesh.session(ADMIN), "set_model_approval"))
    with pytest.raises(meshlake.AccessDeniedError, match="APPROVE"):
        analyst.ml.approve(version)
    assert analyst.ml.model_version("risk", 1, account="consumer").status == "PendingManualApproval"
    assert len(_changes(ml_mesh.session(ADMIN), "set_model_approval")) == before
    sci.grant("consumer/ModelApprover", ModelGroup("risk"), ["APPROVE"])
    approved = ml_mesh.session("consumer/ModelApprover").ml.approve(version, reason="ok")
    assert approved.status == "Approved"
    event = _changes(ml_mesh.session(ADMIN), "set_model_approval")[-1]
    assert event.principal == "consumer/ModelApprover"
    assert event.data["before"] == {"status": "PendingManualApproval"}
    assert event.data["after"]["status"] == "Approved"
    tag = sci.ml.tracker.client.get_model_version("consumer.risk", "1").tags["approval_status"]
    assert tag == "Approved"  # mirrored onto the MLflow registry
    assert ml_mesh.session(ADMIN).verify_audit().ok


def test_grants_follow_table_rules(ml_mesh: meshlake.Mesh, version) -> None:
    sci = ml_mesh.session(SCIENTIST)
    group = ModelGroup("risk")
    with pytest.raises(meshlake.InvalidInputError, match="rule 22"):
        sci.grant("producer", group, ["USE"])  # to another account: needs the grant option
    with pytest.raises(meshlake.InvalidInputError, match="rule 24"):
        sci.grant("producer/ProducerSteward", group, ["USE"], grantable=["USE"])
    sci.grant("producer", group, ["DESCRIBE", "USE"], grantable=["DESCRIBE", "USE"])
    steward = ml_mesh.session("producer/ProducerSteward")  # the producer's admin
    theirs = ModelGroup("risk", account="consumer")
    assert steward.check("DESCRIBE", theirs)
    # rule 23: the admin re-grants within its account only, bounded by what it received
    ml_mesh.session("root").principals.create("producer/modeler")
    with pytest.raises(meshlake.InvalidInputError, match="rule 23"):
        steward.grant("central/DataMeshOwner", theirs, ["USE"])
    steward.grant("producer/modeler", theirs, ["USE"])
    modeler = ml_mesh.session("producer/modeler")
    assert modeler.check("USE", theirs)
    sci.revoke("producer", group, ["USE"])
    assert not modeler.check("USE", theirs) and steward.check("DESCRIBE", theirs)
    # ALL and a separate grant coexist (rule 6)
    root = ml_mesh.session("root")
    root.principals.create("consumer/ops")
    sci.grant("consumer/ops", group, ["ALL"])
    sci.grant("consumer/ops", group, ["USE"])
    ops = ml_mesh.session("consumer/ops")
    assert ops.check("APPROVE", group)
    sci.revoke("consumer/ops", group, ["ALL"])
    assert ops.check("USE", group) and not ops.check("APPROVE", group)
    with pytest.raises(meshlake.AccessDeniedError):  # no grant option
        ops.grant("consumer/analyst1", group, ["USE"])


def test_load_and_score_as_the_caller(ml_mesh: meshlake.Mesh, version) -> None:
    sci = ml_mesh.session(SCIENTIST)
    sci.ml.approve(version)  # the creator holds APPROVE too
    sci.grant("consumer/analyst1", ModelGroup("risk"), ["DESCRIBE", "USE"])
    approved = sci.ml.model_version("risk", status="Approved")
    assert approved.version == version.version
    sci.ml.set_alias(approved, "champion")
    model = sci.ml.load_model("risk", alias="champion")
    df = sci.query(f"{PRODUCT_SQL} LIMIT 20").to_pandas()
    p = model.predict_proba(df)
    assert len(p) == 20 and ((p >= 0) & (p <= 1)).all()
    analyst = ml_mesh.session("consumer/analyst1")
    ml_mesh.session(ADMIN).grant(
        "consumer/analyst1", meshlake.Database(ML_DATABASE), ["CREATE_TABLE"]
    )
    job = analyst.ml.score(
        f"{PRODUCT_SQL} LIMIT 30",
        group="risk",
        account="consumer",
        output_database=ML_DATABASE,
        output_table="risk_scores",
    )
    out = analyst.query(f"SELECT score, prediction FROM {ML_DATABASE}.risk_scores").to_pandas()
    assert len(out) == 30 and job.outputs["model"] == "consumer.risk/1"
    reads = [e.data for e in analyst.audit(category="read") if e.data.get("job_id") == job.id]
    assert [r["service"] for r in reads] == ["scoring"]
    with pytest.raises(meshlake.AccessDeniedError):  # DESCRIBE alone does not load
        ml_mesh.session("consumer/ModelApprover").ml.load_model("risk", account="consumer")


def test_the_lifecycle_pins_what_a_registered_version_read(ml_mesh: meshlake.Mesh, version) -> None:
    from meshlake.service.lifecycle_pins import gather_pins

    root = ml_mesh.session("root")
    training = root.ml.job(version.job_id)
    processing = root.ml.job(training.spec["processing_job"])
    source = [t["snapshot_id"] for i in processing.inputs for t in i["tables"]]
    splits = [t["snapshot_id"] for i in training.inputs for t in i["tables"]]
    assert source and splits
    # pinned as the version's lineage (even once its jobs' working files expire)
    pins = gather_pins(ml_mesh.runtime)
    assert set(source + splits) <= pins.snapshot_ids
    assert {pins.reasons[s] for s in splits} == {"a registered model's lineage"}
    assert set(source) <= pins.chains  # and its ancestry back to the product version
