"""Altering tables through both faces: describing, adding and widening columns, renaming
one, table properties and the current snapshot give the same values and errors embedded and
over HTTP (the schema travels as an Arrow IPC stream)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

import meshlake
from client.test_contract import norm
from server.world import agreed_errors, build_world, run_through

#: Snapshot ids and times differ between the two meshes.
SNAPSHOT_FIELDS = {"snapshot_id", "parent_id", "timestamp"}


def _norm(value: Any) -> Any:
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in SNAPSHOT_FIELDS}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(norm(value))


def scenario(as_: Callable[[str], Any]) -> Iterator[tuple[str, Callable[[], Any]]]:
    """The steps: (label, call)."""

    def cat(principal: str) -> Any:
        return as_(principal).catalog

    added = pa.schema([("note", pa.string()), ("amount", pa.float64())])
    yield "describe", lambda: cat("p/admin").describe_table("sales", "orders")
    yield "describe filtered", lambda: cat("p/u").describe_table("sales", "orders")
    yield "describe hidden", lambda: cat("p/nobody").describe_table("sales", "orders")
    yield "add columns", lambda: cat("p/admin").evolve_schema("sales", "orders", added)
    yield "add without ALTER", lambda: cat("p/u").evolve_schema("sales", "orders", added)
    yield (
        "add case clash",
        lambda: cat("p/admin").evolve_schema("sales", "orders", pa.schema([("NOTE", pa.string())])),
    )
    yield "not a schema", lambda: cat("p/admin").evolve_schema("sales", "orders", "note")
    yield "add to missing", lambda: cat("p/admin").evolve_schema("sales", "nope", added)
    yield "rename", lambda: cat("p/admin").rename_column("sales", "orders", "note", "remark")
    yield "rename clash", lambda: cat("p/admin").rename_column("sales", "orders", "remark", "ID")
    yield "rename missing", lambda: cat("p/admin").rename_column("sales", "orders", "x", "y")
    yield "rename bad name", lambda: cat("p/admin").rename_column("sales", "orders", "remark", "")
    yield (
        "set properties",
        lambda: cat("p/admin").set_properties("sales", "orders", {"owner": "sales", "x": "1"}),
    )
    yield "properties", lambda: cat("p/u").properties("sales", "orders")
    yield "unset", lambda: cat("p/admin").set_properties("sales", "orders", {"x": None})
    yield "properties after", lambda: cat("p/admin").properties("sales", "orders")
    yield "properties denied", lambda: cat("p/u").set_properties("sales", "orders", {"a": "b"})
    yield "properties bad", lambda: cat("p/admin").set_properties("sales", "orders", ["a"])
    yield "properties hidden", lambda: cat("p/nobody").properties("sales", "orders")
    yield (
        "snapshot",
        lambda: isinstance(cat("p/u").current_snapshot("sales", "orders"), int),
    )
    yield "snapshot hidden", lambda: cat("p/nobody").current_snapshot("sales", "orders")
    yield (
        "read the new columns",
        lambda: as_("p/admin").query("SELECT id, remark, amount FROM sales.orders ORDER BY id"),
    )
    yield "history after", lambda: cat("p/admin").describe_table("sales", "orders")


def test_altering_tables_agrees_embedded_and_over_http(tmp_path: Path) -> None:
    results = {}
    for face in ("embedded", "http"):
        mesh = meshlake.connect(tmp_path / face, allowed_roots=[])
        try:
            build_world(mesh)
            results[face] = run_through(mesh, face, scenario, _norm)
        finally:
            mesh.close()
    assert agreed_errors(results) == {
        "describe hidden": "NotFoundError",
        "add without ALTER": "AccessDeniedError",
        "add case clash": "InvalidInputError",
        "not a schema": "InvalidInputError",
        "add to missing": "NotFoundError",
        "rename clash": "ConflictError",
        "rename missing": "NotFoundError",
        "rename bad name": "InvalidInputError",
        "properties denied": "AccessDeniedError",
        "properties bad": "InvalidInputError",
        "properties hidden": "NotFoundError",
        "snapshot hidden": "NotFoundError",
    }
    outcome = dict(results["http"])
    assert outcome["snapshot"] is True
    assert outcome["properties after"] == {"owner": "sales"}
    history = outcome["history after"]["schema_history"]
    assert len(history) >= 3  # created, columns added, one renamed
    assert "ssn" not in str(outcome["describe filtered"])  # p/u's filter hides it
