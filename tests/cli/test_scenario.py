"""A whole small scenario through the CLI, in human and in --json output."""

from __future__ import annotations

from pathlib import Path

from .runner import Cli

ORDERS = [
    "sales.orders",
    "-c",
    "id:bigint",
    "-c",
    "region:varchar",
    "-c",
    "amount:double",
    "-c",
    "day:date",
    "--rows-json",
    '[[1, "us", 5.0, "2024-01-01"], {"id": 2, "region": "eu", "amount": 7.5}]',
]
OWNER, ADMIN, ANALYST = "central/owner", "consumer/admin", "consumer/analyst"
ON_ORDERS = ["--table", "sales.orders", "--account", "central"]


def _share_orders(cli: Cli, *, json_mode: bool) -> None:
    """central tags and shares sales.orders with consumer, whose admin re-grants it."""
    for args in (
        ("tag", "create", "domain", "sales", "hr"),
        ("database", "create", "sales", "--description", "Sales data"),
        ("table", "create", *ORDERS),
        ("tag", "assign", "--table", "sales.orders", "domain=sales"),
        (
            "grant",
            "consumer",
            "--tag-policy",
            "TABLE:domain=sales",
            "--permissions",
            "SELECT,DESCRIBE",
            "--grantable",
            "SELECT,DESCRIBE",
        ),
    ):
        cli(*args, as_=OWNER, json_mode=json_mode)
    cli("grant", ANALYST, *ON_ORDERS, "-p", "SELECT", as_=ADMIN, json_mode=json_mode)


def test_scenario_human_output(mesh_cli: Cli) -> None:
    cli = mesh_cli
    assert "already initialised" in cli("init").stdout
    accounts = cli("account", "list").stdout
    assert "central" in accounts and "consumer/admin" in accounts
    assert "consumer/analyst" in cli("principal", "list", "--account", "consumer").stdout

    out = cli("table", "create", *ORDERS[:1], "-c", "x:bigint", as_=ANALYST, code=1)
    assert out.stdout == ""
    assert out.stderr.startswith("error (not_found): database sales not found")

    cli("tag", "create", "domain", "sales", "hr", as_=OWNER)
    cli("database", "create", "sales", as_=OWNER)
    created = cli("table", "create", *ORDERS, as_=OWNER).stdout
    assert "created table sales.orders with 4 columns and 2 rows" in created
    assert (
        "sales.orders now carries domain=sales"
        in cli("tag", "assign", "--table", "sales.orders", "domain=sales", as_=OWNER).stdout
    )
    granted = cli(
        "grant",
        "consumer",
        "--tag-policy",
        "TABLE:domain=sales",
        "-p",
        "SELECT,DESCRIBE",
        "-g",
        "SELECT,DESCRIBE",
        as_=OWNER,
    ).stdout
    assert "granted DESCRIBE, SELECT" in granted and "to consumer" in granted
    cli("grant", ANALYST, *ON_ORDERS, "-p", "SELECT", as_=ADMIN)

    allowed = cli("check", "SELECT", *ON_ORDERS, as_=ANALYST)
    assert allowed.stdout.startswith("allowed: consumer/analyst SELECT on table central:sales")
    denied = cli("check", "DELETE", *ON_ORDERS, as_=ANALYST, code=3)
    assert denied.stdout.startswith("denied: consumer/analyst DELETE")
    explained = cli("explain", "SELECT", *ON_ORDERS, as_=ANALYST).stdout
    assert "allowed" in explained and "grant" in explained
    # the admin asks about its analyst
    cli("check", "SELECT", *ON_ORDERS, "--principal", ANALYST, as_=ADMIN)

    assert "orders" in cli("table", "list", "sales", "--account", "central", as_=ANALYST).stdout
    shown = cli("table", "show", "sales.orders", "--account", "central", as_=ANALYST).stdout
    for text in ("Columns", "region", "VARCHAR", "Snapshots", "append", "Schema history"):
        assert text in shown
    assert "domain" in cli("tag", "show", "--column", "sales.orders.region", as_=OWNER).stdout
    grants = cli("permissions", "list", as_=ADMIN).stdout
    assert "consumer/analyst" in grants and "table:central.sales.orders" in grants

    events = cli("audit", "list", "--category", "change", "--limit", "3").stdout
    assert "grant" in events
    assert "the audit log is intact" in cli("audit", "verify").stdout
    revoked = cli("revoke", ANALYST, *ON_ORDERS, "-p", "SELECT", as_=ADMIN).stdout
    assert "revoked SELECT on table central:sales.orders from consumer/analyst" in revoked


