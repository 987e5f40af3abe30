"""Model registry pages over the credit world with one registered model: groups, versions,
the ROC plot from the recorded points, approval through the console, and the product page's
models built on it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import meshlake
from meshlake.demo.ml import APPROVER, GROUP, ML_DATABASE, PRODUCT_SQL, SCIENTIST, grant_ml_roles
from meshlake.resources import ModelGroup

from .conftest import Browser, csrf_of

VERSION = f"/console/models/consumer/{GROUP}/1"


pytestmark = pytest.mark.xdist_group("console-models")  # one fixture per module


@pytest.fixture(scope="module")
def registered(credit: meshlake.Mesh) -> Iterator[meshlake.Mesh]:
    """The credit world with ``consumer.credit-risk`` version 1 (logistic regression),
    pending approval; the approver holds APPROVE on the group."""
    grant_ml_roles(credit)
    scientist = credit.session(SCIENTIST)
    job = scientist.ml.process(
        PRODUCT_SQL, target="credit_risk", output_database=ML_DATABASE, seed=7
    )
    trained = scientist.ml.train(job, estimator="logistic_regression")
    scientist.ml.register(trained, GROUP)
    credit.session("consumer/ConsumerAdmin").grant(
        APPROVER, ModelGroup(GROUP), ["APPROVE", "DESCRIBE"]
    )
    yield credit


def test_groups_versions_and_roc(registered: meshlake.Mesh, credit_browser: Browser) -> None:
    scientist = credit_browser(SCIENTIST)
    groups = scientist.get("/console/models?format=json").json()["groups"]
    assert [(g["account"], g["name"]) for g in groups] == [("consumer", GROUP)]
    group = scientist.get(f"/console/models/consumer/{GROUP}?format=json").json()["group"]
    (v1,) = group["versions"]
    assert v1["status"] == "PendingManualApproval" and v1["metrics"]["test"]["roc_auc"] > 0.6
    page = scientist.get(VERSION)
    assert page.status_code == 200
    svg = re.search(r"<svg.*?</svg>", page.text, re.S)
    assert svg and svg.group(0).count("<polyline") == 2  # validation and test
    assert "test AUC" in svg.group(0) and "false positive rate" in svg.group(0)
    twin = scientist.get(VERSION + "?format=json").json()
    points = twin["roc_points"]
    assert set(points) == {"validation", "test"}
    assert points["test"][0] == [0.0, 0.0] and points["test"][-1] == [1.0, 1.0]
    product = scientist.get("/console/products/credit_card?format=json").json()["product"]
    assert [(m["model_group"], m["version"]) for m in product["models"]] == [
        (f"consumer.{GROUP}", 1)
    ]


def test_approval_needs_approve(registered: meshlake.Mesh, credit_browser: Browser) -> None:
    analyst = credit_browser("consumer/analyst1")
    assert analyst.get("/console/models?format=json").json()["groups"] == []
    assert analyst.get(VERSION).status_code == 404
    approver = credit_browser(APPROVER)
    page = approver.get(VERSION)
    assert 'id="approve"' in page.text
    r = analyst.post(VERSION + "/approve", data={"csrf": csrf_of(analyst.get("/console").text)})
    assert r.status_code == 404
    r = approver.post(VERSION + "/approve", data={"csrf": csrf_of(page.text), "reason": "ok"})
    assert r.status_code == 200 and 'id="status">Approved' in r.text
    assert registered.session(SCIENTIST).ml.model_version(GROUP, 1).status == "Approved"
