"""``meshlake query``: governed rows in every output format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from .runner import Cli

OWNER, ADMIN, ANALYST = "central/owner", "consumer/admin", "consumer/analyst"


@pytest.fixture(scope="module")
def shared_cli(accounts_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """central/owner owns sales.orders; consumer/analyst reads id and region through the
    link rl_sales. Shared by the module's tests, which only read."""
    cli = Cli(CliRunner(), tmp_path_factory.mktemp("query") / "home")
    shutil.copytree(accounts_home, cli.home)
    cli("database", "create", "sales", as_=OWNER)
    cli(
        "table",
        "create",
        "sales.orders",
        "-c",
        "id:bigint",
        "-c",
        "region:varchar",
        "-c",
        "amount:double",
        "--rows-json",
        '[[1, "us", 5.0], [2, "eu", 7.5], [3, "us", 1]]',
        as_=OWNER,
    )
    cli(
        "grant",
        "consumer",
        "--table",
        "sales.orders",
        "-p",
        "SELECT,DESCRIBE",
        "-g",
        "SELECT,DESCRIBE",
        as_=OWNER,
    )
    cli("database", "link", "rl_sales", "central.sales", as_=ADMIN)
    cli("grant", ANALYST, "--database", "rl_sales", "-p", "DESCRIBE", as_=ADMIN)
    cli(
        "grant",
        ANALYST,
        "--table",
        "sales.orders",
        "--account",
        "central",
        "--columns",
        "id,region",
        "-p",
        "SELECT",
        as_=ADMIN,
    )
    return cli


def test_query_outputs_only_allowed_columns(shared_cli: Cli, tmp_path: Path) -> None:
    cli = shared_cli
    sql = "SELECT * FROM rl_sales.orders ORDER BY id"
    shown = cli("query", sql, "--max-rows", "2", as_=ANALYST).stdout
    assert "region" in shown and "amount" not in shown
    assert "3 rows, showing the first 2 (--max-rows) · query id " in shown

    expanded = cli("query", sql, "--max-rows", "1", "--expanded", as_=ANALYST).stdout
    lines = [line.rstrip() for line in expanded.splitlines()]
    assert lines[:3] == ["row 1", " id      1", " region  us"]
    doc = cli.json("query", "SELECT * FROM orders ORDER BY id", "-d", "rl_sales", as_=ANALYST)
    assert doc["columns"] == ["id", "region"]
    assert doc["rows"] == [[1, "us"], [2, "eu"], [3, "us"]] and doc["query_id"]

    csv = cli("query", sql, "--output", "csv", as_=ANALYST).stdout
    assert csv.splitlines() == ['"id","region"', '1,"us"', '2,"eu"', '3,"us"']

    out = tmp_path / "orders.parquet"
    summary = cli.json("query", sql, "--out", str(out), as_=ANALYST)
    assert summary["rows"] == 3 and summary["format"] == "parquet"
    assert pq.read_table(out).to_pydict() == {"id": [1, 2, 3], "region": ["us", "eu", "us"]}

    sql_file = tmp_path / "q.sql"
    sql_file.write_text("SELECT count(*) AS n FROM rl_sales.orders WHERE region = 'us'")
    counted = cli(
        "query", f"@{sql_file}", "-o", "json", "--out", str(tmp_path / "n.json"), as_=ANALYST
    ).stdout
    assert "wrote 1 rows" in counted
    assert json.loads((tmp_path / "n.json").read_text())["rows"] == [[2]]


def test_query_errors(shared_cli: Cli) -> None:
    cli = shared_cli
    hidden = cli("query", "SELECT amount FROM rl_sales.orders", as_=ANALYST, code=1)
    assert hidden.stderr.startswith("error (not_found): column amount not found")
    refused = cli("query", "DROP TABLE rl_sales.orders", as_=ANALYST, json_mode=True, code=1)
    assert json.loads(refused.stderr)["error"]["type"] == "invalid_query"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--output", "parquet"], "parquet output needs --out"),
        (["--out", "result.txt"], "--out writes csv, json or parquet"),
        (["--output", "table", "--out", "x.csv"], "--out writes csv, json or parquet"),
        (["--max-rows", "0"], "--max-rows"),
    ],
)
def test_query_option_mistakes_are_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    assert message in cli("query", "SELECT 1", *args, code=2).stderr
