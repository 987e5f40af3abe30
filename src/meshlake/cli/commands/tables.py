"""``meshlake table ...``: create, list, show, alter and drop tables."""

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshlake.cli.output import Output, bold, examples
from meshlake.cli.resources import parse_dotted
from meshlake.cli.state import get_state

if TYPE_CHECKING:
    from meshlake.service.catalog import TableDescription

__all__ = ["coerce_value", "parse_columns", "parse_rows", "table_app"]

table_app = typer.Typer(help="Tables (Apache Iceberg) of a database.", no_args_is_help=True)

TableArg = Annotated[str, typer.Argument(metavar="DB.TABLE", help="The table.")]
AccountOpt = Annotated[
    str | None,
    typer.Option(metavar="ACCOUNT", help="The account owning the database (default: your own)."),
]


TYPES = (
    "bigint, integer, double, varchar, boolean, date, timestamp, timestamptz, decimal(p,s), binary"
)


def _columns(what: str) -> Any:
    """The repeatable ``--column`` / ``-c NAME:TYPE`` option, ``what`` saying what it adds."""
    return typer.Option("--column", "-c", metavar="NAME:TYPE", help=f"{what}: {TYPES}.")


def parse_columns(specs: list[str]) -> dict[str, str]:
    """``name:type`` options as an ordered ``{name: type}``.

    >>> parse_columns(["id:bigint", "amount:decimal(10,2)"])
    {'id': 'bigint', 'amount': 'decimal(10,2)'}
    """
    columns: dict[str, str] = {}
    for spec in specs:
        name, sep, type_name = spec.partition(":")
        if not sep or not name.strip() or not type_name.strip():
            raise typer.BadParameter(
                f"write NAME:TYPE, as in id:bigint, not {spec!r}", param_hint="'--column'"
            )
        if name.strip() in columns:
            raise typer.BadParameter(
                f"column {name.strip()!r} is given twice", param_hint="'--column'"
            )
        columns[name.strip()] = type_name.strip()
    return columns


def coerce_value(value: Any, type_name: str) -> Any:
    """Turn a JSON value into the Python value a column of ``type_name`` takes.

    Dates and timestamps come as ISO text, decimals as numbers or text.

    >>> coerce_value("2024-02-29", "date"), coerce_value(1.5, "decimal(4,1)")
    (datetime.date(2024, 2, 29), Decimal('1.5'))
    """
    if value is None or not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return value
    kind = type_name.strip().lower()
    try:
        if kind == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if kind.startswith(("timestamp", "datetime")) and isinstance(value, str):
            return datetime.fromisoformat(value)
        if kind.startswith(("decimal", "numeric")):
            return Decimal(str(value))
    except (ValueError, InvalidOperation) as exc:
        raise typer.BadParameter(
            f"{value!r} is not a valid {type_name}", param_hint="'--rows-json'"
        ) from exc
    return value


def parse_rows(text: str, columns: dict[str, str]) -> list[list[Any]]:
    """Rows from JSON text (or ``@file``): a list of lists, or of objects keyed by column.

    >>> parse_rows('[[1, "us"], {"id": 2}]', {"id": "bigint", "region": "varchar"})
    [[1, 'us'], [2, None]]
    """
    hint = "'--rows-json'"
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {text[1:]}: {exc.strerror}", param_hint=hint
            ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", param_hint=hint
        ) from exc
    if not isinstance(data, list):
        raise typer.BadParameter("give a JSON list of rows", param_hint=hint)
    names, types = list(columns), list(columns.values())
    rows: list[list[Any]] = []
    for i, row in enumerate(data):
        if isinstance(row, dict):
            unknown = sorted(set(row) - set(names))
            if unknown:
                raise typer.BadParameter(
                    f"row {i} names unknown column(s) {', '.join(unknown)}", param_hint=hint
                )
            row = [row.get(n) for n in names]
        if not isinstance(row, list):
            raise typer.BadParameter(f"row {i} is neither a list nor an object", param_hint=hint)
        rows.append(
            [coerce_value(v, t) for v, t in zip(row, types, strict=False)] + row[len(types) :]
        )
    return rows


def _short_time(iso: str) -> str:
    """``2024-01-31T10:00:00.123+00:00`` as ``2024-01-31 10:00:00``."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return str(iso)


def _show(out: Output, desc: "TableDescription") -> None:
    out.fields(
        {
            "table": f"{desc.database}.{desc.name}",
            "account": desc.account,
            "location": desc.location,
            "creator": desc.creator,
            "description": desc.description or None,
        },
        title="Table",
    )
    out.table(
        ["column", "type"],
        [[c["name"], c["type"]] for c in desc.columns],
        title="Columns",
        empty="no columns you can see",
    )
    if desc.snapshots:
        out.table(
            ["snapshot id", "time", "operation", "schema", "added rows", "total rows"],
            [
                [
                    s["snapshot_id"],
                    _short_time(s["timestamp"]),
                    s["operation"],
                    s["schema_id"],
                    s["added_rows"],
                    s["total_rows"],
                ]
                for s in desc.snapshots
            ],
            title="Snapshots",
            no_wrap=["snapshot id", "time"],
        )
    if desc.schema_history:
        out.table(
            ["schema", "columns"],
            [
                [h["schema_id"], ", ".join(f"{c['name']} {c['type']}" for c in h["columns"])]
                for h in desc.schema_history
            ],
            title="Schema history",
        )


@table_app.command(
    "create",
    epilog=examples(
        "meshlake table create sales.orders -c id:bigint -c region:varchar -c amount:double "
        '--rows-json \'[[1, "us", 9.5], {"id": 2, "region": "eu"}]\'',
        "meshlake table create sales.orders -c id:bigint -c day:date --rows-json @rows.json",
    ),
)
def table_create(
    ctx: typer.Context,
    table: TableArg,
    column: Annotated[list[str], _columns("A column, repeated in order")],
    rows_json: Annotated[
        str | None,
        typer.Option(
            "--rows-json",
            metavar="JSON|@FILE",
            help="Initial rows: a JSON list of lists or of objects; @FILE reads a file.",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What the table holds.")] = "",
    location: Annotated[
        str | None,
        typer.Option(metavar="URI", help="Where its data goes (default: under the database)."),
    ] = None,
    account: AccountOpt = None,
) -> None:
    """Create a table from column definitions and optional rows (needs CREATE_TABLE)."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    columns = parse_columns(column)
    rows = parse_rows(rows_json, columns) if rows_json is not None else None
    with state.out.status(f"creating table {db}.{name}"):
        desc = state.op("catalog.create_table")(
            db, name, columns, rows, location=location, description=description, account=account
        )
    state.out.emit(
        desc,
        f"created table {bold(f'{db}.{name}')} with {len(desc.columns)} "
        f"columns and {len(rows or [])} rows",
    )


