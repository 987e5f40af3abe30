"""Pipelines: caching by input fingerprint, condition steps, recorded executions, lineage."""

from __future__ import annotations

import json

import pytest

import meshlake
from meshlake.demo.ml import GROUP, ML_DATABASE, SCIENTIST, credit_pipeline
from meshlake.ml.pipelines import Pipeline


def test_unchanged_pipeline_reuses_every_step_and_a_new_snapshot_reruns(
    ml_mesh: meshlake.Mesh,
) -> None:
    sci = ml_mesh.session(SCIENTIST)
    pipeline = credit_pipeline(min_auc=0.7)  # a new snapshot reshuffles the split
    first = sci.ml.pipelines.run(pipeline)
    assert [s.state for s in first.steps] == ["SUCCEEDED"] * 5
    assert not any(s.cached for s in first.steps)
    assert first.registered is not None and first.registered["version"] == 1
    second = sci.ml.pipelines.run(pipeline)
    assert all(s.cached for s in second.steps), [(s.name, s.cached) for s in second.steps]
    assert second.step("train").job_id == first.step("train").job_id
    assert second.registered == first.registered  # no second version
    # the producer publishes a new snapshot: everything from processing on runs again
    steward = ml_mesh.session("producer/ProducerSteward")
    rows = steward.query('SELECT * FROM "rl_credit-card".credit_card LIMIT 5').to_arrow()
    steward.catalog.append("rl_credit-card", "credit_card", data=rows)
    third = sci.ml.pipelines.run(pipeline)
    assert [s.cached for s in third.steps] == [False] * 5
    assert third.registered is not None, third.step("auc-check").outcome
    assert third.registered["version"] == 2
    assert third.step("process").outcome != first.step("process").outcome
    listed = sci.ml.pipelines.list("credit-risk")
    assert [e.id for e in listed[:3]] == [third.id, second.id, first.id]
    assert all(s.seconds >= 0 for s in listed[0].steps)
    assert sci.ml.pipelines.get(first.id).to_dict()["steps"][0]["name"] == "process"


def test_condition_skips_registration_and_yaml_round_trips(ml_mesh: meshlake.Mesh) -> None:
    sci = ml_mesh.session(SCIENTIST)
    strict = Pipeline.load(credit_pipeline(min_auc=0.99).to_yaml())
    execution = sci.ml.pipelines.run(strict)
    assert execution.step("auc-check").outcome["passed"] is False
    assert execution.step("register").state == "SKIPPED"
    assert execution.registered is None
    with pytest.raises(meshlake.InvalidInputError, match="cycle"):
        Pipeline.from_dict(
            {
                "name": "loop",
                "steps": [
                    {"name": "a", "type": "evaluate", "input": "b"},
                    {"name": "b", "type": "train", "input": "c"},
                    {
                        "name": "c",
                        "type": "process",
                        "sql": "SELECT 1",
                        "target": "y",
                        "output_database": "d",
                        "after": ["a"],
                    },
                ],
            }
        )


def test_lineage_chain_and_openlineage_export(ml_mesh: meshlake.Mesh) -> None:
    sci = ml_mesh.session(SCIENTIST)
    registered = sci.ml.pipelines.run(credit_pipeline(min_auc=0.5)).registered
    assert registered is not None
    version = sci.ml.model_version(GROUP, registered["version"])
    lineage = sci.ml.lineage(version)
    assert lineage.kinds()[:7] == [
        "model_version",
        "training_run",
        "training_table",
        "training_table",
        "training_table",
        "processing_job",
        "query",
    ]
    product = lineage.of_kind("product_version")[0]
    assert product.visible and product.detail["product"] == "credit_card"
    # the producer's recipe run, crawl run and source files are not the consumer's to see
    for kind in ("recipe_run", "crawl_run", "source_file"):
        nodes = lineage.of_kind(kind)
        assert nodes and all(not n.visible for n in nodes)
        assert all(n.to_dict()["label"] == "not visible" for n in nodes)
    # the producer's admin, given DESCRIBE on the group, sees its own part of the chain
    sci.grant("producer", meshlake.resources.ModelGroup(GROUP), ["DESCRIBE"], ["DESCRIBE"])
    steward = ml_mesh.session("producer/ProducerSteward")
    theirs = steward.ml.lineage(version)
    assert all(n.visible for n in theirs.of_kind("recipe_run") + theirs.of_kind("source_file"))
    assert theirs.of_kind("source_file")[0].label.endswith("credit_export.txt")
    assert not any(n.visible for n in theirs.of_kind("training_table"))
    path = sci.ml.export_openlineage(version)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert {e["eventType"] for e in events} == {"COMPLETE"}
    jobs = {e["job"]["name"].split(".", 1)[0]: e for e in events}
    assert set(jobs) == {"training_run", "processing_job"}
    assert jobs["processing_job"]["inputs"][0]["name"].startswith("central.credit-card")
    assert len(jobs["processing_job"]["outputs"]) == 3
    models = sci.ml.product_models("credit_card")
    assert ("consumer.credit-risk", version.version) in {
        (m["model_group"], m["version"]) for m in models
    }
    described = sci.products.describe("credit_card")  # the product's description lists them
    assert described["models"] == models and described["versions"]


