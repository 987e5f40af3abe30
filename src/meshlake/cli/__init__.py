"""The ``meshlake`` command line: a typer app over the same Python API as notebooks use.

Global options come before the command::

    meshlake --home ./mesh --as central/DataMeshOwner --json table list sales

Exit codes: 0 success, 1 an error (one red line ``error (kind): message``, or a JSON error
document on stderr under ``--json``; never a traceback, unless ``MESHLAKE_DEBUG`` is set),
2 a usage error, 3 ``check`` denied, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from meshlake import __version__
from meshlake.cli.commands import (
    accounts,
    audit,
    catalog,
    filters,
    lifecycle,
    ml,
    permissions,
    query,
    setup,
    tables,
    tags,
    tokens,
    worker,
)
from meshlake.cli.errors import debugging, describe
from meshlake.cli.output import Output
from meshlake.cli.state import CliState
from meshlake.config import ENV_HOME, Settings
from meshlake.ids import ROOT

__all__ = ["ENV_PRINCIPAL", "app", "main"]

ENV_PRINCIPAL = "MESHLAKE_PRINCIPAL"
GLOBAL_OPTIONS = ("--home", "--as", "--json")
#: The order commands are listed in ``meshlake --help``.
COMMAND_ORDER = (
    "init",
    "account",
    "principal",
    "database",
    "table",
    "location",
    "tag",
    "filter",
    "grant",
    "revoke",
    "permissions",
    "check",
    "explain",
    "query",
    "audit",
    "ml",
    "token",
    "serve",
    "worker",
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


class MeshGroup(TyperGroup):
    """The root command group: turns meshlake errors into one line and an exit code."""

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
    return obj.out if isinstance(obj, CliState) else Output()


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
    principal: Annotated[
        str,
        typer.Option(
            "--as",
            envvar=ENV_PRINCIPAL,
            metavar="PRINCIPAL",
            help="Act as this principal: account/name, or root.",
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
    ctx.obj = CliState(home=home, principal=principal, out=Output(json_mode=json_mode))


setup.register(app)
app.add_typer(accounts.account_app, name="account", rich_help_panel="Setup")
app.add_typer(accounts.principal_app, name="principal", rich_help_panel="Setup")
app.add_typer(catalog.database_app, name="database", rich_help_panel="Catalog")
app.add_typer(tables.table_app, name="table", rich_help_panel="Catalog")
app.add_typer(catalog.location_app, name="location", rich_help_panel="Catalog")
app.add_typer(tags.tag_app, name="tag", rich_help_panel="Governance")
permissions.register(app)
app.add_typer(permissions.permissions_app, name="permissions", rich_help_panel="Governance")
app.add_typer(filters.filter_app, name="filter", rich_help_panel="Governance")
query.register(app)
worker.register(app)
lifecycle.register(app)
app.add_typer(audit.audit_app, name="audit", rich_help_panel="Query and audit")
app.add_typer(ml.ml_app, name="ml", rich_help_panel="Machine learning")
tokens.register(app)


def main() -> None:
    """Entry point of the ``meshlake`` console script."""
    app(prog_name="meshlake")
