"""The model registry and job commands added to ``meshlake ml``: group-create, alias, job,
evaluate and pipeline show (their happy paths with trained models are in test_scenario)."""

from __future__ import annotations

from .runner import Cli

OWNER = "central/owner"


def test_model_groups_and_lookups(mesh_cli: Cli) -> None:
    cli = mesh_cli
    group = cli.json("ml", "group-create", "churn", "--description", "who leaves", as_=OWNER)
    assert (group["name"], group["account"]) == ("churn", "central")
    assert "created model group central.risk" in cli("ml", "group-create", "risk", as_=OWNER).stdout
    listed = cli.json("ml", "models", as_=OWNER)
    assert sorted(g["name"] for g in listed) == ["churn", "risk"]
    assert cli.json("ml", "models", "churn", as_=OWNER)["versions"] == []

    # bad input and unknown names: typed errors, nothing changes
    dup = cli("ml", "group-create", "churn", as_=OWNER, json_mode=True, code=1)
    assert '"type": "conflict"' in dup.stderr
    bad = cli("ml", "group-create", "no spaces", as_=OWNER, code=1)
    assert bad.stderr.startswith("error (invalid_input)")
    for args in (
        ["ml", "job", "no-such-job"],
        ["ml", "alias", "churn", "1", "champion"],
        ["ml", "set-status", "churn", "1", "Approved"],
        ["ml", "pipeline", "show", "no-such-execution"],
        ["ml", "evaluate", "no-such-job"],
    ):
        failed = cli(*args, as_=OWNER, json_mode=True, code=1)
        assert '"type": "not_found"' in failed.stderr, args
    assert cli("ml", "alias", "churn", "one", "champion", as_=OWNER, code=2)
    assert sorted(g["name"] for g in cli.json("ml", "models", as_=OWNER)) == ["churn", "risk"]
