"""``meshlake filter ...``: data filters (a row filter plus a column include/exclude list)."""

from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import parse_dotted, parse_list
from meshlake.cli.state import get_state

__all__ = ["filter_app"]

filter_app = typer.Typer(
    help="Data filters: which rows (and cells) of a table a grant on the filter shows.",
    no_args_is_help=True,
)

FilterArg = Annotated[
    str, typer.Argument(metavar="DB.TABLE.FILTER", help="The table and the filter's name.")
]
AccountOpt = Annotated[
    str | None,
    typer.Option(metavar="ACCOUNT", help="The account owning the table (default: your own)."),
]


@filter_app.command(
    "create",
    epilog=examples(
        "meshlake filter create sales.orders.us_only --row-filter \"region = 'us'\" "
        "--excluded-columns email",
        "meshlake grant consumer/analyst --filter sales.orders.us_only -p SELECT",
    ),
)
def filter_create(
    ctx: typer.Context,
    filter_name: FilterArg,
    row_filter: Annotated[
        str | None,
        typer.Option(
            "--row-filter",
            metavar="EXPR",
            help="Rows to show: column op constant, joined by AND / OR / NOT, e.g. "
            "\"region = 'us' AND amount > 100\".",
        ),
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all-rows", help="Show every row.")] = False,
    columns: Annotated[
        str | None, typer.Option(metavar="A,B", help="Only these columns show values.")
    ] = None,
    excluded_columns: Annotated[
        str | None, typer.Option(metavar="A,B", help="These columns show NULL.")
    ] = None,
    account: AccountOpt = None,
) -> None:
    """Create a data filter on a table; grant SELECT on it with `meshlake grant --filter`."""
    state = get_state(ctx)
    db, table, name = parse_dotted(filter_name, 3, "DB.TABLE.FILTER", "DB.TABLE.FILTER")
    if (row_filter is None) == (not all_rows):
        raise typer.BadParameter(
            "give exactly one of --row-filter and --all-rows", param_hint="'--row-filter'"
        )
    view = state.op("filters.create")(
        db,
        table,
        name,
        row_filter=row_filter,
        all_rows=all_rows,
        columns=parse_list(columns),
        excluded_columns=parse_list(excluded_columns),
        account=account,
    )
    state.out.emit(view, f"created data filter {bold(name)} on {bold(f'{db}.{table}')}")


@filter_app.command("list")
def filter_list(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(metavar="DB.TABLE", help="The table.")],
    account: AccountOpt = None,
) -> None:
    """List a table's data filters that you may see."""
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    views = state.op("filters.list")(db, name, account=account)
    state.out.records(
        views,
        ["name", "row_filter", "columns", "excluded_columns", "creator"],
        title=f"Data filters of {db}.{name}",
        empty="no data filters you can see",
    )


@filter_app.command("drop")
def filter_drop(ctx: typer.Context, filter_name: FilterArg, account: AccountOpt = None) -> None:
    """Drop a data filter (its creator or an admin); grants on it go too."""
    state = get_state(ctx)
    db, table, name = parse_dotted(filter_name, 3, "DB.TABLE.FILTER", "DB.TABLE.FILTER")
    state.op("filters.drop")(db, table, name, account=account)
    state.out.emit({"dropped": filter_name}, f"dropped data filter {bold(filter_name)}")
