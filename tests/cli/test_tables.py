"""``meshlake table add-columns | rename-column | properties | show`` on a mesh home; the same
commands against a server are in ``test_remote.py`` (one shared script)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.cli.runner import Cli

OWNER = "central/owner"


def alter_script(run: Callable[..., Any], table: str = "sales.alter_me") -> None:
    """Create a table, add and widen columns, rename one, set properties, show it.

    Args:
        run: ``run(*args, code=0) -> stdout`` of ``meshlake --json ...`` as the table's owner.
    """
    json.loads(run("table", "create", table, "-c", "id:integer", "--rows-json", "[[1]]"))
    added = json.loads(run("table", "add-columns", table, "-c", "note:varchar", "-c", "id:bigint"))
    assert [(c["name"], c["type"]) for c in added["columns"]] == [
        ("id", "BIGINT"),
        ("note", "VARCHAR"),
    ]
    renamed = json.loads(run("table", "rename-column", table, "note", "remark"))
    assert [c["name"] for c in renamed["columns"]] == ["id", "remark"]
    props = json.loads(
        run("table", "properties", table, "--set", "owner=sales", "--set", "x=1", "--unset", "x")
    )
    assert props == {"table": table, "properties": {"owner": "sales"}}
    shown = json.loads(run("table", "show", table))
    assert len(shown["schema_history"]) == 3 and len(shown["snapshots"]) == 1
    run("table", "properties", table, "--set", "novalue", code=2)
    clash = json.loads(
        run("table", "rename-column", table, "remark", "ID", code=1, stream="stderr")
    )
    assert clash["error"]["type"] == "conflict"


def test_altering_a_table(mesh_cli: Cli) -> None:
    mesh_cli("database", "create", "sales", as_=OWNER)

    def run(*args: str, code: int = 0, stream: str = "stdout") -> Any:
        result = mesh_cli(*args, as_=OWNER, json_mode=True, code=code)
        return getattr(result, stream)

    alter_script(run)
    denied = mesh_cli(
        "table",
        "add-columns",
        "sales.alter_me",
        "-c",
        "y:varchar",
        as_="consumer/analyst",
        json_mode=True,
        code=1,
    )
    assert json.loads(denied.stderr)["error"]["type"] == "not_found"
    human = mesh_cli("table", "properties", "sales.alter_me", as_=OWNER)
    assert "owner" in human.stdout and "sales" in human.stdout
