"""``meshlake history ...`` and ``meshlake workgroup ...`` on an embedded mesh."""

from __future__ import annotations

from .runner import Cli

OWNER = "central/owner"


def _table(cli: Cli) -> None:
    cli("database", "create", "sales", as_=OWNER)
    cli(
        "table",
        "create",
        "sales.orders",
        "-c",
        "id:bigint",
        "-c",
        "region:varchar",
        "--rows-json",
        '[[1, "us"], [2, "eu"]]',
        as_=OWNER,
    )


def test_history_with_filters_show_and_cancel(mesh_cli: Cli) -> None:
    cli = mesh_cli
    _table(cli)
    ok = cli.json("query", "SELECT count(*) FROM sales.orders", as_=OWNER)["query_id"]
    cli("query", "SELECT nope FROM sales.orders", as_=OWNER, code=1)
    history = cli.json("history", "list", as_=OWNER)
    assert [h["state"] for h in history] == ["FAILED", "SUCCEEDED"]
    assert all("result_path" not in h for h in history)
    assert set(history[0]) >= {"query_id", "principal", "workgroup", "sql", "rows", "error"}
    failed = cli.json("history", "list", "--state", "FAILED", as_=OWNER)
    assert len(failed) == 1 and "nope" in failed[0]["sql"]
    assert [
        h["query_id"] for h in cli.json("history", "list", "--contains", "COUNT(", as_=OWNER)
    ] == [ok]
    assert cli.json("history", "list", "--workgroup", "other", as_=OWNER) == []
    assert cli.json("history", "list", "--principal", "consumer/analyst", as_=OWNER) == []
    assert len(cli.json("history", "list", "--limit", "1", as_=OWNER)) == 1
    assert "SUCCEEDED" in cli("history", "list", as_=OWNER).stdout
    shown = cli.json("history", "show", ok, as_=OWNER)
    assert shown["query_id"] == ok and shown["rows"] == 1 and "result_path" not in shown
    # a finished query stays as it finished; another account's principal may not cancel it
    assert cli.json("history", "cancel", ok, as_=OWNER)["state"] == "SUCCEEDED"
    assert f"query {ok}: SUCCEEDED" in cli("history", "cancel", ok, as_=OWNER).stdout
    other = cli("history", "cancel", ok, as_="consumer/analyst", code=1)
    assert other.stderr.startswith(("error (access_denied)", "error (not_found)"))
    # bad input
    assert cli("history", "list", "--state", "DONE", as_=OWNER, code=2)
    missing = cli("history", "show", "no-such-query", as_=OWNER, code=1)
    assert missing.stderr.startswith("error (not_found)")


def test_workgroups(mesh_cli: Cli) -> None:
    cli = mesh_cli
    _table(cli)
    assert [w["name"] for w in cli.json("workgroup", "list", as_=OWNER)] == ["primary"]
    made = cli.json(
        "workgroup",
        "create",
        "adhoc",
        "--retention",
        "1d",
        "--max-runtime",
        "60",
        "--memory-limit",
        "1GB",
        "--max-bytes-scanned",
        "1000000",
        as_=OWNER,
    )
    assert made == {
        "name": "adhoc",
        "account": "central",
        "retention_seconds": 86400,
        "max_runtime_s": 60,
        "memory_limit": "1GB",
        "max_bytes_scanned": 1000000,
    }
    listed = cli.json("workgroup", "list", as_=OWNER)
    assert [w["name"] for w in listed] == ["adhoc", "primary"]
    assert all("result_location" not in w for w in listed)
    changed = cli.json(
        "workgroup", "set", "adhoc", "--max-runtime", "120", "--no-memory-limit", as_=OWNER
    )
    assert (changed["max_runtime_s"], changed["memory_limit"]) == (120, None)
    assert changed["max_bytes_scanned"] == 1000000
    assert cli.json("workgroup", "show", "adhoc", as_=OWNER)["max_runtime_s"] == 120
    assert "adhoc" in cli("workgroup", "list", as_=OWNER).stdout
    rows = cli.json("query", "SELECT id FROM sales.orders", "--workgroup", "adhoc", as_=OWNER)
    assert len(rows["rows"]) == 2
    in_adhoc = cli.json("history", "list", "--workgroup", "adhoc", as_=OWNER)
    assert [h["query_id"] for h in in_adhoc] == [rows["query_id"]]

    # bad input changes nothing
    assert (
        "positive duration"
        in cli("workgroup", "set", "adhoc", "--retention", "soon", as_=OWNER, code=2).stderr
    )
    nothing = cli("workgroup", "set", "adhoc", as_=OWNER, json_mode=True, code=1)
    assert '"type": "invalid_input"' in nothing.stderr
    both = cli(
        "workgroup", "set", "adhoc", "--memory-limit", "2GB", "--no-memory-limit", as_=OWNER, code=2
    )
    assert "not both" in both.stderr
    dup = cli("workgroup", "create", "adhoc", as_=OWNER, code=1)
    assert dup.stderr.startswith("error (conflict)")
    denied = cli("workgroup", "create", "mine", as_="consumer/analyst", code=1)
    assert denied.stderr.startswith("error (access_denied)")
    assert cli.json("workgroup", "show", "adhoc", as_=OWNER)["max_runtime_s"] == 120
    root = cli("workgroup", "list", code=1)
    assert root.stderr.startswith("error (access_denied)")
