"""The root group builds a command only when it is used, and still knows every command."""

from __future__ import annotations

import json

from typer.main import get_command
from typer.testing import CliRunner

from meshlake.cli import COMMAND_ORDER, app


def test_commands_are_built_on_first_use() -> None:
    root = get_command(app)
    assert list(root.commands) == []  # type: ignore[attr-defined]
    names = root.list_commands(None)  # type: ignore[attr-defined]
    assert names[: len(COMMAND_ORDER)] == list(COMMAND_ORDER)
    table = root.get_command(None, "table")  # type: ignore[attr-defined]
    assert sorted(table.commands) == [
        "add-columns",
        "create",
        "drop",
        "list",
        "properties",
        "rename-column",
        "show",
    ]
    assert list(root.commands) == ["table"]  # type: ignore[attr-defined]
    assert root.get_command(None, "table") is table  # type: ignore[attr-defined]
    assert root.get_command(None, "nope") is None  # type: ignore[attr-defined]


def test_unknown_commands_get_suggestions_among_all_of_them() -> None:
    result = CliRunner().invoke(app, ["workgrup", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "No such command 'workgrup'. Did you mean 'workgroup', 'worker'?" in result.stderr


def test_root_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for name in COMMAND_ORDER:
        assert f" {name} " in result.stdout, name
    assert "Forget a saved profile and its token." in result.stdout


def test_an_unknown_command_under_json_is_a_json_error() -> None:
    result = CliRunner().invoke(app, ["--json", "tabel", "list"])
    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": {
            "type": "usage",
            "message": "No such command 'tabel'. Did you mean 'table', 'database'?",
        }
    }
