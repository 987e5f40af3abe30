"""Record what ``meshlake ... --help`` prints, for :mod:`meshlake.cli.quickhelp`.

Typer builds a command's help as a few rich renderables (the usage line, the help text, a
panel per group of options and commands, the epilog) and prints them. :func:`record` runs
``meshlake [COMMAND...] --help`` in-process for every command of the real app with typer's
console replaced by one that keeps those renderables, and writes down their content: texts
with their styles, table rows, panel titles. :mod:`meshlake.cli.quickhelp` lays them out
again with rich as typer does, so the console script can answer a help request without
importing typer or a command module.

The record is :data:`quickhelp.RECORD` (``quickhelp.json``, committed). Rewrite it with::

    python -m meshlake.cli.helprecord          # or python docs/gen_cli_docs.py

``tests/cli/test_quickhelp.py`` fails when it is out of date, and the console script itself
ignores it when the CLI sources changed since it was written (:func:`quickhelp.fingerprint`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.align import Align
from rich.columns import Columns
from rich.console import Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer import rich_utils
from typer.main import get_command
from typer.testing import CliRunner

from meshlake.cli import quickhelp

__all__ = ["LayoutChangedError", "record", "write"]


class LayoutChangedError(RuntimeError):
    """Typer printed a help this recorder does not know how to describe (a new typer
    version): teach :mod:`meshlake.cli.helprecord` and :mod:`meshlake.cli.quickhelp` the new
    layout."""


class _Recorder:
    """Stands in for typer's rich console: keeps what typer prints instead of printing it."""

    def __init__(self) -> None:
        self.printed: list[tuple[Any, Any]] = []

    def print(self, *objects: Any, style: Any = None, **kwargs: Any) -> None:
        if len(objects) != 1 or kwargs:
            raise LayoutChangedError(f"console.print{objects!r} {kwargs!r}")
        self.printed.append((objects[0], style))


class _Capture:
    """What one help request printed, and the context it was printed for."""

    def __init__(self) -> None:
        self.recorder = _Recorder()
        self.help_options: list[str] = []
        self.calls = 0


@contextmanager
def _capturing() -> Iterator[_Capture]:
    """Point typer's rich help at a :class:`_Capture` while the block runs."""
    capture = _Capture()
    original_console = rich_utils._get_rich_console
    original_format = rich_utils.rich_format_help

    def format_help(*, obj: Any, ctx: Any, markup_mode: Any) -> None:
        if markup_mode != "rich":
            raise LayoutChangedError(f"{ctx.command_path}: markup mode {markup_mode!r}")
        capture.calls += 1
        names = obj.get_help_option_names(ctx) if obj.add_help_option else []
        capture.help_options = sorted(names)
        original_format(obj=obj, ctx=ctx, markup_mode=markup_mode)

    rich_utils._get_rich_console = lambda stderr=False: capture.recorder  # type: ignore[assignment,return-value]
    rich_utils.rich_format_help = format_help
    try:
        yield capture
    finally:
        rich_utils._get_rich_console = original_console
        rich_utils.rich_format_help = original_format


# ------------------------------------------------------------------ renderables -> JSON
def _text(text: Any) -> list[Any]:
    """A rich Text as ``[plain, style, spans, settings]``, trailing empty items left out
    (settings: any of justify, overflow, no_wrap, tab_size and end not at its default)."""
    if not isinstance(text, Text):
        raise LayoutChangedError(f"expected a Text, got {text!r}")
    settings = {
        name: getattr(text, name)
        for name in ("justify", "overflow", "no_wrap", "tab_size")
        if getattr(text, name) is not None
    }
    if text.end != "\n":
        settings["end"] = text.end
    spans = [[span.start, span.end, str(span.style)] for span in text.spans]
    out: list[Any] = [text.plain, str(text.style), spans, settings]
    while len(out) > 1 and not out[-1]:
        out.pop()
    return out


