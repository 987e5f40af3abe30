"""The products service end to end: publish, quality/bias, search, access request lifecycle."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import meshlake
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.products import load_contract
from meshlake.resources import Column, Table

DEMO = Path(meshlake.__file__).parent / "demo" / "contracts" / "credit_card.odcs.yaml"
STEWARD = "producer/ProducerSteward"
ANALYST = "consumer/analyst"


def synthetic(rows: int = 50, seed: int = 7, label: list[int | None] | None = None) -> pa.Table:
    """``rows`` rows with the demo contract's columns (strings and int64)."""
    rng = random.Random(seed)
    data: dict[str, list[object]] = {}
    for col in load_contract(DEMO).table.columns:
        if col.physical_type == "long":
            data[col.physical_name] = [rng.randint(1, 70) for _ in range(rows)]
        else:
            data[col.physical_name] = [rng.choice(["a", "b", "c"]) for _ in range(rows)]
    data["foreign_worker"] = [rng.choice(["yes", "no"]) for _ in range(rows)]
    data["age"] = [rng.randint(19, 75) for _ in range(rows)]
    data["amount"] = [None if i % 10 == 0 else rng.randint(250, 9000) for i in range(rows)]
    data["credit_risk"] = label or [rng.choice([0, 1]) for _ in range(rows)]
    return pa.table(
        {
            k: pa.array(v, pa.int64() if isinstance(v[1], int) else pa.string())
            for k, v in data.items()
        }
    )


@pytest.fixture
def world(sqlite_mesh: meshlake.Mesh) -> Iterator[meshlake.Mesh]:
    """Accounts central/producer/consumer with admins; producer's banking.credit_card."""
    root = sqlite_mesh.bootstrap()
    for account, admin in (
        ("central", "central/admin"),
        ("producer", STEWARD),
        ("consumer", "consumer/admin"),
    ):
        root.accounts.create(account)
        root.principals.create(admin)
        root.accounts.set_admins(account, [admin])
    root.principals.create(ANALYST)
    root.principals.create("producer/analyst")
    steward = sqlite_mesh.session(STEWARD)
    steward.catalog.create_database("banking")
    steward.catalog.create_table("banking", "credit_card", data=synthetic())
    yield sqlite_mesh


def test_publish_stores_quality_bias_tags_and_versions(world: meshlake.Mesh) -> None:
    steward = world.session(STEWARD)
    v = steward.products.publish(DEMO, database="banking")
    assert (v.product, v.version) == ("credit_card", 1)
    df = steward.query('SELECT * FROM "banking"."credit_card"').to_pandas()
    assert v.quality.row_count == len(df) == 50
    amount = v.quality.column("amount")
    assert amount.nulls == int(df["amount"].isna().sum()) == 5
    assert amount.distinct == df["amount"].nunique()
    assert amount.completeness == pytest.approx(df["amount"].notna().mean())
    assert v.bias is not None
    fw = v.bias.column("foreign_worker")
    expected = df.groupby("foreign_worker")["credit_risk"].mean()
    assert {g.group: g.rate for g in fw.groups} == pytest.approx(expected.to_dict())
    assert fw.ratio == pytest.approx(expected.min() / expected.max())
    snap = world.runtime.tables.load(_iceberg_id(world)).current_snapshot()
    assert v.snapshot_id == snap.snapshot_id
    assert len(v.changelog.changes) == len(df.columns) == 21 and {
        c.kind for c in v.changelog.changes
    } == {"added"}
    assert steward.tags.tags_of(Table("banking", "credit_card"))["domain"] == "consumer-banking"
    assert steward.tags.tags_of(Column("banking", "credit_card", "age"))["pii"] == "true"
    v2 = steward.products.publish(DEMO, database="banking")
    assert v2.version == 2 and v2.changelog.empty
    stored = steward.products.versions("credit_card")
    assert [s.version for s in stored] == [1, 2]
    assert stored[0].to_dict() == v.to_dict()
    assert steward.products.get("credit_card").latest_version == 2


def _iceberg_id(mesh: meshlake.Mesh) -> str:
    st = mesh.runtime.engine.state()
    return next(t.iceberg_id for t in st.tables.values() if t.name == "credit_card")


def test_blocking_rule_refuses_publish_and_stores_nothing(world: meshlake.Mesh) -> None:
    steward = world.session(STEWARD)
    bad = synthetic(label=[2] * 50)
    steward.catalog.create_table("banking", "bad_cards", data=bad)
    with pytest.raises(InvalidInputError, match="label is 0 or 1"):
        steward.products.publish(DEMO, database="banking", table="bad_cards")
    assert steward.products.list() == []
    assert steward.tags.list() == []
    with pytest.raises(NotFoundError):
        steward.products.get("credit_card")


def test_publish_needs_a_visible_table_and_admin_for_new_tags(world: meshlake.Mesh) -> None:
    with pytest.raises(NotFoundError):
        world.session(ANALYST).products.publish(DEMO, database="banking")
    steward = world.session(STEWARD)
    steward.grant("producer/analyst", Table("banking", "credit_card"), ["SELECT", "DESCRIBE"])
    with pytest.raises(InvalidInputError, match="tag key"):
        world.session("producer/analyst").products.publish(DEMO, database="banking")
    assert steward.products.list() == []


