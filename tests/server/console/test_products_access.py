"""Product pages and access requests over the demo's credit world."""

from __future__ import annotations

import re

import pytest

import meshlake

from .conftest import Browser, csrf_of

PRODUCT = "/console/products/credit_card"


pytestmark = pytest.mark.xdist_group("console-products_access")  # one fixture per module


def test_search_and_product_page(credit_browser: Browser) -> None:
    admin = credit_browser("consumer/ConsumerAdmin")
    found = admin.get("/console/products?q=credit+risk&format=json").json()["products"]
    assert [p["name"] for p in found] == ["credit_card"] and found[0]["score"] > 0
    assert admin.get("/console/products?q=zebra&format=json").json()["products"] == []
    page = admin.get(PRODUCT)
    assert page.status_code == 200
    charts = re.findall(r"<svg[^>]*>", page.text)
    assert len(charts) == 4  # completeness, then the rate by each of three sensitive columns
    assert "Completeness per column" in page.text and "credit_risk = 1 rate by age" in page.text
    assert "personal_status_sex" in page.text and "<rect" in page.text
    assert 'id="consumers"' in page.text and "consumer/analyst1" in page.text
    twin = admin.get(PRODUCT + "?format=json").json()
    product = twin["product"]
    assert product["owner_account"] == "producer" and product["latest_version"] == 1
    assert product["contract"]["classification"] == "confidential"
    (version,) = product["versions"]
    assert version["quality"]["row_count"] == 1000 and version["bias"]["columns"]
    assert [c["for_principal"] for c in twin["consumers"]] == ["consumer/analyst1"]
    assert product["models"] == [] and twin["subscribed"] is False
    assert "location" not in str(twin)


def test_consumers_are_what_the_viewer_may_see(credit_browser: Browser) -> None:
    steward = credit_browser("producer/ProducerSteward")
    assert len(steward.get(PRODUCT + "?format=json").json()["consumers"]) == 1
    central = credit_browser("central/DataMeshOwner")  # neither requester nor owner
    assert central.get(PRODUCT + "?format=json").json()["consumers"] == []


def test_request_approve_deny_and_revoke(credit: meshlake.Mesh, credit_browser: Browser) -> None:
    admin = credit_browser("consumer/ConsumerAdmin")
    steward = credit_browser("producer/ProducerSteward")
    form = admin.get("/console/access/new?product=credit_card")
    assert 'value="age"' in form.text and "consumer/analyst1" in form.text
    csrf = csrf_of(form.text)
    sent = admin.post(
        "/console/access",
        data={"csrf": csrf, "product": "credit_card", "permissions": "SELECT",
              "reason": "pricing study", "columns": ["amount", "duration"]},
    )  # fmt: skip
    assert sent.status_code == 200 and 'id="state">PENDING' in sent.text
    request_id = int(sent.url.path.rsplit("/", 1)[1])
    assert 'id="approve"' not in sent.text  # the requester does not decide
    pending = steward.get("/console/access?format=json").json()["pending"]
    assert [r["id"] for r in pending] == [request_id]
    assert pending[0]["columns"] == ["amount", "duration"]
    page = steward.get(f"/console/access/{request_id}")
    assert 'id="approve"' in page.text and 'id="deny"' in page.text
    s_csrf = csrf_of(page.text)
    denied = steward.post(
        f"/console/access/{request_id}/deny", data={"csrf": s_csrf, "reason": "use v2"}
    )
    assert 'id="state">DENIED' in denied.text
    again = steward.post(f"/console/access/{request_id}/approve", data={"csrf": s_csrf})
    assert again.status_code == 409 and "conflict" in again.text
    # revoke the demo's approved request: the analyst's access ends at once
    (approved,) = steward.get("/console/access?state=APPROVED&format=json").json()["requests"]
    assert approved["for_principal"] == "consumer/analyst1"
    analyst = credit.session("consumer/analyst1")
    sql = 'SELECT count(*) FROM "rl_credit-card".credit_card'
    assert analyst.query(sql).rows() == [(1000,)]
    r = steward.post(f"/console/access/{approved['id']}/revoke?format=json", data={"csrf": s_csrf})
    assert r.json()["state"] == "REVOKED"
    try:
        analyst.query(sql)
        raise AssertionError("the analyst still reads the product")
    except meshlake.MeshError as exc:
        assert exc.status in (403, 404)
    mine = admin.get("/console/access?format=json").json()["requests"]
    assert {r["state"] for r in mine} == {"DENIED", "REVOKED"}
    assert (
        credit_browser("consumer/analyst1").get(f"/console/access/{request_id}").status_code == 404
    )  # neither made by nor for the analyst
