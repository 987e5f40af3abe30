"""Progress bars go to a terminal's stderr, never into JSON or a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from meshlake.cli.output import Output


def _output(*, json_mode: bool, terminal: bool) -> tuple[Output, io.StringIO]:
    buffer = io.StringIO()
    err = Console(file=buffer, force_terminal=terminal, width=100)
    return Output(json_mode=json_mode, err_console=err), buffer


def test_progress_on_a_terminal() -> None:
    out, buffer = _output(json_mode=False, terminal=True)
    with out.progress("crawling s3://b/landing") as update:
        update(1, 2, "part-1.csv")
        update(2, 2, "part-2.csv")
    text = buffer.getvalue()
    assert "crawling s3://b/landing" in text and "2/2" in text


def test_no_progress_in_json_or_a_pipe() -> None:
    for json_mode, terminal in ((True, True), (False, False)):
        out, buffer = _output(json_mode=json_mode, terminal=terminal)
        with out.progress("crawling") as update:
            update(1, None, "a.csv")
        assert buffer.getvalue() == ""
