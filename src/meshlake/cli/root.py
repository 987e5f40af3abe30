"""The ``meshlake`` typer app: the root command group, its global options, and where every
command module registers its commands.

Every command module imports the heavy parts of meshlake (pyarrow, DuckDB, SQLAlchemy, the
service layer, the HTTP client) inside its command functions only, so building the app and
rendering ``--help`` imports none of them; the console script answers plain ``--help``
requests without this module at all (:mod:`meshlake.cli.quickhelp`).
"""

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from meshlake import __version__
from meshlake.cli.commands import (
    accounts,
    audit,
    catalog,
    events,
    filters,
    lifecycle,
    login,
    ml,
    permissions,
    products,
    queries,
    query,
    setup,
    storage,
    tables,
    tags,
    tokens,
    worker,
)
from meshlake.cli.errors import debugging, describe
from meshlake.cli.lazy import LazyGroup
from meshlake.cli.output import Output
from meshlake.cli.profiles import ENV_PROFILE, ENV_URL
from meshlake.cli.state import CliState
from meshlake.config import ENV_HOME, Settings
from meshlake.ids import ROOT

__all__ = ["COMMAND_ORDER", "ENV_PRINCIPAL", "MeshGroup", "app", "command_registry"]

ENV_PRINCIPAL = "MESHLAKE_PRINCIPAL"
GLOBAL_OPTIONS = ("--home", "--url", "--profile", "--as", "--json")
#: The order commands are listed in ``meshlake --help``.
COMMAND_ORDER = (
    "init",
    "login",
    "logout",
    "whoami",
    "profiles",
    "account",
    "principal",
    "database",
    "table",
    "location",
    "append",
    "crawl",
    "recipe",
    "product",
    "access",
    "tag",
    "filter",
    "grant",
    "revoke",
    "permissions",
    "check",
    "explain",
    "query",
    "history",
    "workgroup",
    "audit",
    "ml",
    "events",
    "token",
    "serve",
    "worker",
    "lifecycle",
    "demo",
)


def _click_class(name: str) -> type[Exception]:
    """A click exception class as typer ships it (typer vendors click in recent versions)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == name:
            return cls
    return typer.BadParameter  # pragma: no cover - every click has these


UsageError = _click_class("UsageError")
#: What click handles on its own: usage errors, ``typer.Exit`` and ``typer.Abort``.
CLICK_FLOW = (_click_class("ClickException"), typer.Exit, typer.Abort)


#: Where the command modules register their commands; :class:`MeshGroup` builds each one
#: from here on first use (so ``meshlake --help`` builds none).
command_registry = typer.Typer(pretty_exceptions_show_locals=False)


class MeshGroup(LazyGroup):
    """The root command group: builds commands on first use, turns meshlake errors into one
    line and an exit code."""

    registry = command_registry

    def list_commands(self, ctx: Any) -> list[str]:
        """Commands in :data:`COMMAND_ORDER` (unknown ones last, as registered)."""
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report any failure as one line (or JSON) and an exit code,
        never a traceback."""
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            err: Any = exc  # click's UsageError: message, format_message(), exit_code
            option = getattr(err, "option_name", None)
            if option in GLOBAL_OPTIONS:
                err.message = (
                    f"{err.message} ({option} is a global option: put it before the "
                    f"command, as in `meshlake {option} ... COMMAND`)"
                )
            out = _output(ctx)
            if out.json and type(exc).__name__ != "NoArgsIsHelpError":
                out.error("usage", err.format_message())
                raise typer.Exit(err.exit_code) from exc
            raise
        except CLICK_FLOW:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if debugging():
                raise
            failure = describe(exc, _settings(ctx))
            _output(ctx).error(failure.kind, failure.message, **failure.details)
            raise typer.Exit(failure.code) from exc
        finally:
            if isinstance(ctx.obj, CliState):
                with contextlib.suppress(Exception):  # already failing or done: keep quiet
                    ctx.obj.close()