def test_scenario_json_output(mesh_cli: Cli) -> None:
    cli = mesh_cli
    assert cli.json("init") == {"home": str(cli.home.resolve()), "created": False}
    accounts = {a["name"]: a["admins"] for a in cli.json("account", "list")}
    assert accounts == {"central": [OWNER], "consumer": [ADMIN]}

    _share_orders(cli, json_mode=True)
    grant = cli.json("grant", ANALYST, *ON_ORDERS, "-p", "DESCRIBE", as_=ADMIN)
    assert grant["grantee"] == ANALYST and grant["permissions"] == ["DESCRIBE", "SELECT"]

    check = cli.json("check", "SELECT", *ON_ORDERS, as_=ANALYST)
    assert check["allowed"] is True
    assert check["resource"] == {
        "kind": "table",
        "database": "sales",
        "name": "orders",
        "account": "central",
    }
    denied = cli.json("check", "INSERT", *ON_ORDERS, as_=ANALYST, code=3)
    assert denied["allowed"] is False and denied["reason"]
    explained = cli.json("explain", "SELECT", *ON_ORDERS, as_=ANALYST)
    assert explained["allowed"] is True and explained["path"]

    assert cli.json("table", "list", "sales", "--account", "central", as_=ANALYST) == [
        {"database": "sales", "name": "orders"}
    ]
    desc = cli.json("table", "show", "sales.orders", "--account", "central", as_=ANALYST)
    assert [c["name"] for c in desc["columns"]] == ["id", "region", "amount", "day"]
    assert desc["snapshots"][0]["total_rows"] == "2"
    assert cli.json("tag", "show", "--table", "sales.orders", as_=OWNER)["tags"] == {
        "domain": "sales"
    }
    databases = cli.json("database", "list", as_=ANALYST)
    assert [(d["name"], d["account"]) for d in databases] == [("sales", "central")]

    events = cli.json("audit", "list", "--limit", "0")
    assert [e["action"] for e in events][:2] == ["bootstrap", "create_account"]
    assert {"grant", "create_table", "assign_tags"} <= {e["action"] for e in events}
    report = cli.json("audit", "verify")
    assert report["ok"] is True and report["events"] == len(events)

    revoked = cli.json("revoke", ANALYST, *ON_ORDERS, "-p", "SELECT,DESCRIBE", as_=ADMIN)
    assert revoked["permissions"] == ["SELECT", "DESCRIBE"]
    assert cli.json("check", "SELECT", *ON_ORDERS, as_=ANALYST, code=3)["allowed"] is False
    # with no permission left in it, the database itself is no longer visible (rule 0)
    gone = cli("table", "list", "sales", "--account", "central", as_=ANALYST, code=1)
    assert gone.stderr.startswith("error (not_found): database sales not found")


def test_filters_locations_links_and_tag_values(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    cli("database", "create", "sales", as_=OWNER)
    cli("table", "create", "sales.orders", "-c", "id:bigint", "-c", "region:varchar", as_=OWNER)

    created = cli.json(
        "filter",
        "create",
        "sales.orders.us_only",
        "--row-filter",
        "region = 'us'",
        "--excluded-columns",
        "id",
        as_=OWNER,
    )
    assert created["name"] == "us_only" and created["excluded_columns"] == ["id"]
    listed = cli("filter", "list", "sales.orders", as_=OWNER).stdout
    assert "us_only" in listed and "region = 'us'" in listed
    bad = cli(
        "filter",
        "create",
        "sales.orders.f2",
        "--row-filter",
        "upper(region) = 'US'",
        as_=OWNER,
        code=1,
    )
    assert bad.stderr.startswith("error (invalid_input): row filter")
    cli("filter", "create", "sales.orders.f3", code=2, as_=OWNER)  # neither rows option
    granted = cli.json(
        "grant", ANALYST, "--filter", "sales.orders.us_only", "-p", "SELECT", as_=OWNER
    )
    assert granted["resource"] == "filter:central.sales.orders.us_only"
    assert "dropped data filter" in cli("filter", "drop", "sales.orders.us_only", as_=OWNER).stdout
    assert cli.json("filter", "list", "sales.orders", as_=OWNER) == []
    assert cli.json("permissions", "list", "--principal", ANALYST, as_=OWNER) == []

    uri = (tmp_path / "landing").as_uri()
    assert cli.json("location", "register", uri, as_=OWNER) == {"uri": uri}
    assert cli.json("location", "list", as_=OWNER) == [{"uri": uri}]
    cli("location", "register", uri, as_=ANALYST, code=1)  # admins only

    assert (
        "created link rl_sales -> central.sales"
        in cli("database", "link", "rl_sales", "central.sales", as_=ADMIN).stdout
    )
    links = cli.json("database", "list", as_=ADMIN)
    assert {
        "name": "rl_sales",
        "account": "consumer",
        "description": "",
        "location": None,
        "link": {"account": "central", "database": "sales"},
    } in links

    cli("tag", "create", "tier", "gold", as_=OWNER)
    assert cli.json(
        "tag", "update", "tier", "--add", "silver,bronze", "--remove", "gold", as_=OWNER
    )["values"] == ["bronze", "silver"]
    cli("tag", "update", "tier", code=2, as_=OWNER)
    cli("tag", "assign", "--database", "sales", "tier=silver", as_=OWNER)
    assert cli.json("tag", "show", "--table", "sales.orders", as_=OWNER)["tags"] == {
        "tier": "silver"
    }
    conflict = cli("tag", "update", "tier", "--remove", "silver", as_=OWNER, code=1)
    assert conflict.stderr.startswith("error (conflict): ")
    cli("tag", "remove", "--database", "sales", "tier", as_=OWNER)
    assert cli.json("tag", "show", "--table", "sales.orders", as_=OWNER)["tags"] == {}
