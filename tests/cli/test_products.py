"""``meshlake product ...`` and ``meshlake access ...`` on an embedded mesh."""

from __future__ import annotations

from pathlib import Path

from .runner import Cli

OWNER = "central/owner"
ANALYST = "consumer/analyst"
CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: orders-contract
name: orders
version: 1.0.0
domain: sales
description:
  purpose: Customer orders with their amounts, for revenue forecasting.
schema:
  - name: orders
    properties:
      - name: order_id
        logicalType: integer
      - name: amount
        logicalType: number
"""


def _published(cli: Cli, tmp_path: Path) -> Path:
    cli("database", "create", "sales", as_=OWNER)
    cli(
        "table",
        "create",
        "sales.orders",
        "-c",
        "order_id:bigint",
        "-c",
        "amount:double",
        "--rows-json",
        "[[1, 10.0], [2, 20.0]]",
        as_=OWNER,
    )
    contract = tmp_path / "orders.yaml"
    contract.write_text(CONTRACT)
    return contract


def test_publish_list_search_describe_versions(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    contract = _published(cli, tmp_path)
    version = cli.json("product", "publish", str(contract), "--database", "sales", as_=OWNER)
    assert (version["product"], version["version"]) == ("orders", 1)
    assert version["quality"]["row_count"] == 2
    human = cli("product", "publish", str(contract), "-d", "sales", as_=OWNER)
    assert "published orders version 2" in human.stdout

    listed = cli.json("product", "list", as_=OWNER)
    assert [(p["name"], p["latest_version"]) for p in listed] == [("orders", 2)]
    assert "orders" in cli("product", "list", as_=OWNER).stdout
    hits = cli.json("product", "search", "revenue", as_=OWNER)
    assert [h["product_id"] for h in hits] == ["orders"]
    assert cli.json("product", "search", "zebra", as_=OWNER) == []
    assert "no product matches" in cli("product", "search", "zebra", as_=OWNER).stdout
    described = cli.json("product", "describe", "orders", as_=OWNER)
    assert [v["version"] for v in described["versions"]] == [1, 2]
    assert described["models"] == [] and described["table"] == "orders"
    shown = cli("product", "describe", "orders", as_=OWNER).stdout
    assert "Versions" in shown and "sales" in shown
    versions = cli.json("product", "versions", "orders", as_=OWNER)
    assert [v["version"] for v in versions] == [1, 2]
    assert "published by" in cli("product", "versions", "orders", as_=OWNER).stdout


def test_access_requests(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    contract = _published(cli, tmp_path)
    cli("product", "publish", str(contract), "--database", "sales", as_=OWNER)
    request = cli.json("access", "request", "orders", "--reason", "forecast", as_=ANALYST)
    assert request["state"] == "PENDING" and request["columns"] is None
    assert request["permissions"] == ["SELECT"] and request["for_principal"] == ANALYST
    rid = str(request["id"])
    pending = cli.json("access", "list", as_=OWNER)
    assert [r["id"] for r in pending] == [request["id"]]
    assert cli.json("access", "show", rid, as_=OWNER)["reason"] == "forecast"
    approved = cli.json("access", "approve", rid, as_=OWNER)
    assert approved["state"] == "APPROVED" and approved["decided_by"] == OWNER
    assert cli.json("access", "list", as_=OWNER) == []
    revoked = cli("access", "revoke", rid, as_=OWNER)
    assert f"revoked access request {rid}" in revoked.stdout

    second = cli.json("access", "request", "orders", "--reason", "again", as_=ANALYST)
    denied = cli.json("access", "deny", str(second["id"]), "--reason", "no", as_=OWNER)
    assert denied["state"] == "DENIED"


def test_bad_input(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    contract = _published(cli, tmp_path)
    missing = cli(
        "product", "publish", str(tmp_path / "nope.yaml"), "-d", "sales", as_=OWNER, code=2
    )
    assert "cannot read" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(CONTRACT.replace("logicalType: number", "logicalType: string"))
    refused = cli(
        "product", "publish", str(broken), "-d", "sales", as_=OWNER, json_mode=True, code=1
    )
    assert '"type": "invalid_input"' in refused.stderr
    assert cli.json("product", "list", as_=OWNER) == []
    cli("product", "publish", str(contract), "-d", "sales", as_=OWNER)
    bad_perm = cli(
        "access", "request", "orders", "--reason", "x", "-p", "DROP", as_=ANALYST, code=1
    )
    assert bad_perm.stderr.startswith("error (invalid_input)")
    assert cli("access", "approve", "notanumber", as_=OWNER, code=2)
    unknown = cli("access", "approve", "999", as_=OWNER, code=1)
    assert unknown.stderr.startswith("error (not_found)")
    assert cli.json("access", "list", as_=OWNER) == []
