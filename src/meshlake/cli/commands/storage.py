"""``meshlake crawl ...``, ``meshlake recipe ...`` and ``meshlake append``: data into tables.

- ``crawl run`` reads a folder of CSV / JSON / Parquet files into tables (Glue-crawler
  style), ``crawl runs`` lists what earlier crawls did;
- ``recipe run`` applies a curation recipe (YAML) from one table to another, ``recipe runs``
  lists the recorded runs (their lineage);
- ``append`` adds the rows of a local CSV or Parquet file to a table (needs INSERT).
"""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import parse_dotted
from meshlake.cli.state import CliState, get_state

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["conform", "crawl_app", "read_table_file", "recipe_app", "register"]

crawl_app = typer.Typer(
    help="Crawl folders of CSV, JSON and Parquet files into tables (schema inferred, "
    "partitions found, new files appended on the next run).",
    no_args_is_help=True,
)
recipe_app = typer.Typer(
    help="Curation recipes: YAML steps (rename, cast, filter, derive, deduplicate ...) "
    "applied from a source table to a target table, recorded as lineage.",
    no_args_is_help=True,
)

AccountOpt = Annotated[
    str | None,
    typer.Option(metavar="ACCOUNT", help="The account owning the database (default: your own)."),
]


class UpdateBehavior(StrEnum):
    """What a crawl does when new files change a table's schema."""

    update = "UPDATE_IN_DATABASE"
    log = "LOG"


class DeleteBehavior(StrEnum):
    """What a crawl does with a table whose files all disappeared."""

    deprecate = "DEPRECATE_IN_DATABASE"
    delete = "DELETE_FROM_DATABASE"
    log = "LOG"


class FileFormat(StrEnum):
    """The format of a file given to ``append``."""

    csv = "csv"
    parquet = "parquet"


SUFFIXES = {".csv": FileFormat.csv, ".parquet": FileFormat.parquet, ".pq": FileFormat.parquet}


# ------------------------------------------------------------------ crawl
@crawl_app.command(
    "run",
    epilog=examples(
        "meshlake --as producer/steward crawl run ./landing/orders --database sales",
        "meshlake crawl run s3://bucket/landing --database sales --update-behavior LOG",
    ),
)
def crawl_run(
    ctx: typer.Context,
    location: Annotated[
        str, typer.Argument(metavar="LOCATION", help="A folder, file:///path or s3://bucket/key.")
    ],
    database: Annotated[
        str, typer.Option("--database", "-d", metavar="DB", help="Where the tables go.")
    ],
    table: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="One table for every file (default: one per folder)."),
    ] = None,
    update_behavior: Annotated[
        UpdateBehavior,
        typer.Option(help="When new files change a table's schema: add the columns, or log."),
    ] = UpdateBehavior.update,
    delete_behavior: Annotated[
        DeleteBehavior,
        typer.Option(help="When a table's files are all gone: deprecate, drop, or log."),
    ] = DeleteBehavior.deprecate,
    account: AccountOpt = None,
) -> None:
    """Crawl a location into tables of a database; unchanged files are skipped next time.

    Crawling inside a registered location needs DATA_LOCATION_ACCESS on it.
    """
    state = get_state(ctx)
    crawl = state.op("storage.crawl")
    policy: Any = {
        "update_behavior": update_behavior.value,
        "delete_behavior": delete_behavior.value,
    }
    if not state.remote:
        from meshlake.storage.crawler import SchemaChangePolicy

        policy = SchemaChangePolicy(**policy)
    with state.out.progress(f"crawling {location}") as update:

        def progress(path: str, done: int, total: int) -> None:
            update(done, total, Path(path).name)

        run = crawl(
            location,
            database=database,
            table=table,
            policy=policy,
            account=account,
            **state.embedded_only(progress=progress),
        )
    _show_crawl(state, run)


