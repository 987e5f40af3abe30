"""Mistakes get one clear line (or a JSON error) and the right exit code, never a traceback."""

from __future__ import annotations

import json
import sqlite3

import pytest

from meshlake.cli import app

from .runner import Cli


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_unknown_principal_is_not_found_with_what_to_do(mesh_cli: Cli) -> None:
    result = mesh_cli("account", "list", as_="consumer/ghost", code=1)
    assert result.stdout == ""
    line = _one_error_line(result.stderr)
    assert line.startswith("error (not_found): principal consumer/ghost not found")
    assert "meshlake principal list" in line and "--as" in line


def test_unknown_principal_in_json_mode(mesh_cli: Cli) -> None:
    result = mesh_cli("account", "list", as_="consumer/ghost", json_mode=True, code=1)
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "not_found"
    assert error["message"].startswith("principal consumer/ghost not found")


def test_no_mesh_yet_says_run_init(cli: Cli) -> None:
    line = _one_error_line(cli("account", "list", code=1).stderr)
    assert line.startswith("error (not_found): no mesh at ")
    assert "meshlake init" in line
    assert not cli.home.exists(), "a read command must not create a mesh"


def test_init_is_idempotent(cli: Cli) -> None:
    assert cli.json("init")["created"] is True
    assert cli.json("init")["created"] is False
    assert [e["action"] for e in cli.json("audit", "list")] == ["bootstrap"]


@pytest.mark.parametrize(
    "policy, message",
    [
        ("domain=sales", "start with DATABASE: or TABLE:"),
        ("TABLE:domain", "each condition is KEY=V1|V2"),
        ("TABLE:", "name at least one condition"),
        ("VIEW:domain=sales", "start with DATABASE: or TABLE:"),
        ("TABLE:domain=a;domain=b", "appears twice"),
    ],
)
def test_bad_tag_policy_is_a_usage_error(cli: Cli, policy: str, message: str) -> None:
    result = cli("grant", "consumer", "--tag-policy", policy, "-p", "SELECT", code=2)
    assert "--tag-policy" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_usage_error_in_json_mode_is_a_json_document(cli: Cli) -> None:
    result = cli(
        "grant", "consumer", "--tag-policy", "TABLE:domain", "-p", "SELECT", json_mode=True, code=2
    )
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "usage" and "--tag-policy" in error["message"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--table", "sales.orders", "--database", "sales"], "give one resource"),
        (["--columns", "a,b"], "--columns and --excluded-columns go with --table"),
        (["--table", "orders"], "DB.TABLE"),
        (["--filter", "sales.orders"], "DB.TABLE.FILTER"),
        ([], "name the resource with one of"),
        (["--table", "s.o", "--columns", "a", "--excluded-columns", "b"], "not both"),
    ],
)
def test_bad_resource_options_are_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    result = cli("grant", "consumer/analyst", *args, "-p", "SELECT", code=2)
    assert message in result.stderr


def test_global_option_after_the_command_gets_a_hint(cli: Cli) -> None:
    result = cli("account", "list", "--json", code=2)
    assert "--json is a global option" in result.stderr


def test_mesh_errors_keep_their_kind(mesh_cli: Cli) -> None:
    cases = [
        (("account", "create", "central"), None, "conflict", "account central already exists"),
        (("database", "create", "x"), "consumer/analyst", "access_denied", "may not create"),
        (("account", "create", "bad name"), None, "invalid_input", "invalid account name"),
        (("table", "show", "nope.t"), "central/owner", "not_found", "table nope.t not found"),
    ]
    for args, who, kind, message in cases:
        line = _one_error_line(mesh_cli(*args, as_=who, code=1).stderr)
        assert line.startswith(f"error ({kind}): "), line
        assert message in line


