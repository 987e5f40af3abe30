"""The outbox: events commit with their change or not at all; CloudEvents form; order."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlalchemy import func, select
from tests.events.conftest import setup_accounts

import meshlake
from meshlake import Database, Table
from meshlake.catalog.event_models import EventRow
from meshlake.catalog.models import GrantRow
from meshlake.errors import InvalidInputError
from meshlake.events import from_json, to_json

CONTRACT = """
apiVersion: v3.1.0
kind: DataContract
id: orders-contract
name: orders
version: 1.0.0
domain: Sales
schema:
  - name: orders
    properties:
      - name: order_id
        logicalType: integer
      - name: amount
        logicalType: number
{quality}
"""
BLOCKING = """    quality:
      - {metric: rowCount, mustBeGreaterOrEqualTo: 1000, severity: error, name: enough rows}
"""


def _events(mesh: meshlake.Mesh) -> list[EventRow]:
    with mesh.runtime.store.read() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)))


def _count(mesh: meshlake.Mesh, model: type) -> int:
    with mesh.runtime.store.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_changes_emit_ordered_cloudevents(mesh: meshlake.Mesh) -> None:
    s = setup_accounts(mesh)
    owner = s["owner"]
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.catalog.create_table(
        "sales", "orders", {"order_id": "long", "amount": "double"}, [[1, 2.0]]
    )
    owner.grant("consumer/analyst", Table("sales", "orders"), ["SELECT"])
    owner.revoke("consumer/analyst", Table("sales", "orders"), ["SELECT"])
    owner.tags.create("tier", ["gold"])
    owner.tags.assign(Table("sales", "orders"), {"tier": "gold"})
    owner.catalog.append("sales", "orders", [[2, 3.0]])
    owner.catalog.drop_table("sales", "orders")
    rows = _events(mesh)
    types = [r.type for r in rows]
    assert types == [
        "database.created",
        "grant.created",
        "table.created",
        "grant.created",
        "grant.revoked",
        "tag.created",
        "tag.assigned",
        "table.updated",
        "table.dropped",
    ]
    grants = [r for r in rows if r.source == "/grants/central"]
    assert [r.seq for r in grants] == [1, 2, 3]  # numbered per source
    assert len({r.event_id for r in rows}) == len(rows)
    doc = from_json(to_json(meshlake.events.EventRecord.of(rows[3])))
    assert doc["specversion"] == "1.0" and doc["type"] == "grant.created"
    assert doc["id"] == rows[3].event_id and doc["sequence"] == "2"
    assert doc["data"]["grantee"] == "consumer/analyst"
    assert doc["data"]["permissions"] == ["SELECT"]


def test_a_change_never_commits_without_its_event(
    mesh: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = setup_accounts(mesh)
    before_events, before_grants = _count(mesh, EventRow), _count(mesh, GrantRow)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr("meshlake.service.unit.append_event", broken)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        s["owner"].grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    assert _count(mesh, GrantRow) == before_grants
    assert _count(mesh, EventRow) == before_events


def test_an_event_never_commits_without_its_change(mesh: meshlake.Mesh) -> None:
    s = setup_accounts(mesh)
    grants = s["owner"].grants
    before = _count(mesh, EventRow)
    with pytest.raises(RuntimeError, match="last step"), grants.unit():
        grants.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
        raise RuntimeError("last step fails")
    assert _count(mesh, EventRow) == before
    assert s["analyst"].decide("DESCRIBE", Database("sales", account="central")).allowed is False


def test_product_events_and_refused_publish(sqlite_mesh: meshlake.Mesh) -> None:
    mesh = sqlite_mesh
    owner = setup_accounts(mesh)["owner"]
    owner.catalog.create_table(
        "sales", "orders", {"order_id": "long", "amount": "double"}, [[1, 2.0], [2, 3.0]]
    )
    owner.products.publish(CONTRACT.format(quality=""), database="sales")
    schema = pa.schema([("order_id", pa.int64()), ("amount", pa.float64()), ("note", pa.string())])
    owner.catalog.evolve_schema("sales", "orders", schema)
    owner.products.publish(CONTRACT.format(quality=""), database="sales")
    with pytest.raises(InvalidInputError, match="blocking quality"):
        owner.products.publish(CONTRACT.format(quality=BLOCKING), database="sales")
    consumer = mesh.session("consumer/admin")
    consumer.events.subscribe(product="orders")
    request = consumer.access.request(
        "orders", ["SELECT"], reason="risk model", for_principal="consumer/analyst"
    )
    owner.access.approve(request.id)
    access = [r for r in _events(mesh) if r.source == "/products/orders/access"]
    assert [(r.type, r.seq) for r in access] == [("access.requested", 1), ("access.decided", 2)]
    assert access[1].data["state"] == "APPROVED"
    inbox = [i.event.type for i in consumer.events.inbox()]
    assert inbox[:2] == ["access.requested", "access.decided"]
    rows = [r for r in _events(mesh) if r.source == "/products/orders"]
    assert [(r.type, r.seq) for r in rows] == [
        ("product.published", 1),
        ("product.updated", 2),
        ("schema.changed", 3),
        ("quality.failed", 4),
    ]
    assert rows[2].data["changelog"]["changes"][0]["name"] == "note"
    assert rows[3].data["failures"] == ["enough rows"]
    assert all(r.product == "orders" and r.database == "central/sales" for r in rows)