def _show_crawl(state: CliState, run: Any) -> None:
    data = run.to_dict()
    if state.json:
        state.out.print_json(data)
        return
    state.out.fields(
        [
            ("run", data["id"]),
            ("state", data["state"]),
            ("database", data.get("database")),
            ("tables created", data.get("tables_created")),
            ("tables updated", data.get("tables_updated")),
            ("tables deprecated", data.get("tables_deprecated")),
            ("tables deleted", data.get("tables_deleted")),
            ("rows added", data.get("rows_added")),
            ("files read", data.get("files_read")),
            ("files skipped", data.get("files_skipped")),
        ],
        title="Crawl",
    )
    errors = data.get("errors") or []
    if errors:
        state.out.table(
            ["file", "table", "error"],
            [[e.get("path"), e.get("table"), e.get("message")] for e in errors],
            title="Files that could not be read",
        )
    changes = data.get("schema_changes") or []
    if changes:
        state.out.records(changes, list(changes[0]), title="Schema changes")
    if data["state"] != "SUCCEEDED":
        state.out.note(
            "fix the files listed above and run the crawl again: files already read are skipped"
        )


@crawl_app.command("runs")
def crawl_runs(
    ctx: typer.Context,
    location: Annotated[
        str | None, typer.Option(metavar="LOCATION", help="Only the runs of this location.")
    ] = None,
) -> None:
    """List recorded crawl runs, newest first."""
    state = get_state(ctx)
    if location is not None and "://" not in location:
        location = Path(location).resolve().as_uri()
    runs = state.op("storage.crawl_runs")(location)
    state.out.records(
        runs,
        ["id", "state", "database", "location", "rows_added", "files_read", "started_at"],
        title="Crawl runs",
        empty="no crawl runs: start one with `meshlake crawl run LOCATION --database DB`",
    )


# ------------------------------------------------------------------ recipes
@recipe_app.command(
    "run",
    epilog=examples(
        "meshlake --as producer/steward recipe run clean_orders.yaml "
        "--source raw.orders --target curated.orders"
    ),
)
def recipe_run(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Argument(metavar="RECIPE.yaml", help="The recipe file.")],
    source: Annotated[str, typer.Option(metavar="DB.TABLE", help="The table read.")],
    target: Annotated[
        str, typer.Option(metavar="DB.TABLE", help="The table written (created when missing).")
    ],
) -> None:
    """Run a recipe from a source table into a target table.

    The source is read through governed SQL as you; the target needs INSERT, or CREATE_TABLE
    when it is new.
    """
    state = get_state(ctx)
    parse_dotted(source, 2, "--source", "DB.TABLE")
    parse_dotted(target, 2, "--target", "DB.TABLE")
    try:
        text = recipe.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {recipe}: {exc.strerror}", param_hint="'RECIPE.yaml'"
        ) from exc
    import yaml  # the recipe travels as its mapping: the same embedded and remote

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise typer.BadParameter(
            f"{recipe} is not YAML: {exc}", param_hint="'RECIPE.yaml'"
        ) from exc
    if not isinstance(spec, dict):
        raise typer.BadParameter(
            f"{recipe} holds no recipe (a mapping with steps)", param_hint="'RECIPE.yaml'"
        )
    with state.out.status(f"running recipe {spec.get('name') or recipe.name}"):
        run = state.op("storage.run_recipe")(spec, source=source, target=target)
    data = run.to_dict()
    if state.json:
        state.out.print_json(data)
        return
    state.out.success(
        f"recipe {bold(data.get('recipe_name') or recipe.name)}: {data['rows_in']} rows in, "
        f"{data['rows_out']} rows out, {bold(target)} at snapshot "
        f"{data['target']['snapshot_id']}"
    )


