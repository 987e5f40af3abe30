"""``meshlake database ...`` and ``meshlake location ...``."""

from typing import TYPE_CHECKING, Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import parse_dotted
from meshlake.cli.state import get_state

if TYPE_CHECKING:
    from meshlake.service.catalog import DatabaseInfo

__all__ = ["database_app", "location_app"]

database_app = typer.Typer(
    help="Databases and resource links (a link names another account's database).",
    no_args_is_help=True,
)
location_app = typer.Typer(
    help="Registered data locations: data inside one needs DATA_LOCATION_ACCESS.",
    no_args_is_help=True,
)


def _db_row(db: "DatabaseInfo") -> list[str | None]:
    link = f"{db.link['account']}.{db.link['database']}" if db.link else None
    return [
        db.name,
        db.account,
        "link" if link else "database",
        link or db.location,
        db.description,
    ]


@database_app.command("create")
def database_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Database name (letters, digits, _ and -).")],
    description: Annotated[str, typer.Option(help="What the database holds.")] = "",
    location: Annotated[
        str | None,
        typer.Option(metavar="URI", help="Where its tables' data goes (default: the warehouse)."),
    ] = None,
) -> None:
    """Create a database in your account (needs CREATE_DATABASE on the catalog)."""
    state = get_state(ctx)
    info = state.op("catalog.create_database")(name, description, location)
    state.out.emit(info, f"created database {bold(info.name)} in account {bold(info.account)}")


@database_app.command("list")
def database_list(ctx: typer.Context) -> None:
    """List the databases and links you can see, in every account."""
    state = get_state(ctx)
    dbs = state.op("catalog.list_databases")()
    if state.json:
        state.out.print_json(dbs)
        return
    state.out.table(
        ["name", "account", "kind", "location / target", "description"],
        [_db_row(db) for db in dbs],
        title="Databases",
        empty="no databases you can see",
    )


@database_app.command(
    "link", epilog=examples("meshlake --as consumer/admin database link rl_sales central.sales")
)
def database_link(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the link in your account.")],
    target: Annotated[
        str, typer.Argument(metavar="ACCOUNT.DATABASE", help="The database it points to.")
    ],
) -> None:
    """Create a resource link to another account's database (needs CREATE_DATABASE)."""
    state = get_state(ctx)
    account, database = parse_dotted(target, 2, "ACCOUNT.DATABASE", "ACCOUNT.DATABASE")
    info = state.op("catalog.create_resource_link")(name, account=account, database=database)
    state.out.emit(info, f"created link {bold(info.name)} -> {bold(target)}")


@database_app.command("drop")
def database_drop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An empty database, or a link.")],
) -> None:
    """Drop an empty database or a link of your account (needs DROP)."""
    state = get_state(ctx)
    state.op("catalog.drop_database")(name)
    state.out.emit({"dropped": name}, f"dropped database {bold(name)}")


@location_app.command("register")
def location_register(
    ctx: typer.Context,
    uri: Annotated[str, typer.Argument(help="A folder URI: file:///path or s3://bucket/prefix.")],
) -> None:
    """Register a data location with your account (admins only)."""
    state = get_state(ctx)
    loc = state.op("catalog.register_location")(uri)
    state.out.emit({"uri": loc}, f"registered location {bold(loc)}")


@location_app.command("list")
def location_list(ctx: typer.Context) -> None:
    """List the locations registered with your account."""
    state = get_state(ctx)
    locations = state.op("catalog.list_locations")()
    state.out.records(
        [{"uri": u} for u in locations], ["uri"], title="Locations", empty="no registered locations"
    )
