"""Rendering for the command line: rich tables and messages for people, JSON for scripts.

Every command hands its result to one :class:`Output`. In human mode it prints rich tables
and one-line messages on stdout; with ``--json`` it prints exactly one JSON document on
stdout. Errors always go to stderr: one red line ``error (kind): message``, or
``{"error": {"type": kind, "message": ...}}`` in JSON mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from meshlake.errors import MeshError
from meshlake.jsonable import to_jsonable

__all__ = ["Output", "bold", "cell", "examples", "to_jsonable"]


def bold(text: object) -> str:
    """``text`` escaped for rich markup and printed in bold.

    >>> bold("[red]")
    '[bold]\\\\[red][/bold]'
    """
    return f"[bold]{escape(str(text))}[/bold]"


def examples(*lines: str) -> str:
    """A command's help epilog listing example invocations (escaped for rich markup).

    >>> print(examples("meshlake tag create domain sales hr"))
    Examples:
    <BLANKLINE>
      $ meshlake tag create domain sales hr
    """
    return "Examples:\n\n" + "\n".join(f"  $ {escape(line)}" for line in lines)


def cell(value: Any) -> str:
    """How one value looks in a human table (``None`` shows as an empty cell).

    >>> cell(None), cell(["a", "b"]), cell(1.5)
    ('', 'a, b', '1.5')
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


class Output:
    """Where a command's results and errors go.

    Args:
        json_mode: print JSON documents instead of tables and messages.
        console: the stdout console (default: a new rich console on ``sys.stdout``).
        err_console: the stderr console.
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        console: Console | None = None,
        err_console: Console | None = None,
    ) -> None:
        self.json = json_mode
        self.console = console or Console(highlight=False)
        self.err_console = err_console or Console(stderr=True, highlight=False)

    # ------------------------------------------------------------ results
    def emit(self, value: Any, human: str | Callable[[], None]) -> None:
        """Print ``value`` as JSON in ``--json`` mode; otherwise ``human``.

        Args:
            value: the command's result (anything :func:`to_jsonable` accepts).
            human: a rich-markup success message, or a function that prints the human form.
        """
        if self.json:
            self.print_json(value)
        elif callable(human):
            human()
        else:
            self.success(human)

    def print_json(self, value: Any, *, err: bool = False) -> None:
        """One JSON document on stdout (or stderr)."""
        typer.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False), err=err)

    def success(self, message: str) -> None:
        """A green check mark and a rich-markup message."""
        self.console.print(f"[green]✓[/green] {message}", soft_wrap=True)

    def note(self, message: str) -> None:
        """A dim hint on stderr (human mode only): what to do next."""
        if not self.json:
            self.err_console.print(Text(message, style="dim"), soft_wrap=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
        no_wrap: Sequence[str] = (),
        right: Sequence[int] = (),
    ) -> None:
        """A rich table (human mode); ``empty`` is printed instead when there are no rows.

        Columns named in ``no_wrap`` (identifiers, times) are never folded; the columns at
        the positions in ``right`` (numbers) are right-aligned.
        """
        if not rows:
            self.console.print(Text(empty, style="dim"), soft_wrap=True)
            return
        table = RichTable(
            title=title,
            title_justify="left",
            header_style="bold",
            min_width=min(len(title or ""), self.console.width),
        )
        for i, name in enumerate(columns):
            table.add_column(
                name,
                overflow="fold",
                no_wrap=name in no_wrap,
                justify="right" if i in right else "left",
            )
        for row in rows:
            table.add_row(*(Text(cell(v)) for v in row))
        self.console.print(table)

    def records(
        self,
        items: Sequence[Any],
        columns: Sequence[str],
        *,
        title: str | None = None,
        empty: str = "nothing to show",
    ) -> None:
        """JSON list of ``items`` or a table of their ``columns`` (keys of their JSON form)."""
        data = [to_jsonable(i) for i in items]
        if self.json:
            self.print_json(data)
            return
        self.table(columns, [[d.get(c) for c in columns] for d in data], title=title, empty=empty)

    def fields(
        self,
        pairs: Mapping[str, Any] | Sequence[tuple[str, Any]],
        *,
        title: str | None = None,
    ) -> None:
        """``name  value`` lines without borders (a record, or a table's properties)."""
        table = RichTable(
            show_header=False, box=None, title=title, title_justify="left", title_style="bold"
        )
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in pairs.items() if isinstance(pairs, Mapping) else pairs:
            table.add_row(key, Text(cell(value)))
        self.console.print(table)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on stderr while long work runs (only on a terminal, never in JSON)."""
        if self.json or not self.err_console.is_terminal:
            yield
            return
        with self.err_console.status(escape(message)):
            yield

    @contextmanager
    def progress(self, title: str) -> Iterator[Callable[[float, float | None, str], None]]:
        """A progress bar on stderr while long work runs (only on a terminal, never in JSON).

        Yields ``update(done, total, label)``: ``done`` of ``total`` steps (``total`` None:
        unknown), ``label`` what is being worked on.
        """
        if self.json or not self.err_console.is_terminal:
            yield lambda done, total, label: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(escape(title), total=None)

            def update(done: float, total: float | None, label: str) -> None:
                description = escape(f"{title}: {label}" if label else title)
                bar.update(task, completed=done, total=total, description=description)

            yield update

    # ------------------------------------------------------------ errors
    def error(self, kind: str, message: str, **details: Any) -> None:
        """Report an error on stderr: a red line, or the JSON error document."""
        if self.json:
            self.print_json({"error": {"type": kind, "message": message, **details}}, err=True)
        else:
            self.err_console.print(Text(f"error ({kind}): {message}", style="red"), soft_wrap=True)

    def mesh_error(self, exc: MeshError) -> None:
        """Report a :class:`MeshError` (its kind, message and structured details)."""
        data = exc.to_dict()
        kind, message = data.pop("type"), data.pop("message")
        self.error(kind, message, **data)
