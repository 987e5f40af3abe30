"""One contract, two faces: the embedded session and the HTTP session give the same answers.

A vector-like scenario runs against two fresh copies of the same world, once through
``mesh.session(p)`` and once through ``meshlake.connect(url, token=...).session()``; every
step's value (or error class and message) must be identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import meshlake
from meshlake.testing import PostgresDatabases
from server.world import agreed_errors, build_world, run_through

#: Values that differ between any two runs (ids, clocks, hashes) or that the server
#: never sends (storage locations).
VOLATILE = {
    "query_id",
    "created_at",
    "decided_at",
    "expires_at",
    "time",
    "hash",
    "prev_hash",
    "location",
    "seq",
}


def norm(value: Any) -> Any:
    """A comparable form of a step's value."""
    if isinstance(value, meshlake.MeshError):
        return ("error", type(value).__name__, value.message)
    if hasattr(value, "rows") and hasattr(value, "columns"):  # a QueryResult
        return ("result", list(value.columns), [list(r) for r in value.rows()])
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif hasattr(value, "__dataclass_fields__"):
        value = {k: getattr(value, k) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {k: norm(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    return value


def scenario(as_: Callable[[str], Any]) -> Iterator[tuple[str, Callable[[], Any]]]:
    """The steps: (label, call)."""
    T, DB = meshlake.Table, meshlake.Database
    orders = T("sales", "orders")
    yield (
        "create table",
        lambda: as_("p/admin").catalog.create_table(
            "sales", "t2", {"a": "bigint", "b": "varchar"}, [[1, "x"], [2, "y"]]
        ),
    )
    yield "conflict", lambda: as_("p/admin").catalog.create_database("sales")
    yield "filtered columns", lambda: as_("p/u").catalog.get_table("sales", "orders")
    yield "filtered rows", lambda: as_("p/u").query("SELECT * FROM sales.orders ORDER BY id")
    yield (
        "default database",
        lambda: as_("p/u").query("SELECT sum(amount) AS s FROM orders", "sales"),
    )
    yield "hidden column", lambda: as_("p/u").query("SELECT ssn FROM sales.orders")
    yield "invisible table", lambda: as_("p/nobody").query("SELECT id FROM sales.orders")
    yield "not a select", lambda: as_("p/u").query("DELETE FROM sales.orders")
    yield "list tables", lambda: as_("p/u").catalog.list_tables("sales")
    yield "list tables hidden", lambda: as_("p/nobody").catalog.list_tables("sales")
    yield "databases", lambda: as_("p/u").catalog.list_databases()
    yield (
        "tag column",
        lambda: as_("p/admin").tags.assign(
            meshlake.Column("sales", "orders", "ssn"), {"domain": "hr"}
        ),
    )
    yield "tags of", lambda: as_("p/admin").tags.tags_of(meshlake.Column("sales", "orders", "ssn"))
    yield "tag keys", lambda: as_("p/admin").tags.list()
    yield (
        "cross-account grant",
        lambda: as_("p/admin").grant("c", orders, ["SELECT", "DESCRIBE"], ["SELECT", "DESCRIBE"]),
    )
    yield (
        "link",
        lambda: as_("c/admin").catalog.create_resource_link(
            "rl_sales", account="p", database="sales"
        ),
    )
    yield "link describe", lambda: as_("c/admin").grant("c/u", DB("rl_sales"), ["DESCRIBE"])
    yield (
        "re-grant",
        lambda: as_("c/admin").grant("c/u", T("sales", "orders", account="p"), ["SELECT"]),
    )
    yield "grant without option", lambda: as_("p/u").grant("p/nobody", orders, ["SELECT"])
    yield (
        "consumer reads",
        lambda: as_("c/u").query("SELECT id, customer_name FROM rl_sales.orders ORDER BY id"),
    )
    yield "decide", lambda: as_("c/u").decide("SELECT", T("rl_sales", "orders"))
    yield "check", lambda: as_("p/nobody").check("SELECT", orders)
    yield "decide for another", lambda: as_("p/nobody").decide("SELECT", orders, "p/u")
    yield "explain", lambda: as_("p/admin").explain("SELECT", orders, "p/u")
    yield "permissions", lambda: as_("p/admin").list_permissions(resource=orders)
    yield "filters", lambda: as_("p/admin").filters.list("sales", "orders")
    yield "revoke", lambda: as_("p/admin").revoke("c", orders, ["SELECT"])
    yield "after revoke", lambda: as_("c/u").query("SELECT id FROM rl_sales.orders")
    yield "drop table", lambda: as_("p/admin").catalog.drop_table("sales", "t2")
    yield "accounts", lambda: as_("c/u").accounts.list()
    yield "principals", lambda: as_("c/u").principals.list("p")
    yield "root only", lambda: as_("p/admin").accounts.create("x")
    yield "db of", lambda: as_("c/admin").catalog.get_database("rl_sales")
    yield "checkpoint", lambda: type(as_("p/admin").checkpoint_audit()).__name__
    yield "checkpoint denied", lambda: as_("p/u").checkpoint_audit()
    yield (
        "verify after checkpoint",
        lambda: (lambda r: (r.ok, r.checkpoints, r.problem))(as_("p/admin").verify_audit()),
    )
    yield (
        "own audit",
        lambda: [(e.principal, e.action, e.resource, e.category) for e in as_("p/u").audit()],
    )


def run(mesh: meshlake.Mesh, face: str) -> list[tuple[str, Any]]:
    """Run the scenario through one face; returns (label, normalized outcome) pairs."""
    build_world(mesh)
    return run_through(mesh, face, scenario, norm)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_embedded_and_http_sessions_agree(
    backend: str, tmp_path: Path, pg_databases: PostgresDatabases
) -> None:
    results = {}
    for face in ("embedded", "http"):
        url = pg_databases.create() if backend == "postgresql" else None
        mesh = meshlake.connect(tmp_path / face, catalog_url=url, allowed_roots=[])
        try:
            results[face] = run(mesh, face)
        finally:
            mesh.close()
    assert agreed_errors(results) == {
        "conflict": "ConflictError",
        "hidden column": "NotFoundError",
        "invisible table": "NotFoundError",
        "not a select": "InvalidQueryError",
        "list tables hidden": "NotFoundError",
        "grant without option": "AccessDeniedError",
        "decide for another": "AccessDeniedError",
        "after revoke": "AccessDeniedError",
        "root only": "AccessDeniedError",
        "checkpoint denied": "AccessDeniedError",
    }
    steps = dict(results["http"])
    assert steps["checkpoint"] == "Checkpoint"
    ok, checkpoints, _ = steps["verify after checkpoint"]
    assert ok is True and checkpoints >= 1
