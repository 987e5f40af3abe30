"""``meshlake query SQL``: run one governed SELECT and show or save the rows."""

import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from meshlake.cli.output import Output, bold, cell, examples, to_jsonable
from meshlake.cli.state import get_state

if TYPE_CHECKING:
    import pyarrow as pa

    from meshlake.query.results import QueryResult

__all__ = ["OutputFormat", "fits", "read_sql", "register", "result_document", "write_result"]

SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


class OutputFormat(StrEnum):
    """How ``meshlake query`` writes its result."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def read_sql(text: str) -> str:
    """The SQL itself: ``-`` reads stdin, ``@FILE`` reads a file, anything else is SQL."""
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {text[1:]}: {exc.strerror}", param_hint="'SQL'"
            ) from exc
    return text


def result_document(result: "QueryResult") -> dict[str, Any]:
    """The JSON form of a result: ``{"query_id", "columns", "rows"}``."""
    return {
        "query_id": result.query_id,
        "columns": list(result.columns),
        "rows": to_jsonable([list(r) for r in result.rows()]),
    }


def write_result(result: "QueryResult", fmt: OutputFormat, out: Path | None) -> None:
    """Write the result as CSV, JSON or Parquet to ``out`` (CSV and JSON: stdout if None)."""
    if fmt is OutputFormat.parquet:
        import pyarrow.parquet as pq

        if out is None:
            raise ValueError("parquet output needs a file")
        pq.write_table(result.to_arrow(), out)
        return
    if fmt is OutputFormat.csv:
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(result.to_arrow(), buffer)
        text = buffer.getvalue().decode("utf-8")
    else:
        text = json.dumps(result_document(result), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


#: Widest a cell counts when deciding whether a result fits the terminal as a table.
CELL_WIDTH = 24


def fits(columns: list[str], rows: list[tuple[Any, ...]], width: int) -> bool:
    """Whether a table of ``rows`` fits ``width`` columns without folding cells.

    >>> fits(["a", "b"], [(1, "x")], 80), fits([f"c{i}" for i in range(30)], [], 80)
    (True, False)
    """
    needed = 1
    for i, name in enumerate(columns):
        longest = max([len(name), *(len(cell(r[i])) for r in rows)])
        needed += min(longest, CELL_WIDTH) + 3
    return needed <= width


def _show(out: Output, result: "QueryResult", max_rows: int, expanded: bool | None) -> None:
    rows = result.rows()
    shown = rows[:max_rows]
    columns = result.columns
    if shown and expanded is None:
        expanded = not fits(columns, shown, out.console.width)
    if shown and expanded:
        for i, row in enumerate(shown, 1):
            out.fields(list(zip(columns, row, strict=True)), title=f"row {i}")
    elif shown:
        numeric = [i for i, f in enumerate(result.schema) if _is_number(f.type)]
        out.table(columns, shown, right=numeric)
    if rows:
        summary = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    else:
        summary = f"no rows (columns: {', '.join(columns)})"
    if len(shown) < len(rows):
        summary += f", showing the first {len(shown)} (--max-rows)"
    if result.query_id:
        summary += f" · query id {result.query_id}"
    out.console.print(Text(summary, style="dim"), soft_wrap=True)


def _is_number(t: "pa.DataType") -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def query(
    ctx: typer.Context,
    sql: Annotated[
        str,
        typer.Argument(
            metavar="SQL", help="One SELECT statement; @FILE reads it from a file, - from stdin."
        ),
    ],
    database: Annotated[
        str | None,
        typer.Option(
            "--database", "-d", metavar="DB", help="Default database for unqualified tables."
        ),
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="table (the default), csv, json, or parquet (needs --out); with --out the "
            "default comes from the file's suffix.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the rows to FILE instead of stdout."),
    ] = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows shown in the table output.")] = 20,
    expanded: Annotated[
        bool | None,
        typer.Option(
            "--expanded/--no-expanded",
            "-x",
            help="Show each row as a list of column: value lines (default: when the table "
            "is wider than the terminal).",
        ),
    ] = None,
    workgroup: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Workgroup that stores the result (default: primary)."),
    ] = None,
) -> None:
    """Run a governed SQL query as --as: only the rows and columns it may read."""
    state = get_state(ctx)
    fmt = output or (
        OutputFormat(SUFFIXES[out.suffix.lower()])
        if out is not None and out.suffix.lower() in SUFFIXES
        else None
    )
    if out is not None and fmt in (None, OutputFormat.table):
        raise typer.BadParameter(
            "--out writes csv, json or parquet: add --output, or use a "
            ".csv, .json or .parquet file name",
            param_hint="'--out'",
        )
    fmt = fmt or OutputFormat.table
    if fmt is OutputFormat.parquet and out is None:
        raise typer.BadParameter("parquet output needs --out FILE", param_hint="'--output'")
    text = read_sql(sql)
    session = state.session()
    with state.out.status("running query"):
        result = session.query(text, database=database, workgroup=workgroup)
    if out is not None:
        write_result(result, fmt, out)
        rows = result.to_arrow().num_rows
        state.out.emit(
            {"query_id": result.query_id, "rows": rows, "format": fmt.value, "out": str(out)},
            f"wrote {rows} rows to {bold(out)} ({fmt.value})"
            + (f" · query id {bold(result.query_id)}" if result.query_id else ""),
        )
    elif state.json or fmt is OutputFormat.json:
        state.out.print_json(result_document(result))
    elif fmt is OutputFormat.csv:
        write_result(result, fmt, None)
    else:
        _show(state.out, result, max_rows, expanded)


def register(app: typer.Typer) -> None:
    """Add ``query`` to the root app."""
    app.command(
        "query",
        rich_help_panel="Query and audit",
        epilog=examples(
            'meshlake --as consumer/analyst query "SELECT * FROM rl_sales.orders LIMIT 5"',
            'meshlake query "SELECT region, count(*) AS n FROM orders GROUP BY 1" -d sales -o csv',
            "meshlake query @monthly.sql --out monthly.parquet",
        ),
    )(query)
