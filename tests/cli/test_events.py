"""``meshlake events ...``: subscriptions, inbox, webhooks and dead letters, triggers."""

from __future__ import annotations

import socket
import time

import pytest

from meshlake.config import ENV_WEBHOOK_ALLOWED_HOSTS

from .runner import Cli

OWNER = "central/owner"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_inbox_subscriptions(mesh_cli: Cli) -> None:
    cli = mesh_cli
    cli("database", "create", "sales", as_=OWNER)
    sub = cli.json("events", "subscribe", "--database", "sales", as_=OWNER)
    assert sub["kind"] == "database" and "sales" in sub["target"] and sub["url"] is None
    typed = cli.json("events", "subscribe", "--type", "table.*", as_=OWNER)
    assert [s["id"] for s in cli.json("events", "subscriptions", as_=OWNER)] == [
        sub["id"],
        typed["id"],
    ]
    cli("table", "create", "sales.orders", "-c", "id:bigint", "--rows-json", "[[1]]", as_=OWNER)
    inbox = cli.json("events", "inbox", as_=OWNER)
    assert inbox and all(not i["read"] for i in inbox)
    types = {i["event"]["type"] for i in inbox}
    assert any(t.startswith("table.") for t in types)
    first = inbox[0]["event"]["id"]
    # one entry per subscription the event came through (both match a table event)
    assert cli.json("events", "mark-read", first, as_=OWNER) == {"marked_read": 2}
    cli("table", "create", "sales.returns", "-c", "id:bigint", as_=OWNER)
    unread = cli.json("events", "inbox", "--unread", as_=OWNER)
    assert first not in [i["event"]["id"] for i in unread]
    assert "Inbox" in cli("events", "inbox", as_=OWNER).stdout
    rest = cli.json("events", "mark-read", "--all", as_=OWNER)
    assert rest["marked_read"] >= len(unread) > 0
    assert cli.json("events", "inbox", "--unread", as_=OWNER) == []
    cli("events", "unsubscribe", str(typed["id"]), as_=OWNER)
    assert [s["id"] for s in cli.json("events", "subscriptions", as_=OWNER)] == [sub["id"]]

    # bad input changes nothing
    two = cli("events", "subscribe", "--database", "sales", "--type", "x.*", as_=OWNER, code=2)
    assert "name one target" in two.stderr
    assert cli("events", "subscribe", as_=OWNER, code=2)
    missing = cli("events", "subscribe", "--product", "nope", as_=OWNER, json_mode=True, code=1)
    assert '"type": "not_found"' in missing.stderr
    assert cli("events", "mark-read", as_=OWNER, code=2)
    gone = cli("events", "unsubscribe", str(typed["id"]), as_=OWNER, code=1)
    assert gone.stderr.startswith("error (not_found)")
    assert len(cli.json("events", "subscriptions", as_=OWNER)) == 1


