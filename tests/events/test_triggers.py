"""Triggers: a re-published product re-crawls the landing folder and checks drift, once per
event, as the trigger's owner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select
from tests.events.conftest import setup_accounts
from tests.events.test_outbox import CONTRACT

import meshlake
from meshlake.catalog.event_models import EventRow
from meshlake.errors import AccessDeniedError, InvalidInputError


def _orders(shift: float, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "order_id": pa.array(np.arange(300), pa.int64()),
            "amount": pa.array(rng.normal(10 + shift, 1.0, 300), pa.float64()),
        }
    )


def test_product_update_recrawls_and_checks_drift(
    sqlite_mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    mesh = sqlite_mesh
    s = setup_accounts(mesh)
    owner = s["owner"]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "part1.csv").write_text("id,name\n1,a\n2,b\n")
    owner.catalog.create_table("sales", "orders", data=_orders(0.0, 1))
    owner.products.publish(CONTRACT.format(quality=""), database="sales")
    triggers = owner.events.triggers
    triggers.create(
        "drift",
        on="product.updated",
        where={"product": "orders"},
        do="drift_check",
        params={"columns": ["amount"]},
    )
    triggers.create(
        "recrawl",
        on="product.*",
        where={"product": "orders", "type": "product.updated"},
        do="recrawl",
        params={"location": str(landing), "database": "sales", "table": "landing"},
    )
    with pytest.raises(AccessDeniedError):
        s["analyst"].events.triggers.create("x", on="*", do="pipeline", params={"pipeline": {}})
    with pytest.raises(InvalidInputError):
        triggers.create("y", on="*", do="recrawl")
    assert triggers.run() == 0  # product.published fires neither
    owner.catalog.overwrite("sales", "orders", data=_orders(3.0, 2))
    owner.products.publish(CONTRACT.format(quality=""), database="sales")
    assert triggers.run() == 2
    assert triggers.run() == 0  # once per event
    runs = {r["trigger"]: r for r in triggers.runs()}
    assert runs["drift"]["state"] == "succeeded", runs["drift"]["error"]
    assert runs["drift"]["result"]["drifted"] is True
    (amount,) = runs["drift"]["result"]["top"]
    assert amount["column"] == "amount" and amount["psi"] > 1 and amount["p_value"] < 1e-6
    assert runs["recrawl"]["state"] == "succeeded", runs["recrawl"]["error"]
    assert owner.catalog.get_table("sales", "landing").column_names == ["id", "name"]
    with mesh.runtime.store.read() as session:
        types = list(session.scalars(select(EventRow.type).order_by(EventRow.id)))
    assert "drift.checked" in types and "crawl.finished" in types