def _cell(cell: Any) -> Any:
    """A table cell: a plain string, a Text (a list), or Columns of Texts."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Columns):
        return {"columns": [_text(item) for item in cell.renderables]}
    return _text(cell)


def _padding(padding: Padding) -> list[int]:
    return [padding.top, padding.right, padding.bottom, padding.left]


def _aligned(renderable: Any) -> Any:
    """What ``Align(renderable, pad=False)`` (left) wraps."""
    if not isinstance(renderable, Align) or renderable.align != "left" or renderable.pad:
        raise LayoutChangedError(f"expected a left Align without pad, got {renderable!r}")
    return renderable.renderable


def _block(renderable: Any, style: Any) -> dict[str, Any]:
    """One printed renderable as a block of :mod:`meshlake.cli.quickhelp`."""
    if isinstance(renderable, Panel):
        table = renderable.renderable
        if not isinstance(table, Table) or not isinstance(renderable.title, str):
            raise LayoutChangedError(f"expected a Panel of a Table, got {renderable!r}")
        rows = list(zip(*(list(column.cells) for column in table.columns), strict=True))
        block: dict[str, Any] = {
            "panel": renderable.title,
            "kind": "options" if table.highlight else "commands",
            "rows": [[_cell(cell) for cell in row] for row in rows],
        }
        if not table.highlight:
            block["name_width"] = table.columns[0].width
        return block
    if not isinstance(renderable, Padding):
        raise LayoutChangedError(f"expected a Panel or a Padding, got {renderable!r}")
    inner = renderable.renderable
    if isinstance(inner, Text):  # the usage line
        return {"usage": _text(inner), "padding": _padding(renderable), "style": style}
    inner = _aligned(inner)
    if isinstance(inner, Group):  # the help text
        texts = [_text(text) for text in inner.renderables]
        return {"help": texts, "padding": _padding(renderable), "fit": inner.fit}
    return {"epilog": _text(inner), "padding": _padding(renderable)}


# ------------------------------------------------------------------ the command tree
def _help_of(runner: CliRunner, app: Any, path: list[str]) -> dict[str, Any]:
    """Record ``meshlake PATH --help`` (and ``meshlake PATH`` when that shows the help)."""
    entry: dict[str, Any] = {}
    with _capturing() as capture:
        result = runner.invoke(app, [*path, "--help"])
    if result.exit_code != 0 or capture.calls != 1:
        raise LayoutChangedError(f"meshlake {' '.join(path)} --help: {result.output}")
    entry["help_options"] = capture.help_options
    entry["blocks"] = [_block(obj, style) for obj, style in capture.recorder.printed]
    entry["end"] = result.stdout
    return entry


def _bare(runner: CliRunner, app: Any, path: list[str], entry: dict[str, Any]) -> None:
    """Record ``meshlake PATH`` of a command that shows its help without arguments."""
    with _capturing() as capture:
        result = runner.invoke(app, path)
    blocks = [_block(obj, style) for obj, style in capture.recorder.printed]
    if capture.calls != 1 or blocks != entry["blocks"] or result.stderr:
        raise LayoutChangedError(f"meshlake {' '.join(path)}: {result.output}")
    entry["bare"] = {"code": result.exit_code, "end": result.stdout}


def _walk(runner: CliRunner, app: Any, command: Any, path: list[str]) -> dict[str, Any]:
    entry = _help_of(runner, app, path)
    if command.no_args_is_help:
        _bare(runner, app, path, entry)
    if hasattr(command, "list_commands"):
        entry["commands"] = {
            name: _walk(runner, app, command.get_command(None, name), [*path, name])
            for name in command.list_commands(None)
        }
    return entry


def record() -> str:
    """The help of every ``meshlake`` command, recorded from the real app, as the text of
    :data:`quickhelp.RECORD` (the layout of :class:`quickhelp.Record`)."""
    from meshlake.cli.root import app

    styles = {
        name: value
        for name, value in sorted(vars(rich_utils).items())
        if name.startswith(("STYLE_", "ALIGN_"))
    }
    theme = {
        "option": rich_utils.STYLE_OPTION,
        "switch": rich_utils.STYLE_SWITCH,
        "negative_option": rich_utils.STYLE_NEGATIVE_OPTION,
        "negative_switch": rich_utils.STYLE_NEGATIVE_SWITCH,
        "types": rich_utils.STYLE_TYPES,
        "types_sep": rich_utils.STYLE_TYPES_SEPARATOR,
        "usage": rich_utils.STYLE_USAGE,
    }
    header = {
        "format": quickhelp.FORMAT,
        "sources": quickhelp.fingerprint(),
        "console": {
            "theme": theme,
            "color_system": rich_utils.COLOR_SYSTEM,
            "highlights": list(rich_utils.highlighter.highlights),
            "styles": styles,
        },
    }
    runner = CliRunner(env={quickhelp.COMPLETE_VAR: None})
    root = _walk(runner, app, get_command(app), [])
    commands = root.pop("commands")
    lines = [_line(header), _line(["", root])]
    lines += [_line([name, entry]) for name, entry in commands.items()]
    return "\n".join(lines) + "\n"


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write() -> None:
    """Rewrite :data:`quickhelp.RECORD`."""
    with open(quickhelp.RECORD, "w", encoding="utf-8", newline="\n") as file:
        file.write(record())


if __name__ == "__main__":
    write()
    print(f"wrote {quickhelp.RECORD}", file=sys.stderr)