def test_bad_table_definitions_are_usage_errors(mesh_cli: Cli) -> None:
    mesh_cli("database", "create", "sales", as_="central/owner")
    bad = [
        (["-c", "id"], "NAME:TYPE"),
        (["-c", "id:bigint", "-c", "id:varchar"], "given twice"),
        (["-c", "id:bigint", "--rows-json", "[[1]"], "not valid JSON"),
        (["-c", "id:bigint", "--rows-json", '[{"idx": 1}]'], "unknown column(s) idx"),
        (["-c", "d:date", "--rows-json", '[["yesterday"]]'], "not a valid date"),
    ]
    for args, message in bad:
        result = mesh_cli("table", "create", "sales.t", *args, as_="central/owner", code=2)
        assert message in result.stderr, result.stderr
    # a type the store does not know is the API's invalid_input, with the known types
    line = _one_error_line(
        mesh_cli(
            "table", "create", "sales.t", "-c", "id:bigintt", as_="central/owner", code=1
        ).stderr
    )
    assert line.startswith("error (invalid_input): unknown column type 'bigintt'")


def test_tampered_audit_log_fails_verify(mesh_cli: Cli) -> None:
    with sqlite3.connect(mesh_cli.home / "catalog.db") as db:
        db.execute("UPDATE ml_audit SET principal = 'someone' WHERE seq = 2")
    result = mesh_cli("audit", "verify", code=1)
    assert _one_error_line(result.stderr).startswith(
        "error (audit_broken): the audit log is broken at event 2: the event was edited"
    )
    report = mesh_cli.json("audit", "verify", code=1)
    assert report["ok"] is False and report["first_bad_seq"] == 2


def test_destructive_commands_ask_first(mesh_cli: Cli) -> None:
    owner = "central/owner"
    mesh_cli("tag", "create", "domain", "sales", as_=owner)
    mesh_cli("tag", "delete", "domain", as_=owner, input="n\n", code=1)
    assert [t["key"] for t in mesh_cli.json("tag", "list", as_=owner)] == ["domain"]
    mesh_cli("tag", "delete", "domain", as_=owner, input="y\n")
    assert mesh_cli.json("tag", "list", as_=owner) == []


def test_version(cli: Cli) -> None:
    assert cli("--version").stdout.startswith("meshlake ")


def test_demo_refuses_a_home_it_did_not_create(mesh_cli: Cli) -> None:
    line = _one_error_line(mesh_cli("demo", code=1).stderr)
    assert line.startswith("error (invalid_input): ") and "--home" in line
    error = json.loads(mesh_cli("demo", json_mode=True, code=1).stderr)["error"]
    assert error["type"] == "invalid_input"
    assert [a["name"] for a in mesh_cli.json("account", "list")] == ["central", "consumer"]


def test_demo_against_a_server_checks_its_options(cli: Cli) -> None:
    alone = json.loads(cli("demo", "--token", "t", json_mode=True, code=1).stderr)["error"]
    assert alone["type"] == "invalid_input" and "--url" in alone["message"]
    bad = cli("demo", "--url", "ftp://x", "--token", "t", json_mode=True, code=1)
    assert json.loads(bad.stderr)["error"]["type"] == "invalid_input"
    files = str(cli.home.parent / "files")
    down = cli("demo", "--url", "http://127.0.0.1:9", "--token", "t", "--files", files, code=1)
    assert down.stderr.startswith("error (unreachable): cannot reach the meshlake server")


def test_environment_chooses_home_and_principal(mesh_cli: Cli) -> None:
    env = {
        "MESHLAKE_HOME": str(mesh_cli.home),
        "MESHLAKE_PRINCIPAL": "consumer/analyst",
        "COLUMNS": "200",
    }
    result = mesh_cli.runner.invoke(app, ["--json", "database", "create", "x"], env=env)
    assert result.exit_code == 1
    assert json.loads(result.stderr)["error"]["type"] == "access_denied"
    listed = mesh_cli.runner.invoke(app, ["--as", "root", "--json", "account", "list"], env=env)
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 2
