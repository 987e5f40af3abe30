"""``meshlake lifecycle run`` and ``status``."""

from __future__ import annotations

import json

import meshlake

from .runner import Cli

ADMIN = "consumer/admin"


def test_lifecycle_run_and_status(mesh_cli: Cli) -> None:
    mesh_cli("database", "create", "sales", as_=ADMIN)
    mesh_cli("table", "create", "sales.t", "-c", "id:bigint", "--rows-json", "[[1]]", as_=ADMIN)
    with meshlake.connect(mesh_cli.home) as mesh:  # two more snapshots
        for i in (2, 3):
            mesh.session(ADMIN).catalog.append("sales", "t", [[i]])
    expire = ("--keep-last", "1", "--snapshot-age", "0")
    dry = mesh_cli.json("lifecycle", "run", "--dry-run", *expire, as_=ADMIN)
    assert dry["dry_run"] and len(dry["tables"][0]["snapshots_expired"]) == 2
    assert mesh_cli.json("lifecycle", "status", as_=ADMIN)["last_run"] is None
    done = mesh_cli("lifecycle", "run", *expire, "--json", as_=ADMIN)  # --json after, too
    report = json.loads(done.stdout)
    assert report["tables"][0]["table"] == "consumer.sales.t"
    assert report["summary"]["snapshots_expired"] == 2
    status = mesh_cli.json("lifecycle", "status", as_=ADMIN)
    assert status["last_run"]["run_id"] == report["run_id"]
    assert status["last_mesh_run"] is None
    mesh_run = mesh_cli.json("lifecycle", "run")  # the root's (the worker's) run
    status = mesh_cli.json("lifecycle", "status", as_=ADMIN)
    assert status["last_mesh_run"]["run_id"] == mesh_run["run_id"]
    assert status["last_run"]["run_id"] == report["run_id"]
    assert status["due"]["summary"]["snapshots_expired"] == 0
    assert "worker) last ran" in mesh_cli("lifecycle", "status", as_=ADMIN).stderr
    human = mesh_cli("lifecycle", "run", "--dry-run", as_=ADMIN).stdout
    assert "consumer.sales.t" in human and "would free" in human
    assert "/" not in human.replace("consumer/", "")  # no storage path in the report
    refused = mesh_cli("lifecycle", "run", as_="consumer/analyst", code=1)
    assert "access_denied" in refused.stderr


def test_the_worker_runs_the_lifecycle_periodically(mesh_cli: Cli) -> None:
    summary = mesh_cli.json(
        "worker", "--no-triggers", "--sweep-every", "0", "--lifecycle", "0.2",
        "--duration", "1", "--poll", "0.05",
    )  # fmt: skip
    assert summary["lifecycle_runs"] >= 1
    quiet = mesh_cli.json("worker", "--no-triggers", "--duration", "0.3", "--poll", "0.05")
    assert quiet["lifecycle_runs"] == 0  # the first run comes one interval (an hour) in
    actions = [e["action"] for e in mesh_cli.json("audit", "list", "--limit", "0")]
    assert actions.count("lifecycle.run") == summary["lifecycle_runs"]