@table_app.command("list")
def table_list(
    ctx: typer.Context,
    database: Annotated[str, typer.Argument(metavar="DB", help="A database or link.")],
    account: AccountOpt = None,
) -> None:
    """List the tables of a database that you hold some permission on."""
    state = get_state(ctx)
    names = state.op("catalog.list_tables")(database, account=account)
    state.out.records(
        [{"database": database, "name": n} for n in names],
        ["name"],
        title=f"Tables of {database}",
        empty=f"no tables of {database} you can see",
    )


@table_app.command("show")
def table_show(ctx: typer.Context, table: TableArg, account: AccountOpt = None) -> None:
    """Describe a table: the columns you may see, its snapshots and schema history."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    desc = state.op("catalog.describe_table")(db, name, account=account)
    state.out.emit(desc, lambda: _show(state.out, desc))


@table_app.command(
    "add-columns",
    epilog=examples(
        "meshlake table add-columns sales.orders -c note:varchar -c discount:decimal(10,2)",
        "meshlake table add-columns sales.orders -c amount:double   # widen an integer column",
    ),
)
def table_add_columns(
    ctx: typer.Context,
    table: TableArg,
    column: Annotated[
        list[str], _columns("A new column, or an existing one with a wider type (repeatable)")
    ],
    account: AccountOpt = None,
) -> None:
    """Add columns to a table, or widen existing ones (needs ALTER): a new Iceberg schema;
    rows written before read NULL in the new columns."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    columns = parse_columns(column)
    import pyarrow as pa  # the data stack: only when a command needs it

    from meshlake.storage.types import arrow_type

    schema = pa.schema([(n, arrow_type(t)) for n, t in columns.items()])
    desc = state.op("catalog.evolve_schema")(db, name, schema, account=account)
    state.out.emit(
        desc,
        f"table {bold(f'{db}.{name}')} now has {len(desc.columns)} columns you can see",
    )


@table_app.command("rename-column")
def table_rename_column(
    ctx: typer.Context,
    table: TableArg,
    old: Annotated[str, typer.Argument(metavar="COLUMN", help="The column's name.")],
    new: Annotated[str, typer.Argument(metavar="NEW_NAME", help="Its new name.")],
    account: AccountOpt = None,
) -> None:
    """Rename a column (needs ALTER); its data and tags follow it. Refused while a grant
    or data filter names the column: they name columns by name."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    desc = state.op("catalog.rename_column")(db, name, old, new, account=account)
    state.out.emit(desc, f"renamed column {bold(old)} of {bold(f'{db}.{name}')} to {bold(new)}")


@table_app.command(
    "properties",
    epilog=examples(
        "meshlake table properties sales.orders",
        "meshlake table properties sales.orders --set owner=sales --unset draft",
    ),
)
def table_properties(
    ctx: typer.Context,
    table: TableArg,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Set a property (repeatable)."),
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="KEY", help="Remove a property (repeatable)."),
    ] = None,
    account: AccountOpt = None,
) -> None:
    """Show a table's properties; with --set / --unset, change them first (needs ALTER)."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    changes: dict[str, str | None] = {}
    for spec in set_ or []:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"write KEY=VALUE, as in owner=sales, not {spec!r}", param_hint="'--set'"
            )
        changes[key.strip()] = value
    for key in unset or []:
        changes[key.strip()] = None
    if changes:
        state.op("catalog.set_properties")(db, name, changes, account=account)
    props = state.op("catalog.properties")(db, name, account=account)
    state.out.emit(
        {"table": f"{db}.{name}", "properties": props},
        lambda: state.out.fields(props or {"(none)": ""}, title=f"Properties of {db}.{name}"),
    )


@table_app.command("drop")
def table_drop(
    ctx: typer.Context,
    table: TableArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    account: AccountOpt = None,
) -> None:
    """Drop a table with its grants, filters and tags (needs DROP); data files are deleted
    only in managed storage."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    drop = state.op("catalog.drop_table")  # fails (no mesh, no server) before asking
    if not yes:
        typer.confirm(f"Drop table {db}.{name}?", abort=True, err=True)
    dropped = drop(db, name, account=account)
    state.out.emit(
        {"dropped": f"{db}.{name}", "data_deleted": dropped.data_deleted, "note": dropped.note},
        f"dropped table {bold(f'{db}.{name}')}: {dropped.note}",
    )
