"""A small world for the server and client tests, and remote sessions into it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.testclient import TestClient

import meshlake
from meshlake.client import RemoteSession
from meshlake.client import connect as connect_remote

#: Values of p's sales.orders that principals without SELECT must never receive.
SECRET_VALUES = ("alice", "carol", "111-secret", "333-secret", "ssn")
ROWS = [
    [1, "us", 10.0, "alice", "111-secret"],
    [2, "eu", 20.0, "bob", "222-secret"],
    [3, "us", 30.0, "carol", "333-secret"],
]


def build_world(mesh: meshlake.Mesh) -> None:
    """Accounts p and c with admins; p/u may read id, region and amount of US orders;
    p/nobody and c/u hold nothing."""
    root = mesh.bootstrap()
    for account in ("p", "c"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    for p in ("p/u", "p/nobody", "c/u"):
        root.principals.create(p)
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table(
        "sales",
        "orders",
        {
            "id": "bigint",
            "region": "varchar",
            "amount": "double",
            "customer_name": "varchar",
            "ssn": "varchar",
        },
        ROWS,
    )
    admin.tags.create("domain", ["sales", "hr"])
    admin.tags.assign(meshlake.Database("sales"), {"domain": "sales"})
    admin.filters.create(
        "sales", "orders", "us_only", row_filter="region = 'us'", columns=["id", "region", "amount"]
    )
    admin.grant("p/u", meshlake.DataFilter("sales", "orders", "us_only"), ["SELECT"])


def token_for(mesh: meshlake.Mesh, principal: str, ttl: Any = "1h") -> str:
    """A fresh token of ``principal``, made by the mesh root."""
    return mesh.session("root").tokens.create(principal, ttl).token


def remote_session(mesh: meshlake.Mesh, app: Any, principal: str) -> RemoteSession:
    """The HTTP session of ``principal`` against the in-process app."""
    remote = connect_remote(
        "http://testserver", token=token_for(mesh, principal), client=TestClient(app)
    )
    return remote.session()


Scenario = Callable[[Callable[[str], Any]], Iterable[tuple[str, Callable[[], Any]]]]


def run_through(
    mesh: meshlake.Mesh, face: str, scenario: Scenario, normalize: Callable[[Any], Any]
) -> list[tuple[str, Any]]:
    """Run a contract scenario through one face (``embedded`` sessions, or HTTP sessions
    against the in-process app); returns (label, normalized outcome) pairs, a MeshError
    raised by a call being its outcome."""
    from meshlake.server import create_app

    app = create_app(mesh)
    sessions: dict[str, Any] = {}

    def as_(principal: str) -> Any:
        if principal not in sessions:
            sessions[principal] = (
                mesh.session(principal)
                if face == "embedded"
                else remote_session(mesh, app, principal)
            )
        return sessions[principal]

    out = []
    for label, call in scenario(as_):
        try:
            value = call()
        except meshlake.MeshError as exc:
            value = exc
        out.append((label, normalize(value)))
    return out


def agreed_errors(results: dict[str, list[tuple[str, Any]]]) -> dict[str, str]:
    """Check that both faces' runs of a scenario gave the same outcome at every step; return
    the error class of each step that failed (by label), as normalised by the contract
    tests (``("error", class name, message)``)."""
    for (label, embedded), (_, remote) in zip(results["embedded"], results["http"], strict=True):
        assert remote == embedded, label
    return {label: v[1] for label, v in results["http"] if isinstance(v, tuple) and v[0] == "error"}
