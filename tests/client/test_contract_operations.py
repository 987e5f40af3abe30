"""One contract, two faces, for the newer methods: crawls, recipes, workgroups, row writes,
started queries, events and triggers give the same values (or the same error classes and
messages) through the embedded session and through the HTTP SDK."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import meshlake
from meshlake.testing import PostgresDatabases
from server.world import agreed_errors, build_world, run_through

from .test_contract import VOLATILE, norm

#: Also different between two runs: ids, clocks, timings, snapshots, event positions.
MORE_VOLATILE = {
    "id",
    "started_at",
    "finished_at",
    "submitted_at",
    "timings",
    "snapshot_id",
    "source_snapshot",
    "target_snapshot",
    "position",
    "event",
    "bytes",
    "bytes_scanned",
    "result_location",
    "files",
    "result_path",
}


def strip(value: Any, hidden: Path) -> Any:
    """``norm`` without the values that differ between two runs; the registered location
    ``hidden`` reads ``<managed>`` (the server never names it)."""
    value = norm(value)
    if isinstance(value, dict):
        return {k: strip(v, hidden) for k, v in value.items() if k not in MORE_VOLATILE | VOLATILE}
    if isinstance(value, list):
        return [strip(v, hidden) for v in value]
    if isinstance(value, tuple) and value and value[0] == "error":
        message = value[2].replace(hidden.as_uri(), "<managed>").replace(str(hidden), "<managed>")
        return (*value[:2], message)
    return value


def inbox_types(session: Any, n: int) -> list[tuple[str, str, bool]]:
    deadline = time.monotonic() + 10
    while True:
        items = session.events.inbox()
        if len(items) >= n or time.monotonic() > deadline:
            return [(i.event.type, i.event.subject, i.read) for i in items]
        time.sleep(0.05)


def scenario(as_: Callable[[str], Any], landing: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    admin = lambda: as_("p/admin")  # noqa: E731
    u = lambda: as_("p/u")  # noqa: E731
    yield "crawl", lambda: admin().crawl(str(landing), database="sales", table="landed")
    yield (
        "crawl again",
        lambda: admin().storage.crawl(str(landing), database="sales", table="landed"),
    )
    yield "crawl denied", lambda: as_("p/nobody").crawl(str(landing), database="sales")
    yield "crawl no database", lambda: admin().crawl(str(landing), database="nope")
    yield "crawl runs", lambda: admin().storage.crawl_runs()
    yield "crawl runs of others", lambda: u().storage.crawl_runs()
    recipe = {"name": "slim", "steps": [{"drop": ["ssn", "customer_name"]}]}
    yield (
        "recipe",
        lambda: admin().storage.run_recipe(recipe, source="sales.orders", target="sales.slim"),
    )
    yield (
        "recipe bad step",
        lambda: admin().storage.run_recipe(
            {"steps": [{"drop": ["nope"]}]}, source="sales.orders", target="sales.x"
        ),
    )
    yield (
        "recipe hidden source",
        lambda: as_("p/nobody").storage.run_recipe(recipe, source="sales.orders", target="sales.y"),
    )
    yield "recipe runs", lambda: admin().storage.recipe_runs("sales.slim")
    yield "workgroups", lambda: u().queries.workgroups()
    yield (
        "create workgroup",
        lambda: admin().queries.create_workgroup(
            "etl", retention=timedelta(days=1), max_runtime_s=60
        ),
    )
    yield "workgroup denied", lambda: u().queries.create_workgroup("x")
    yield "workgroup conflict", lambda: admin().queries.create_workgroup("etl")
    yield "workgroup limits", lambda: admin().queries.update_workgroup("etl", memory_limit="1GB")
    yield (
        "workgroup limit removed",
        lambda: admin().queries.update_workgroup("etl", memory_limit=None),
    )
    yield (
        "workgroup bad limit",
        lambda: admin().queries.update_workgroup("etl", memory_limit="lots"),
    )
    yield "workgroup missing", lambda: u().queries.workgroup("nope")
    yield "workgroup", lambda: u().queries.workgroup("etl")
    yield (
        "append rows",
        lambda: isinstance(admin().catalog.append("sales", "slim", [[7, "eu", 7.0]]), int),
    )
    data = pa.table({"id": pa.array([8], pa.int64()), "region": ["us"], "amount": pa.array([8.0])})
    yield (
        "append arrow",
        lambda: isinstance(admin().catalog.append("sales", "slim", data=data), int),
    )
    yield "append bad rows", lambda: admin().catalog.append("sales", "slim", [["x"]])
    yield "append denied", lambda: u().catalog.append("sales", "orders", [[9, "us", 1.0, "x", "y"]])
    yield "append hidden", lambda: as_("p/nobody").catalog.append("sales", "orders", [[1]])
    yield (
        "overwrite",
        lambda: isinstance(admin().catalog.overwrite("sales", "landed", [[5, "z"]]), int),
    )
    yield "read back", lambda: admin().query("SELECT * FROM sales.slim ORDER BY id")
    yield (
        "started query",
        lambda: u().queries.wait(u().queries.start("SELECT id FROM sales.orders").query_id),
    )
    yield (
        "started hidden query",
        lambda: as_("p/nobody").queries.wait(
            as_("p/nobody").queries.start("SELECT id FROM sales.orders").query_id
        ),
    )
    yield "subscribe", lambda: u().events.subscribe(database="sales")
    yield "subscribe twice named", lambda: u().events.subscribe(database="sales", product="x")
    yield "subscribe hidden", lambda: as_("p/nobody").events.subscribe(database="sales")
    yield "subscriptions", lambda: u().events.subscriptions()
    yield (
        "write for the inbox",
        lambda: admin().catalog.append("sales", "orders", [[4, "us", 4.0, "d", "4"]]) is not None,
    )
    yield "inbox", lambda: inbox_types(u(), 1)
    yield "mark read", lambda: u().events.mark_read([i.id for i in u().events.inbox()])
    yield "unread", lambda: u().events.inbox(unread_only=True)
    yield (
        "webhook",
        lambda: bool(u().events.subscribe(type="table.*", url="http://127.0.0.1:9/h").secret),
    )
    yield "bad webhook", lambda: u().events.subscribe(type="table.*", url="ftp://x")
    yield (
        "webhook to metadata",
        lambda: u().events.subscribe(type="table.*", url="http://169.254.169.254/latest"),
    )
    yield "dead letters", lambda: u().events.dead_letters()
    yield "replay", lambda: u().events.replay()
    yield "unsubscribe another's", lambda: admin().events.unsubscribe(1)
    yield "unsubscribe", lambda: u().events.unsubscribe(1)
    yield (
        "trigger",
        lambda: admin().events.triggers.create(
            "recrawl",
            on="table.updated",
            do="recrawl",
            params={"database": "sales", "location": "x"},
        ),
    )
    yield (
        "trigger denied",
        lambda: u().events.triggers.create(
            "t", on="x", do="recrawl", params={"database": "sales", "location": "x"}
        ),
    )
    yield "trigger bad action", lambda: admin().events.triggers.create("t", on="x", do="explode")
    yield "triggers", lambda: u().events.triggers.list()
    yield "trigger runs", lambda: admin().events.triggers.runs()
    yield "delete trigger denied", lambda: u().events.triggers.delete("recrawl")
    yield "delete trigger", lambda: admin().events.triggers.delete("recrawl")
    yield "delete trigger missing", lambda: admin().events.triggers.delete("recrawl")


def run(mesh: meshlake.Mesh, face: str, landing: Path) -> list[tuple[str, Any]]:
    """Run the scenario through one face; returns (label, comparable outcome) pairs."""
    build_world(mesh)
    mesh.session("p/admin").catalog.register_location(str(landing))
    return run_through(mesh, face, lambda as_: scenario(as_, landing), lambda v: strip(v, landing))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_embedded_and_http_sessions_agree_on_the_newer_methods(
    backend: str, tmp_path: Path, pg_databases: PostgresDatabases
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "t.csv").write_text("a,b\n1,x\n2,y\n")
    results = {}
    for face in ("embedded", "http"):
        url = pg_databases.create() if backend == "postgresql" else None
        mesh = meshlake.connect(
            tmp_path / face, catalog_url=url, allowed_roots=[], webhook_allowed_hosts=["127.0.0.1"]
        )
        try:
            results[face] = run(mesh, face, landing)
        finally:
            mesh.close()
    assert agreed_errors(results) == {
        "crawl denied": "AccessDeniedError",
        "crawl no database": "NotFoundError",
        "recipe bad step": "InvalidInputError",
        "recipe hidden source": "NotFoundError",
        "workgroup denied": "AccessDeniedError",
        "workgroup conflict": "ConflictError",
        "workgroup bad limit": "InvalidInputError",
        "workgroup missing": "NotFoundError",
        "append bad rows": "InvalidInputError",
        "append denied": "AccessDeniedError",
        "append hidden": "NotFoundError",
        "subscribe twice named": "InvalidInputError",
        "subscribe hidden": "NotFoundError",
        "bad webhook": "InvalidInputError",
        "webhook to metadata": "InvalidInputError",
        "unsubscribe another's": "NotFoundError",
        "trigger denied": "AccessDeniedError",
        "trigger bad action": "InvalidInputError",
        "delete trigger denied": "AccessDeniedError",
        "delete trigger missing": "NotFoundError",
    }
    outcomes = dict(results["http"])
    assert outcomes["crawl"]["tables_created"] == ["landed"]
    assert outcomes["started hidden query"]["state"] == "FAILED"
    assert outcomes["inbox"] == [["table.updated", "table:p.sales.orders", False]]
