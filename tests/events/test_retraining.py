"""The closing loop end to end: a shifted product update is detected as drift against the
model's training data, the drift fires the retraining pipeline, the new version waits for
approval and its subscriber is told; an unshifted update only notifies."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select
from tests.events.conftest import setup_accounts

import meshlake
from meshlake import Database, Table
from meshlake.catalog.event_models import EventRow
from meshlake.errors import NotFoundError
from meshlake.ml.pipelines import default_pipeline
from meshlake.resources import ModelGroup

LOANS = """
apiVersion: v3.1.0
kind: DataContract
id: loans-contract
name: loans
version: 1.0.0
domain: Lending
schema:
  - name: loans
    properties:
      - {name: duration, logicalType: number}
      - {name: amount, logicalType: number}
      - {name: purpose, logicalType: string}
      - {name: label, logicalType: integer}
"""
SCIENTIST, APPROVER = "central/scientist", "central/approver"
GROUP = "loan-risk"


def loans(rows: int, seed: int, *, shifted: bool = False) -> pa.Table:
    """Applications whose label depends on duration and amount; ``shifted`` moves duration,
    amount and purpose (the label's rule stays)."""
    rng = np.random.default_rng(seed)
    duration = rng.normal(20 + (12 if shifted else 0), 6, rows)
    amount = rng.lognormal(8 + (0.6 if shifted else 0), 0.4, rows)
    purpose = rng.choice(["car", "tv", "business"], rows, p=[0.7, 0.2, 0.1] if shifted else None)
    score = 0.15 * (duration - 20) + 0.8 * (np.log(amount) - 8) + rng.normal(0, 0.6, rows)
    return pa.table(
        {
            "duration": pa.array(duration),
            "amount": pa.array(amount),
            "purpose": pa.array(purpose),
            "label": pa.array((score < 0.3).astype(np.int64)),
        }
    )


def pipeline() -> dict[str, object]:
    return default_pipeline(
        "SELECT duration, amount, purpose, label FROM sales.loans",
        target="label",
        output_database="ml",
        group=GROUP,
        name="loan-risk",
        estimator="logistic_regression",
        min_auc=0.6,
    ).to_dict()


def _loop_mesh(mesh: meshlake.Mesh) -> dict[str, meshlake.Session]:
    """central publishes ``loans``; its scientist trains v1 (approved); the approver follows
    the model group and the consumer's analyst the product; central's admin creates the
    drift-check and retrain triggers, run as the scientist."""
    s = setup_accounts(mesh)
    root, owner = s["root"], s["owner"]
    root.principals.create(SCIENTIST, kind="role")
    root.principals.create(APPROVER)
    owner.catalog.create_table("sales", "loans", data=loans(600, 1))
    owner.products.publish(LOANS, database="sales")
    owner.grant(SCIENTIST, Database("sales"), ["DESCRIBE"])
    owner.grant(SCIENTIST, Table("sales", "loans"), ["SELECT", "DESCRIBE"])
    owner.catalog.create_database("ml")
    owner.grant(SCIENTIST, Database("ml"), ["CREATE_TABLE", "DESCRIBE"])
    request = s["consumer"].access.request(
        "loans", ["SELECT"], "risk dashboards", for_principal="consumer/analyst"
    )
    owner.access.approve(request.id)
    scientist = mesh.session(SCIENTIST)
    first = scientist.ml.pipelines.run(pipeline())
    assert first.registered is not None and first.registered["version"] == 1
    owner.grant(APPROVER, ModelGroup(GROUP), ["APPROVE", "DESCRIBE"])
    approver = mesh.session(APPROVER)
    approver.ml.approve(scientist.ml.model_version(GROUP, 1), reason="baseline")
    approver.events.subscribe(model_group=GROUP, types=["model.registered"])
    s["analyst"].events.subscribe(product="loans")
    triggers = owner.events.triggers
    triggers.create(
        "drift-check",
        on="product.updated",
        where="product = 'loans'",
        do="drift_check",
        run_as=SCIENTIST,
        params={
            "columns": ["duration", "amount", "purpose"],
            "reference": "model",
            "model_group": GROUP,
            "window": "appended",
            "p_threshold": 0.001,
        },
    )
    triggers.create(
        "retrain",
        on="drift.detected",
        where="data.product = 'loans' and data.max_psi > 0.2",
        do="pipeline",
        run_as=SCIENTIST,
        params={"pipeline": pipeline()},
    )
    return {**s, "scientist": scientist, "approver": approver}


def _types_after(mesh: meshlake.Mesh, position: int) -> list[str]:
    with mesh.runtime.store.read() as session:
        return list(
            session.scalars(
                select(EventRow.type).where(EventRow.id > position).order_by(EventRow.id)
            )
        )


def _head(mesh: meshlake.Mesh) -> int:
    with mesh.runtime.store.read() as session:
        return int(session.scalar(select(EventRow.id).order_by(EventRow.id.desc()).limit(1)) or 0)


def _update(s: dict[str, meshlake.Session], *, shifted: bool, seed: int) -> int:
    owner = s["owner"]
    owner.catalog.append("sales", "loans", data=loans(150, seed, shifted=shifted))
    return owner.products.publish(LOANS, database="sales").version


def test_shifted_update_retrains_and_unshifted_only_notifies(
    sqlite_mesh: meshlake.Mesh,
) -> None:
    mesh = sqlite_mesh
    s = _loop_mesh(mesh)
    scientist, approver, analyst = s["scientist"], s["approver"], s["analyst"]
    triggers = s["owner"].events.triggers
    assert triggers.run() == 0  # nothing before the update fires them
    assert len(scientist.ml.describe_model_group(GROUP).versions) == 1

    # a shifted month: product.updated -> drift.detected -> pipeline -> v2 -> model.registered
    start = _head(mesh)
    audited = scientist.audit(category="read")[-1].seq
    version = _update(s, shifted=True, seed=2)
    assert triggers.run() == 2  # the drift check, then the retraining it fired
    reads = scientist.audit(category="read", after_seq=audited)
    assert reads and all(e.principal == SCIENTIST for e in reads)  # governed reads, audited
    runs = {r["trigger"]: r for r in triggers.runs()}
    assert runs["drift-check"]["state"] == "succeeded", runs["drift-check"]["error"]
    assert runs["retrain"]["state"] == "succeeded", runs["retrain"]["error"]
    drift = runs["drift-check"]["result"]
    checked = {e.data["snapshot_id"] for e in reads if e.data.get("service") == "processing"}
    assert {drift["reference_snapshot"], drift["current_snapshot"]} <= checked
    assert drift["drifted"] is True and drift["version"] == version
    assert drift["current_rows"] == 150 and drift["reference_rows"] == 600
    assert {"duration", "amount", "purpose"} <= set(drift["drifted_columns"])
    assert drift["max_psi"] > 0.2
    chain = [
        t
        for t in _types_after(mesh, start)
        if t in ("product.updated", "drift.checked", "drift.detected", "model.registered")
    ]
    assert chain == ["product.updated", "drift.checked", "drift.detected", "model.registered"]
    versions = scientist.ml.describe_model_group(GROUP).versions
    assert [(v.version, v.status) for v in versions] == [
        (1, "Approved"),
        (2, "PendingManualApproval"),
    ]
    assert runs["retrain"]["result"]["registered"]["version"] == 2
    inbox = approver.events.inbox()
    assert [(i.event.type, i.event.data["version"]) for i in inbox] == [("model.registered", 2)]
    assert inbox[0].event.principal == SCIENTIST  # the trigger ran as the model's owner
    seen = [i.event.type for i in analyst.events.inbox()]
    assert seen[:3] == ["product.updated", "drift.checked", "drift.detected"]

    # the report: JSON and plots, fetched by the model owner through the API only
    report = scientist.events.triggers.drift_report(drift["report_id"])
    assert report.drifted and report.reference_snapshot == drift["reference_snapshot"]
    assert report.top[0]["drifted"] and report.top[0]["psi"] == drift["max_psi"]
    assert "psi.png" in report.plots and "duration.png" in report.plots
    png = b"\x89PNG\r\n\x1a\n"
    for name in ("psi.png", "duration.png", "purpose.png"):
        assert scientist.events.triggers.drift_plot(report.id, name).startswith(png)
    dist = report.report["distributions"]["duration"]  # what the plot draws, kept as data
    assert len(dist["edges"]) == len(dist["reference"]) + 1
    assert sum(dist["current"]) > 0 and dist["kind"] == "numeric"
    with pytest.raises(NotFoundError):
        analyst.events.triggers.drift_report(report.id)
    with pytest.raises(NotFoundError):
        scientist.events.triggers.drift_plot(report.id, "../../catalog.db")
    with mesh.runtime.store.read() as session:
        payloads = [
            str(d)
            for d in session.scalars(select(EventRow.data).where(EventRow.type.like("drift.%")))
        ]
    assert payloads and not any(str(mesh.runtime.settings.home) in p for p in payloads)
    assert not any(".png" in p for p in payloads)

    # an unshifted month: product.updated (and its drift check) only; no new version
    start = _head(mesh)
    _update(s, shifted=False, seed=3)
    assert triggers.run() == 1  # only the drift check
    steady = triggers.runs("drift-check")[-1]
    assert steady["state"] == "succeeded" and steady["result"]["drifted"] is False
    assert steady["result"]["current_rows"] == 150
    assert steady["result"]["max_psi"] < 0.2
    after = _types_after(mesh, start)
    assert "product.updated" in after and "drift.checked" in after
    assert "drift.detected" not in after and "model.registered" not in after
    assert len(triggers.runs("retrain")) == 1
    assert len(scientist.ml.describe_model_group(GROUP).versions) == 2
    assert approver.events.inbox(unread_only=True)[-1].event.data["version"] == 2
    assert analyst.events.inbox()[-2].event.type == "product.updated"
