"""Repair of intents left by a process that died between its Iceberg and store commits."""

from __future__ import annotations

import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import meshlake
from meshlake.service.intents import INTENT_PROPERTY, open_intent
from meshlake.storage.iceberg import local_path

DEAD = f"{socket.gethostname()}:4194303:0"  # this host, a process that is not running


def _world(mesh: meshlake.Mesh) -> meshlake.Session:
    root = mesh.session("root")
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table("sales", "t", {"v": "bigint"}, [[1]])
    admin.grant("p/admin", meshlake.Table("sales", "t"), ["SELECT"])
    return admin


def _intent(mesh: meshlake.Mesh, kind: str, iceberg_id: str, detail: dict[str, object]) -> str:
    with mesh.runtime.store.transaction(bump=False) as session:
        intent = open_intent(session, kind, iceberg_id, "p/admin", detail)
        session.flush()
        session.execute(
            meshlake.catalog.models.IntentRow.__table__.update().values(owner=DEAD)  # type: ignore[attr-defined]
        )
    return intent


def test_a_committed_append_without_its_audit_event_is_audited_by_repair(
    mesh: meshlake.Mesh,
) -> None:
    admin = _world(mesh)
    iceberg_id = (
        mesh.runtime.engine.state()
        .tables[mesh.runtime.engine.state().table_by_name[(1, "t")]]
        .iceberg_id
    )
    intent = _intent(
        mesh, "append", iceberg_id, {"label": "table:p.sales.t", "accounts": ["p"], "rows": 2}
    )
    # the Iceberg commit happened, the process died before the store transaction
    mesh.runtime.tables.append(
        iceberg_id, pa.table({"v": pa.array([2, 3], pa.int64())}), {INTENT_PROPERTY: intent}
    )
    outcomes = mesh.repair()
    assert [o.outcome for o in outcomes] == ["completed"]
    events = [e for e in admin.audit() if e.action == "append" and e.data.get("intent") == intent]
    assert len(events) == 1 and events[0].data["rows"] == 2
    assert admin.query("SELECT count(*) FROM sales.t").rows()[0][0] == 3
    assert mesh.repair() == []  # done once


def test_a_failed_append_is_rolled_back_and_its_orphan_files_removed(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    st = mesh.runtime.engine.state()
    info = st.tables[st.table_by_name[(1, "t")]]
    intent = _intent(mesh, "append", info.iceberg_id, {"label": "table:p.sales.t", "rows": 1})
    table = mesh.runtime.tables.load(info.iceberg_id)
    orphan = Path(local_path(table.location())) / "data" / "orphan-00000.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"v": [9]}), orphan)
    outcomes = mesh.repair()
    assert [o.outcome for o in outcomes] == ["rolled_back"]
    assert not orphan.exists()
    assert admin.query("SELECT count(*) FROM sales.t").rows()[0][0] == 1
    assert any(e.data.get("intent") == intent for e in admin.audit())


def test_a_half_created_table_does_not_block_its_name(mesh: meshlake.Mesh) -> None:
    admin = _world(mesh)
    db_id = mesh.runtime.engine.state().db_by_name[("p", "sales")]
    location = f"{mesh.settings.warehouse}/p/sales/half-00000000"
    _intent(
        mesh,
        "create_table",
        f"db{db_id}.half",
        {"label": "table:p.sales.half", "accounts": ["p"], "location": location},
    )
    mesh.runtime.tables.create(
        f"db{db_id}", "half", pa.schema([pa.field("a", pa.int64())]), location
    )
    # while the intent is pending (its process alive elsewhere), the name is taken
    assert [o.outcome for o in mesh.repair()] == ["rolled_back"]
    assert not Path(local_path(location)).exists()
    admin.catalog.create_table("sales", "half", {"a": "bigint"}, [[1]])
    assert admin.query("SELECT a FROM sales.half").rows() == [(1,)]
