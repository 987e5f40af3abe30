"""Processing and training jobs through governed SQL, as the job's principal."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshlake
from meshlake import Database, DataFilter
from meshlake.demo.ml import ML_DATABASE, PRODUCT_SQL, SCIENTIST
from meshlake.ml.records import MLJob

ADMIN = "consumer/ConsumerAdmin"


def _reads(session: meshlake.Session, job_id: str) -> list[dict]:
    return [e.data for e in session.audit(category="read") if e.data.get("job_id") == job_id]


def test_processing_writes_three_governed_tables_owned_by_the_principal(
    ml_mesh: meshlake.Mesh,
) -> None:
    sci = ml_mesh.session(SCIENTIST)
    job = sci.ml.process(
        PRODUCT_SQL,
        target="credit_risk",
        output_database=ML_DATABASE,
        seed=7,
        output_prefix="p7",
    )
    assert job.state == "SUCCEEDED" and set(job.tables) == {"train", "validation", "test"}
    assert {"p7_train", "p7_validation", "p7_test"} <= set(sci.catalog.list_tables(ML_DATABASE))
    counts = job.outputs["counts"]
    assert sum(c["rows"] for c in counts.values()) == 1000
    assert counts["train"] == {"rows": 700, "positives": 490}  # stratified: 70% of each class
    # derived data stays under the policy: the analyst (same account) cannot see it
    analyst = ml_mesh.session("consumer/analyst1")
    assert "p7_train" not in analyst.catalog.list_tables(ML_DATABASE)
    with pytest.raises(meshlake.NotFoundError):
        analyst.query(f"SELECT * FROM {ML_DATABASE}.p7_train")
    # ... and is shareable by grant like any table
    sci.grant("consumer/analyst1", meshlake.Table(ML_DATABASE, "p7_test"), ["SELECT"])
    assert analyst.query(f"SELECT count(*) FROM {ML_DATABASE}.p7_test").rows() == [(150,)]
    reads = _reads(sci, job.id)
    assert [r["service"] for r in reads] == ["processing"]
    assert reads[0]["table"] == "credit-card.credit_card" and reads[0]["rows"] == 1000
    assert job.inputs[0]["tables"][0]["snapshot_id"] == reads[0]["snapshot_id"]
    featurizer = Path(job.outputs["artifacts"]) / "featurizer.json"
    assert '"purpose"' in featurizer.read_text()
    # the same seed gives the same split; training reads are audited as training
    sci.ml.process(
        PRODUCT_SQL,
        target="credit_risk",
        output_database=ML_DATABASE,
        seed=7,
        output_prefix="p7b",
    )
    a = sci.query(f"SELECT * FROM {ML_DATABASE}.p7_test").to_pandas()
    b = sci.query(f"SELECT * FROM {ML_DATABASE}.p7b_test").to_pandas()
    assert a.equals(b)
    train = sci.ml.train(job, estimator="logistic_regression", seed=1)
    assert sorted(r["service"] for r in _reads(sci, train.id)) == ["training"] * 3


def test_a_filtered_principal_trains_only_on_rows_it_may_see(ml_mesh: meshlake.Mesh) -> None:
    root, admin = ml_mesh.session("root"), ml_mesh.session(ADMIN)
    root.principals.create("consumer/junior")
    admin.filters.create("rl_credit-card", "credit_card", "over_30", row_filter="age >= 30")
    admin.grant("consumer/junior", Database("rl_credit-card"), ["DESCRIBE"])
    admin.grant(
        "consumer/junior", DataFilter("rl_credit-card", "credit_card", "over_30"), ["SELECT"]
    )
    admin.grant("consumer/junior", Database(ML_DATABASE), ["CREATE_TABLE"])
    junior = ml_mesh.session("consumer/junior")
    visible = junior.query(f"SELECT count(*) FROM ({PRODUCT_SQL})").rows()[0][0]
    assert 0 < visible < 1000
    job = junior.ml.process(
        PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=3, output_prefix="jr"
    )
    assert sum(c["rows"] for c in job.outputs["counts"].values()) == visible
    ages = junior.query(
        f"SELECT min(age) FROM (SELECT age FROM {ML_DATABASE}.jr_train UNION ALL "
        f"SELECT age FROM {ML_DATABASE}.jr_validation UNION ALL "
        f"SELECT age FROM {ML_DATABASE}.jr_test)"
    ).rows()[0][0]
    assert ages >= 30
    assert _reads(junior, job.id)[0]["filters"] == ["over_30"]
    train = junior.ml.train(job, estimator="xgboost", seed=3)
    assert train.metrics["train"]["rows"] == job.outputs["counts"]["train"]["rows"]


def test_losing_select_midway_fails_cleanly(ml_mesh: meshlake.Mesh) -> None:
    root, admin = ml_mesh.session("root"), ml_mesh.session(ADMIN)
    root.principals.create("consumer/temp")
    table = meshlake.Table("rl_credit-card", "credit_card")
    admin.grant("consumer/temp", Database("rl_credit-card"), ["DESCRIBE"])
    admin.grant("consumer/temp", table, ["SELECT"])
    admin.grant("consumer/temp", Database(ML_DATABASE), ["CREATE_TABLE"])
    temp = ml_mesh.session("consumer/temp")

    def revoke_after_the_read(stage: str, done: float) -> None:
        if stage == "query":
            admin.revoke("consumer/temp", table, ["SELECT"])

    with pytest.raises(meshlake.AccessDeniedError, match="nothing was written"):
        temp.ml.process(
            PRODUCT_SQL,
            target="credit_risk",
            output_database=ML_DATABASE,
            seed=1,
            output_prefix="lost",
            progress=revoke_after_the_read,
        )
    assert not [t for t in admin.catalog.list_tables(ML_DATABASE) if t.startswith("lost_")]
    failed = temp.ml.jobs("processing")[0]
    assert failed.state == "FAILED" and "lost access" in (failed.error or "")
    assert _reads(admin, failed.id)  # the read itself was audited with the job id


@pytest.fixture(scope="module")
def job(ml_mesh: meshlake.Mesh) -> MLJob:
    return ml_mesh.session(SCIENTIST).ml.process(
        PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=5, output_prefix="es"
    )


def test_xgboost_stops_early_on_validation_and_is_tracked(
    ml_mesh: meshlake.Mesh, job: MLJob
) -> None:
    sci = ml_mesh.session(SCIENTIST)
    train = sci.ml.train(
        job,
        estimator="xgboost",
        seed=5,
        hyperparameters={"num_round": 2000, "early_stopping_rounds": 20, "eta": 0.3},
        cost={"false_positive": 5, "false_negative": 1},
    )
    m = train.metrics
    assert m["rounds_trained"] < 2000
    assert m["rounds_trained"] == m["best_iteration"] + 1 + 20  # stopped 20 rounds after best
    for split in ("validation", "test"):
        assert 0.5 < m[split]["roc_auc"] <= 1 and m[split]["threshold"] == 5 / 6
        assert set(m[split]) >= {
            "pr_auc",
            "accuracy",
            "precision",
            "recall",
            "f1",
            "log_loss",
            "confusion_matrix",
            "cost",
            "roc_points",
        }
    run = sci.ml.tracker.run_info(train.run_id)
    assert run["status"] == "FINISHED"
    assert run["params"]["hp.num_round"] == "2000"
    assert abs(run["metrics"]["test_roc_auc"] - m["test"]["roc_auc"]) < 1e-9
    files = {f.path for f in sci.ml.tracker.client.list_artifacts(train.run_id, "plots")}
    assert files == {"plots/roc.png", "plots/feature_importance.png"}
    model_files = {f.path for f in sci.ml.tracker.client.list_artifacts(train.run_id, "model")}
    assert {"model/model.json", "model/featurizer.json"} <= model_files


def test_sklearn_estimator_with_cv_and_search(ml_mesh: meshlake.Mesh, job: MLJob) -> None:
    sci = ml_mesh.session(SCIENTIST)
    train = sci.ml.train(
        job,
        estimator="logistic_regression",
        seed=2,
        cv={"k": 3, "repeats": 2},
        search={"C": [0.01, 1.0]},
    )
    assert train.metrics["cv"]["folds"] == 6
    assert {c["hyperparameters"]["C"] for c in train.metrics["search"]} == {0.01, 1.0}
    assert train.spec["hyperparameters"]["C"] == 0.1  # the given/default value is recorded
    with pytest.raises(meshlake.InvalidInputError, match="unknown estimator"):
        sci.ml.train(job, estimator="deep_magic")