def test_script_mode_runs_sagemaker_scripts_without_mesh_access(
    ml_mesh: meshlake.Mesh, tmp_path
) -> None:
    from meshlake.demo import ml as demo_ml

    scripts = demo_ml.__file__.rsplit("/", 1)[0]
    sci = ml_mesh.session(SCIENTIST)
    job = sci.ml.process(
        demo_ml.PRODUCT_SQL,
        target="credit_risk",
        output_database=ML_DATABASE,
        script=f"{scripts}/preprocessor.py",
        arguments=["--seed", "7"],
        output_prefix="sm",
    )
    assert set(job.tables) == {"train", "validation", "test"}
    n = job.tables["train"]["rows"]
    assert 0.69 < n / sum(t["rows"] for t in job.tables.values()) < 0.71
    assert f"train: {n} rows" in job.log
    assert "featurizer.joblib" in {p.split("/")[-1] for p in _files(job.outputs["artifacts"])}
    train = sci.ml.train(
        job, script=f"{scripts}/train_xgboost.py", hyperparameters={"num_round": 200}
    )
    assert train.metrics["script"]["validation_auc"] > 0.6
    assert train.metrics["test"]["roc_auc"] > 0.6  # meshlake evaluates the saved booster
    spy = tmp_path / "spy.py"
    spy.write_text(
        "import os, pandas as pd\n"
        "base = os.environ['SM_PROCESSING_DIR']\n"
        "df = pd.read_parquet(base + '/input/dataset.parquet')\n"
        "leak = [k for k in os.environ if k.startswith('MESHLAKE')]\n"
        "os.makedirs(base + '/train', exist_ok=True)\n"
        "pd.DataFrame({'n': [len(df)], 'leaks': [len(leak)], 'cwd': [os.getcwd()]})"
        ".to_parquet(base + '/train/x.parquet')\n"
    )
    import os

    os.environ["MESHLAKE_SECRET_FOR_TEST"] = "x"
    try:
        spied = sci.ml.process(
            demo_ml.PRODUCT_SQL + " LIMIT 10",
            target="credit_risk",
            output_database=ML_DATABASE,
            script=spy,
            output_prefix="spy",
        )
    finally:
        del os.environ["MESHLAKE_SECRET_FOR_TEST"]
    row = sci.query(f"SELECT n, leaks, cwd FROM {ML_DATABASE}.spy_train").rows()[0]
    assert row[0] == 10 and row[1] == 0 and row[2].endswith(spied.id)


def _files(folder: str) -> list[str]:
    from pathlib import Path

    return [str(p) for p in Path(folder).iterdir()]


def test_scripts_that_fail_fail_the_job(ml_mesh: meshlake.Mesh, tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit('no luck')\n")
    sci = ml_mesh.session(SCIENTIST)
    with pytest.raises(meshlake.InvalidInputError, match="no luck"):
        sci.ml.process(
            'SELECT * FROM "rl_credit-card".credit_card',
            target="credit_risk",
            output_database=ML_DATABASE,
            script=bad,
        )
    assert sci.ml.jobs("processing")[0].state == "FAILED"
