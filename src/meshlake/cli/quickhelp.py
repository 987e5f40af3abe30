"""Answer ``meshlake [COMMAND...] --help`` without importing typer or a command module.

Building the typer app (typer, its rich help module, every command module) costs more than
rendering a help. :mod:`meshlake.cli.helprecord` records, from the real app, what typer
prints for the help of every command (texts with their styles, the rows of each panel);
:func:`answer` looks the request up in that record (:data:`RECORD`) and lays the help out
with rich exactly as typer's ``rich_utils.rich_format_help`` does. The result is the same
bytes as typer's, for any terminal width and colour setting
(``tests/cli/test_quickhelp.py`` compares them for every command).

Only plain requests are answered here: ``meshlake``, ``meshlake COMMAND...`` of a group that
shows its help without arguments, and ``meshlake COMMAND... --help`` (or ``-h``), nothing
else on the line. Anything else, shell completion, a record of another format, or a record
written before the CLI sources last changed (:func:`fingerprint`), goes to the typer app.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["COMPLETE_VAR", "FORMAT", "RECORD", "Record", "answer", "fingerprint"]

#: The record, next to this module (written by ``python -m meshlake.cli.helprecord``).
RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quickhelp.json")
#: The version of the record's layout; a record of another version is ignored.
FORMAT = 1
#: Set by the shell when it asks ``meshlake`` for completions (click's ``_{PROG}_COMPLETE``).
COMPLETE_VAR = "_MESHLAKE_COMPLETE"


def fingerprint() -> str:
    """A checksum of the CLI's sources (``meshlake/cli/**/*.py``, line endings normalised):
    the record is used only while it matches.

    >>> len(fingerprint())
    8
    """
    root = os.path.dirname(os.path.abspath(__file__))
    crc = 0
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            crc = zlib.crc32(os.path.relpath(path, root).replace(os.sep, "/").encode(), crc)
            with open(path, "rb") as source:
                crc = zlib.crc32(source.read().replace(b"\r\n", b"\n"), crc)
    return f"{crc:08x}"


class Record:
    """The recorded help (:data:`RECORD`): a header line (``format``, ``sources``, the
    ``console`` settings), then one JSON line per top-level command, ``[NAME, ENTRY]`` (the
    root's NAME is ``""``), so a help request parses only the line it needs.

    An entry holds ``help_options`` (the words that ask for its help), ``blocks`` (what typer
    prints, see :func:`_render`), ``end`` (what click writes after it), ``bare`` (``code`` and
    ``end`` when the command shows its help without arguments) and ``commands`` (the entries
    of a group's commands; the root's are the other lines).
    """

    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self.header: dict[str, Any] = json.loads(self._lines[0])

    def entry(self, name: str) -> dict[str, Any] | None:
        """The entry of the top-level command ``name`` (``""``: the root), or None."""
        prefix = json.dumps([name])[:-1] + ","
        for line in self._lines[1:]:
            if line.startswith(prefix):
                return dict(json.loads(line)[1])
        return None

    def walk(self) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
        """Every command's path and entry, the root first."""
        for line in self._lines[1:]:
            if line:
                name, entry = json.loads(line)
                yield from _walk((name,) if name else (), entry)


def _walk(
    path: tuple[str, ...], entry: dict[str, Any]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    yield path, entry
    for name, sub in entry.get("commands", {}).items():
        yield from _walk((*path, name), sub)


def answer(argv: list[str]) -> int | None:
    """Print the help ``meshlake ARGV`` asks for and return the exit code, or return None
    (printing nothing) when the typer app must handle ``argv``."""
    if os.environ.get(COMPLETE_VAR) or any(word.startswith("-") for word in argv[:-1]):
        return None  # completion, or options before the last word: not a plain help request
    record = _load()
    if record is None:
        return None
    try:
        found = _lookup(record, argv)
        if found is None or record.header.get("sources") != fingerprint():
            return None
        config = record.header["console"]
        console = _console(config)
    except (ValueError, LookupError, TypeError, AttributeError):
        return None  # a damaged record, or a $TERMINAL_WIDTH typer cannot read either
    entry, bare = found
    try:
        _render(console, config["styles"], entry)
        end, code = (entry["bare"]["end"], entry["bare"]["code"]) if bare else (entry["end"], 0)
        sys.stdout.write(end)
        sys.stdout.flush()
    except BrokenPipeError:  # `meshlake --help | head`: as click, quietly exit 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return int(code)


def _load() -> Record | None:
    """The record, if it is there and of this :data:`FORMAT`."""
    try:
        with open(RECORD, encoding="utf-8") as file:
            record = Record(file.read())
    except (OSError, ValueError):
        return None
    if not isinstance(record.header, dict) or record.header.get("format") != FORMAT:
        return None
    return record


def _lookup(record: Record, argv: list[str]) -> tuple[dict[str, Any], bool] | None:
    """The entry whose help ``argv`` asks for, and whether it was asked for without
    arguments (``meshlake GROUP``); None when ``argv`` is not such a request."""
    entry = record.entry("")
    for i, word in enumerate(argv):
        if entry is None:
            return None
        if i == len(argv) - 1 and word in entry["help_options"]:
            return entry, False
        entry = record.entry(word) if i == 0 and word else entry.get("commands", {}).get(word)
    if entry is not None and "bare" in entry:
        return entry, True
    return None


# ------------------------------------------------------------------ layout
def _render(console: Any, styles: dict[str, Any], entry: dict[str, Any]) -> None:
    """Print one recorded help on ``console`` as typer's ``rich_format_help`` lays it out
    (``styles``: typer's ``STYLE_*`` and ``ALIGN_*`` settings)."""
    from rich.align import Align
    from rich.console import Group
    from rich.padding import Padding

    for block in entry["blocks"]:
        padding = tuple(block.get("padding", ()))
        if "usage" in block:
            console.print(Padding(_text(block["usage"]), padding), style=block["style"])
        elif "help" in block:
            texts = [_text(text) for text in block["help"]]
            group = Group(*texts, fit=block["fit"])
            console.print(Padding(Align(group, pad=False), padding))
        elif "epilog" in block:
            console.print(Padding(Align(_text(block["epilog"]), pad=False), padding))
        else:
            console.print(_panel(styles, block))


def _console(config: dict[str, Any]) -> Any:
    """A rich console as typer's ``rich_utils._get_rich_console`` makes it (with the
    environment variables typer reads when imported)."""
    from rich.console import Console
    from rich.highlighter import RegexHighlighter
    from rich.theme import Theme

    highlights = list(config["highlights"])
    highlighter = type("OptionHighlighter", (RegexHighlighter,), {"highlights": highlights})()
    width = os.environ.get("TERMINAL_WIDTH")
    force_terminal = (
        True
        if any(os.environ.get(n) for n in ("GITHUB_ACTIONS", "FORCE_COLOR", "PY_COLORS"))
        else None
    )
    if os.environ.get("_TYPER_FORCE_DISABLE_TERMINAL"):
        force_terminal = False
    return Console(
        theme=Theme(config["theme"]),
        highlighter=highlighter,
        color_system=config["color_system"],
        force_terminal=force_terminal,
        width=int(width) if width else None,
    )


def _panel(styles: dict[str, Any], block: dict[str, Any]) -> Any:
    """A panel of options (typer's ``_print_options_panel``) or of commands
    (``_print_commands_panel``)."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    kind = "OPTIONS" if block["kind"] == "options" else "COMMANDS"
    table = Table(
        highlight=kind == "OPTIONS",
        show_header=False,
        expand=True,
        box=getattr(box, styles[f"STYLE_{kind}_TABLE_BOX"], None),
        show_lines=styles[f"STYLE_{kind}_TABLE_SHOW_LINES"],
        leading=styles[f"STYLE_{kind}_TABLE_LEADING"],
        border_style=styles[f"STYLE_{kind}_TABLE_BORDER_STYLE"],
        row_styles=styles[f"STYLE_{kind}_TABLE_ROW_STYLES"],
        pad_edge=styles[f"STYLE_{kind}_TABLE_PAD_EDGE"],
        padding=tuple(styles[f"STYLE_{kind}_TABLE_PADDING"]),
    )
    if kind == "COMMANDS":
        table.add_column(
            style=styles["STYLE_COMMANDS_TABLE_FIRST_COLUMN"],
            no_wrap=True,
            width=block["name_width"],
        )
        table.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for row in block["rows"]:
        table.add_row(*(_cell(cell) for cell in row))
    return Panel(
        table,
        border_style=styles[f"STYLE_{kind}_PANEL_BORDER"],
        title=block["panel"],
        title_align=styles[f"ALIGN_{kind}_PANEL"],
    )


def _cell(cell: Any) -> Any:
    """A table cell from its record: a string, a Text, or ``{"columns": [Text, ...]}``."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, dict):
        from rich.columns import Columns

        return Columns([_text(item) for item in cell["columns"]])
    return _text(cell)


#: What a Text record leaves out at its end: no style, no spans, no settings.
_TEXT_DEFAULTS: tuple[Any, ...] = ("", "", (), {})


def _text(data: list[Any]) -> Any:
    """A rich Text from its record: ``[plain, style, spans, settings]``, trailing empty items
    left out."""
    from rich.text import Span, Text

    plain, style, spans, settings = [*data, *_TEXT_DEFAULTS[len(data) :]]
    return Text(
        plain,
        style=style,
        spans=[Span(start, end, span_style) for start, end, span_style in spans],
        **settings,
    )