def test_webhooks_and_dead_letters(mesh_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = mesh_cli
    cli("database", "create", "sales", as_=OWNER)
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    refused = cli("events", "webhook", "add", url, "--database", "sales", as_=OWNER, code=1)
    assert "loopback" in refused.stderr and ENV_WEBHOOK_ALLOWED_HOSTS in refused.stderr
    monkeypatch.setenv(ENV_WEBHOOK_ALLOWED_HOSTS, "127.0.0.1")  # the operator allows it
    hook = cli.json("events", "webhook", "add", url, "--database", "sales", as_=OWNER)
    assert hook["url"] == url and len(hook["secret"]) >= 16
    listed = cli.json("events", "webhook", "list", as_=OWNER)
    assert [h["id"] for h in listed] == [hook["id"]]
    assert all("secret" not in h for h in listed)  # shown once, at creation
    human = cli("events", "webhook", "add", url, "--type", "table.*", as_=OWNER)
    assert "cannot be shown again" in human.stderr
    cli("table", "create", "sales.orders", "-c", "id:bigint", as_=OWNER)
    # the commit's own background sender may have tried once and scheduled a retry (within
    # a second): run the worker, with one attempt allowed, until the retries are due
    deadline = time.monotonic() + 60
    dead: list[dict[str, object]] = []
    while not dead and time.monotonic() < deadline:
        cli(
            "worker",
            "--once",
            "--max-attempts",
            "1",
            "--base-delay",
            "0",
            "--timeout",
            "1",
            "--no-triggers",
            "--sweep-every",
            "0",
        )
        dead = cli.json("events", "webhook", "dead-letters", as_=OWNER)
        pending = cli.json("events", "webhook", "deliveries", "--state", "pending", as_=OWNER)
        if pending:
            dead = []
            time.sleep(0.3)
    assert dead and all(d["state"] == "dead" and d["last_error"] for d in dead)
    assert {d["subscription_id"] for d in dead} <= {
        h["id"] for h in cli.json("events", "webhook", "list", as_=OWNER)
    }
    assert cli.json("events", "webhook", "deliveries", "--state", "dead", as_=OWNER) == dead
    one = str(dead[0]["id"])
    assert cli.json("events", "webhook", "replay", one, as_=OWNER) == {"replayed": 1}
    left = cli.json("events", "webhook", "dead-letters", as_=OWNER)
    assert len(left) == len(dead) - 1
    assert "queued" in cli("events", "webhook", "replay", as_=OWNER).stdout
    assert cli.json("events", "webhook", "dead-letters", as_=OWNER) == []
    bad = cli(
        "events",
        "webhook",
        "add",
        "not-a-url",
        "--database",
        "sales",
        as_=OWNER,
        json_mode=True,
        code=1,
    )
    assert '"type": "invalid_input"' in bad.stderr


def test_triggers(mesh_cli: Cli) -> None:
    cli = mesh_cli
    made = cli.json(
        "events",
        "trigger",
        "create",
        "recrawl_orders",
        "--on",
        "table.updated",
        "--where",
        "database=raw",
        "--do",
        "recrawl",
        "--param",
        "location=/data/orders",
        "--param",
        "database=sales",
        as_=OWNER,
    )
    assert made["name"] == "recrawl_orders" and made["action"] == "recrawl"
    assert made["where"] == "database = 'raw'"  # a FIELD=VALUE pair, as an expression
    assert made["params"] == {"location": "/data/orders", "database": "sales"}
    listed = cli.json("events", "trigger", "list", as_=OWNER)
    assert [t["name"] for t in listed] == ["recrawl_orders"]
    assert "recrawl_orders" in cli("events", "trigger", "list", as_=OWNER).stdout
    assert cli.json("events", "trigger", "runs", as_=OWNER) == []
    expr = cli.json(
        "events", "trigger", "create", "big_loads", "--on", "table.updated",
        "--where", "data.rows > 1000", "--where", "database IN ('raw', 'staging')",
        "--do", "recrawl", "--param", "location=/data/orders", "--param", "database=sales",
        as_=OWNER,
    )  # fmt: skip
    assert "data.rows > 1000" in expr["where"] and "staging" in expr["where"]
    bad = cli(
        "events", "trigger", "create", "t5", "--on", "x", "--where", "data.rows >>> 3",
        "--do", "recrawl", "--param", "location=/data", "--param", "database=sales", as_=OWNER,
        json_mode=True, code=1,
    )  # fmt: skip
    assert '"type": "invalid_input"' in bad.stderr
    assert "t5" not in cli("events", "trigger", "list", as_=OWNER).stdout
    cli("events", "trigger", "delete", "big_loads", as_=OWNER)
    # bad input changes nothing
    unknown = cli(
        "events",
        "trigger",
        "create",
        "t2",
        "--on",
        "x",
        "--do",
        "explode",
        as_=OWNER,
        json_mode=True,
        code=1,
    )
    assert '"type": "invalid_input"' in unknown.stderr and "recrawl" in unknown.stderr
    lacking = cli(
        "events", "trigger", "create", "t3", "--on", "x", "--do", "recrawl", as_=OWNER, code=1
    )
    assert "needs params" in lacking.stderr
    assert cli(
        "events",
        "trigger",
        "create",
        "t4",
        "--on",
        "x",
        "--do",
        "recrawl",
        "--param",
        "location",
        as_=OWNER,
        code=2,
    )
    assert cli(
        "events",
        "trigger",
        "create",
        "t5",
        "--on",
        "x",
        "--do",
        "pipeline",
        "--params-json",
        "[1]",
        as_=OWNER,
        code=1,
    )
    denied = cli(
        "events",
        "trigger",
        "create",
        "t6",
        "--on",
        "x",
        "--do",
        "recrawl",
        "--params-json",
        '{"location": "/d", "database": "s"}',
        as_="consumer/analyst",
        code=1,
    )
    assert denied.stderr.startswith("error (access_denied)")
    assert len(cli.json("events", "trigger", "list", as_=OWNER)) == 1
    cli("events", "trigger", "delete", "recrawl_orders", as_=OWNER)
    assert cli.json("events", "trigger", "list", as_=OWNER) == []
    assert cli("events", "trigger", "delete", "recrawl_orders", as_=OWNER, code=1)