@recipe_app.command("runs")
def recipe_runs(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option(metavar="DB.TABLE", help="Only the runs into this table.")
    ] = None,
) -> None:
    """List recorded recipe runs (source and target snapshots), newest first."""
    state = get_state(ctx)
    runs = state.op("storage.recipe_runs")(target)
    if state.json:
        state.out.print_json(runs)
        return
    state.out.table(
        ["id", "recipe", "source", "target", "rows in", "rows out", "principal", "finished"],
        [
            [
                r.get("id"),
                r.get("recipe_name"),
                (r.get("source") or {}).get("table"),
                (r.get("target") or {}).get("table"),
                r.get("rows_in"),
                r.get("rows_out"),
                r.get("principal"),
                r.get("finished_at"),
            ]
            for r in runs
        ],
        title="Recipe runs",
        empty="no recipe runs: start one with `meshlake recipe run RECIPE.yaml ...`",
    )


# ------------------------------------------------------------------ append
def read_table_file(path: Path, fmt: FileFormat | None) -> "pa.Table":
    """The rows of a local CSV or Parquet file as an Arrow table.

    Raises:
        typer.BadParameter: an unknown format, or a file that cannot be read.
    """
    fmt = fmt or SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise typer.BadParameter(
            f"cannot tell the format of {path.name}: name it .csv or .parquet, or add --format",
            param_hint="'FILE'",
        )
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path) if fmt is FileFormat.parquet else pacsv.read_csv(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise typer.BadParameter(
            f"cannot read {path} as {fmt.value}: {exc}", param_hint="'FILE'"
        ) from exc


def conform(data: "pa.Table", columns: list[dict[str, Any]], table: str) -> "pa.Table":
    """``data`` with the table's columns in its order and types (CSV reads ints as int64,
    dates as text ...).

    Raises:
        InvalidInputError: the file's columns are not the table's, or a value does not fit
            its column's type.
    """
    import pyarrow as pa

    from meshlake.errors import InvalidInputError
    from meshlake.storage.types import arrow_type

    names = [str(c["name"]) for c in columns]
    missing = [n for n in names if n not in data.column_names]
    extra = [n for n in data.column_names if n not in names]
    if missing or extra:
        raise InvalidInputError(
            f"the file's columns do not match {table}: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in the table {', '.join(extra)}" if extra else "",
                )
                if part
            )
            + f" (the table has {', '.join(names)}: `meshlake table show {table}`)"
        )
    data = data.select(names)
    try:
        schema = pa.schema([(str(c["name"]), arrow_type(str(c["type"]))) for c in columns])
    except InvalidInputError:  # a type this side cannot name: let the table check it
        return data
    try:
        return data.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(
            f"the file's values do not fit the columns of {table}: {exc}"
        ) from exc


def append(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(metavar="DB.TABLE", help="The table.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A .csv or .parquet file.")],
    fmt: Annotated[
        FileFormat | None,
        typer.Option("--format", help="The file's format (default: from its suffix)."),
    ] = None,
    account: AccountOpt = None,
) -> None:
    """Append the rows of a CSV or Parquet file to a table (needs INSERT).

    The file's columns must be the table's; values are cast to the column types.
    """
    state = get_state(ctx)
    db, name = parse_dotted(table, 2, "DB.TABLE", "DB.TABLE")
    data = read_table_file(file, fmt)
    described = state.op("catalog.get_table")(db, name, account=account)
    data = conform(data, described.columns, f"{db}.{name}")
    with state.out.status(f"appending {data.num_rows} rows to {db}.{name}"):
        snapshot = state.op("catalog.append")(db, name, data=data, account=account)
    state.out.emit(
        {"table": f"{db}.{name}", "rows": data.num_rows, "snapshot_id": snapshot},
        f"appended {data.num_rows} rows to {bold(f'{db}.{name}')} (snapshot {snapshot})",
    )


def register(app: typer.Typer) -> None:
    """Add ``append``, ``crawl`` and ``recipe`` to the root app."""
    app.command(
        "append",
        rich_help_panel="Catalog",
        epilog=examples(
            "meshlake --as central/owner append sales.orders orders-2024-06.csv",
            "meshlake append sales.orders part-0001.parquet",
        ),
    )(append)
    app.add_typer(crawl_app, name="crawl", rich_help_panel="Catalog")
    app.add_typer(recipe_app, name="recipe", rich_help_panel="Catalog")
