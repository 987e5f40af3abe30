"""One contract, two faces, for what the demo's closing loop needs: products published from a
contract file (versions and search hits as the embedded values), triggers run as a role with
a condition's text, waiting for them to settle, and the drift reports and plots they keep."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import meshlake
from meshlake import Database, Table
from server.world import agreed_errors, build_world, run_through

from .test_contract import VOLATILE, norm

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: loans-contract
name: loans
version: 1.0.0
domain: Lending
description: {purpose: Loan applications for risk models}
schema:
  - name: loans
    properties:
      - {name: duration, logicalType: number}
      - {name: amount, logicalType: number}
      - {name: purpose, logicalType: string}
"""
CHECKER = "p/checker"
COLUMNS = ["duration", "amount", "purpose"]
#: Different between two runs: snapshots, clocks and the run and event ids.
MINTED = {
    "id",
    "snapshot_id",
    "reference_snapshot",
    "current_snapshot",
    "published_at",
    "computed_at",
    "last_modified",
    "age_seconds",
    "event_position",
}


def loans(rows: int, seed: int, *, shifted: bool = False) -> pa.Table:
    """Seeded applications; ``shifted`` moves duration, amount and purpose."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "duration": pa.array(rng.normal(20 + (12 if shifted else 0), 6, rows)),
            "amount": pa.array(rng.lognormal(8 + (0.6 if shifted else 0), 0.4, rows)),
            "purpose": pa.array(
                rng.choice(["car", "tv", "business"], rows, p=[0.7, 0.2, 0.1] if shifted else None)
            ),
        }
    )


def strip(value: Any) -> Any:
    """``norm`` without what differs between two runs."""
    value = norm(value)
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in MINTED | VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def scenario(as_: Callable[[str], Any], folder: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    admin = lambda: as_("p/admin")  # noqa: E731
    checker = lambda: as_(CHECKER)  # noqa: E731
    contract = folder / "loans.odcs.yaml"
    yield "publish a contract file", lambda: admin().products.publish(contract, database="sales")
    yield (
        "publish a missing file",
        lambda: admin().products.publish(str(folder / "nope.yaml"), database="sales"),
    )
    yield "publish a bad contract", lambda: admin().products.publish("a: 1\nb: 2\n", database="s")
    yield "versions", lambda: admin().products.versions("loans")
    yield "search", lambda: admin().products.search("loan risk")
    yield (
        "trigger as a role",
        lambda: admin().events.triggers.create(
            "drift",
            on="product.updated",
            where="product = 'loans' and data.version >= 2",
            do="drift_check",
            run_as=CHECKER,
            params={"columns": COLUMNS, "window": "appended", "p_threshold": 0.001},
        ),
    )
    yield (
        "trigger run as another account's principal",
        lambda: admin().events.triggers.create(
            "x", on="product.updated", do="drift_check", run_as="c/u"
        ),
    )
    yield (
        "trigger with a bad condition",
        lambda: admin().events.triggers.create(
            "y", on="product.updated", do="drift_check", where="product = "
        ),
    )
    yield "triggers", lambda: admin().events.triggers.list()

    def shifted_month() -> Any:
        admin().catalog.append("sales", "loans", data=loans(150, 2, shifted=True))
        return admin().products.publish(contract, database="sales").version

    yield "a shifted month", shifted_month
    yield "settled", lambda: admin().events.triggers.settle(timeout_s=120)
    yield "trigger runs", lambda: admin().events.triggers.runs("drift")
    yield "drift reports", lambda: checker().events.triggers.drift_reports()
    yield "drift report", lambda: checker().events.triggers.drift_report(1)
    yield "another's drift report", lambda: as_("p/u").events.triggers.drift_report(1)
    yield (
        "drift plot",
        lambda: checker().events.triggers.drift_plot(1, "psi.png").startswith(b"\x89PNG"),
    )
    yield "no such plot", lambda: checker().events.triggers.drift_plot(1, "nope.png")


def run(mesh: meshlake.Mesh, face: str, folder: Path) -> list[tuple[str, Any]]:
    """Run the scenario through one face; returns (label, comparable outcome) pairs."""
    build_world(mesh)
    admin = mesh.session("p/admin")
    admin.catalog.create_table("sales", "loans", data=loans(600, 1))
    mesh.session("root").principals.create(CHECKER, kind="role")
    admin.grant(CHECKER, Database("sales"), ["DESCRIBE"])
    admin.grant(CHECKER, Table("sales", "loans"), ["SELECT", "DESCRIBE"])
    return run_through(mesh, face, lambda as_: scenario(as_, folder), strip)


def test_embedded_and_http_agree_on_products_triggers_and_drift(tmp_path: Path) -> None:
    (tmp_path / "loans.odcs.yaml").write_text(CONTRACT)
    results = {}
    for face in ("embedded", "http"):
        mesh = meshlake.connect(tmp_path / face, allowed_roots=[])
        try:
            results[face] = run(mesh, face, tmp_path)
        finally:
            mesh.close()
    outcomes = dict(results["http"])
    assert agreed_errors(results) == {
        "publish a missing file": "InvalidInputError",
        "publish a bad contract": "InvalidInputError",
        "trigger run as another account's principal": "InvalidInputError",
        "trigger with a bad condition": "InvalidInputError",
        "another's drift report": "NotFoundError",
        "no such plot": "NotFoundError",
    }
    assert outcomes["publish a contract file"]["quality"]["row_count"] == 600
    assert [v["version"] for v in outcomes["versions"]] == [1]
    assert [h["product_id"] for h in outcomes["search"]] == ["loans"]
    assert outcomes["trigger as a role"]["owner"] == CHECKER
    assert outcomes["a shifted month"] == 2 and outcomes["settled"] is True
    (run_,) = outcomes["trigger runs"]
    assert run_["state"] == "succeeded" and run_["result"]["drifted"] is True
    report = outcomes["drift report"]
    assert report["principal"] == CHECKER and report["drifted"] is True
    assert {c["column"] for c in report["report"]["columns"] if c["drifted"]} == set(COLUMNS)
    assert outcomes["drift reports"] == [report] and outcomes["drift plot"] is True