def _settings(ctx: Any) -> Settings | None:
    obj = ctx.obj
    if not isinstance(obj, CliState):
        return None
    try:
        return obj.settings()
    except Exception:  # pragma: no cover - settings come from options and the environment
        return None


def _output(ctx: Any) -> Output:
    obj = ctx.obj
    if isinstance(obj, CliState):
        return obj.out
    # before the global options reached the state (an unknown command): --json as parsed
    return Output(json_mode=bool(ctx.params.get("json_mode")))


app = typer.Typer(
    cls=MeshGroup,
    name="meshlake",
    help="meshlake: a governed data mesh. Catalog, tag-based access control, governed SQL "
    "and audit, on your own machine.",
    epilog="Start with `meshlake init`, then create accounts and principals as root. "
    "Every command has --help.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"meshlake {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar=ENV_HOME,
            metavar="PATH",
            show_default="./.meshlake",
            help="The mesh home folder (its catalog and warehouse).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar=ENV_URL,
            metavar="URL",
            help="Send the commands to a meshlake server (`meshlake serve`) instead; the token "
            "comes from $MESHLAKE_TOKEN or the profile saved by `meshlake login`.",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            envvar=ENV_PROFILE,
            metavar="NAME",
            help="Use the server and token `meshlake login --profile NAME` saved (the "
            "`default` profile is used when no --home is given).",
        ),
    ] = None,
    principal: Annotated[
        str,
        typer.Option(
            "--as",
            envvar=ENV_PRINCIPAL,
            metavar="PRINCIPAL",
            help="Act as this principal: account/name, or root (against a server: the "
            "token's principal).",
        ),
    ] = ROOT,
    json_mode: Annotated[
        bool, typer.Option("--json", help="Machine output: JSON on stdout, JSON errors on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Global options; they go before the command."""
    source = {name: _source(ctx, name) for name in ("home", "url", "profile", "principal")}
    # the command line wins over the environment: --home beats $MESHLAKE_URL, --url beats
    # $MESHLAKE_HOME; both on the command line is an error (reported when a command runs)
    if source["home"] == "COMMANDLINE":
        url = url if source["url"] == "COMMANDLINE" else None
        profile = profile if source["profile"] == "COMMANDLINE" else None
    elif "COMMANDLINE" in (source["url"], source["profile"]):
        home = None
    ctx.obj = CliState(
        home=home,
        principal=principal,
        out=Output(json_mode=json_mode),
        url=url,
        profile=profile,
        principal_named=source["principal"] != "DEFAULT",
        home_named=home is not None,
    )


def _source(ctx: typer.Context, name: str) -> str:
    """Where an option's value came from: COMMANDLINE, ENVIRONMENT or DEFAULT."""
    source = ctx.get_parameter_source(name)
    return source.name if source is not None else "DEFAULT"


setup.register(command_registry)
login.register(command_registry)
command_registry.add_typer(accounts.account_app, name="account", rich_help_panel="Setup")
command_registry.add_typer(accounts.principal_app, name="principal", rich_help_panel="Setup")
command_registry.add_typer(catalog.database_app, name="database", rich_help_panel="Catalog")
command_registry.add_typer(tables.table_app, name="table", rich_help_panel="Catalog")
command_registry.add_typer(catalog.location_app, name="location", rich_help_panel="Catalog")
storage.register(command_registry)
products.register(command_registry)
command_registry.add_typer(tags.tag_app, name="tag", rich_help_panel="Governance")
permissions.register(command_registry)
command_registry.add_typer(
    permissions.permissions_app, name="permissions", rich_help_panel="Governance"
)
command_registry.add_typer(filters.filter_app, name="filter", rich_help_panel="Governance")
query.register(command_registry)
queries.register(command_registry)
worker.register(command_registry)
lifecycle.register(command_registry)
command_registry.add_typer(audit.audit_app, name="audit", rich_help_panel="Query and audit")
command_registry.add_typer(ml.ml_app, name="ml", rich_help_panel="Machine learning")
command_registry.add_typer(events.events_app, name="events", rich_help_panel="Events")
tokens.register(command_registry)