def test_search_and_discoverability(world: meshlake.Mesh) -> None:
    steward = world.session(STEWARD)
    steward.products.publish(DEMO, database="banking")
    hits = world.session(ANALYST).products.search("credit risk models")
    assert [h.product_id for h in hits] == ["credit_card"]
    hidden = DEMO.read_text().replace(
        "property: discoverable\n    value: true", "property: discoverable\n    value: false"
    )
    steward.products.publish(hidden, database="banking")
    assert world.session(ANALYST).products.search("credit") == []
    assert [p.name for p in world.session("producer/analyst").products.list()] == ["credit_card"]


def test_cross_account_request_approve_query_revoke(world: meshlake.Mesh) -> None:
    steward, analyst = world.session(STEWARD), world.session(ANALYST)
    steward.products.publish(DEMO, database="banking")
    req = analyst.access.request("credit_card", ["SELECT"], "train a model")
    assert req.state == "PENDING" and req.for_principal == ANALYST
    assert [r.id for r in steward.access.pending()] == [req.id]
    assert world.session("consumer/admin").access.pending() == []
    with pytest.raises(AccessDeniedError):
        analyst.access.approve(req.id)
    with pytest.raises(NotFoundError):
        analyst.query("SELECT count(*) AS n FROM rl_banking.credit_card")
    approved = steward.access.approve(req.id)
    assert approved.state == "APPROVED" and approved.decided_by == STEWARD
    n = analyst.query("SELECT count(*) AS n FROM rl_banking.credit_card").to_pandas()
    assert int(n["n"].iloc[0]) == 50
    with pytest.raises(ConflictError):
        steward.access.approve(req.id)
    assert steward.access.revoke(req.id).state == "REVOKED"
    with pytest.raises(NotFoundError):
        analyst.query("SELECT count(*) AS n FROM rl_banking.credit_card")
    actions = {e.action for e in world.session("root").audit(category="change")}
    assert {
        "publish_product",
        "request_access",
        "approve_access",
        "revoke_access",
        "create_link",
    } <= actions


def test_a_column_limited_request_grants_those_columns_only(world: meshlake.Mesh) -> None:
    steward, analyst = world.session(STEWARD), world.session(ANALYST)
    steward.products.publish(DEMO, database="banking")
    req = analyst.access.request("credit_card", ["SELECT"], "pricing", columns=["amount", "age"])
    assert steward.access.approve(req.id).state == "APPROVED"
    result = analyst.query("SELECT * FROM rl_banking.credit_card")
    assert sorted(result.columns) == ["age", "amount"] and result.num_rows == 50
    with pytest.raises(NotFoundError):
        analyst.query("SELECT personal_status_sex FROM rl_banking.credit_card")
    steward.access.revoke(req.id)
    with pytest.raises(NotFoundError):
        analyst.query("SELECT amount FROM rl_banking.credit_card")


def test_same_account_request_and_deny(world: meshlake.Mesh) -> None:
    steward, local = world.session(STEWARD), world.session("producer/analyst")
    steward.products.publish(DEMO, database="banking")
    denied = local.access.request("credit_card", "select", "curious")
    assert steward.access.deny(denied.id, "no need").state == "DENIED"
    req = local.access.request("credit_card", ["SELECT"], "reporting")
    steward.access.approve(req.id)
    df = local.query('SELECT * FROM "banking"."credit_card"').to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 50
    steward.access.revoke(req.id)
    with pytest.raises(NotFoundError):
        local.query('SELECT * FROM "banking"."credit_card"')
    with pytest.raises(InvalidInputError):
        local.access.request("credit_card", ["DROP"], "no")


def test_a_contract_with_an_unusable_tag_value_changes_nothing(
    world: meshlake.Mesh, tmp_path: Path
) -> None:
    steward = world.session(STEWARD)
    text = Path(DEMO).read_text().replace("domain: consumer-banking", "domain: cards=credit")
    contract = tmp_path / "bad.odcs.yaml"
    contract.write_text(text)
    with pytest.raises(InvalidInputError, match="must not contain"):
        steward.products.publish(str(contract), database="banking")
    assert steward.tags.list() == []  # no key created before the bad one was found
    assert steward.products.list() == []


def test_approval_that_cannot_complete_grants_nothing(world: meshlake.Mesh) -> None:
    steward, analyst = world.session(STEWARD), world.session(ANALYST)
    steward.products.publish(DEMO, database="banking")
    req = analyst.access.request("credit_card", ["SELECT"], "train a model")
    consumer_admin = world.session("consumer/admin")
    consumer_admin.catalog.create_database("rl_banking")  # squats the link's name
    consumer_admin.catalog.create_table("rl_banking", "t", {"x": "bigint"}, [[1]])
    with pytest.raises(ConflictError, match="not a link"):
        steward.access.approve(req.id)
    assert steward.access.get(req.id).state == "PENDING"
    assert consumer_admin.list_permissions() == []  # the consumer account received nothing
    assert not analyst.decide("DESCRIBE", meshlake.Database("rl_banking"))
    world.session("root").accounts.set_admins("consumer", [])
    with pytest.raises(InvalidInputError, match="no admin"):
        steward.access.approve(req.id)
    assert steward.list_permissions(principal="consumer") == []
