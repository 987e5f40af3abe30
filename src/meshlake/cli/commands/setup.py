"""``meshlake init``, ``meshlake demo`` and ``meshlake repair``."""

import importlib
from pathlib import Path
from typing import Annotated, cast

import typer

from meshlake.cli.output import bold
from meshlake.cli.profiles import check_url
from meshlake.cli.state import CliState, get_state, resolve_connection
from meshlake.errors import InvalidInputError

__all__ = ["DEMO_MODULE", "register"]

DEMO_MODULE = "meshlake.demo.scenario"


def init(ctx: typer.Context) -> None:
    """Create the mesh at --home (or open it) and bootstrap its root. Safe to run twice."""
    state = get_state(ctx)
    mesh = state.mesh(create=True)
    created = not mesh.bootstrapped
    mesh.bootstrap()
    home = str(mesh.home)
    if created:
        message = f"initialised a new mesh at {bold(home)}"
    else:
        message = f"the mesh at {bold(home)} is already initialised"
    state.out.emit({"home": home, "created": created}, message)
    if created:
        state.out.note(
            "next: meshlake account create NAME, then meshlake principal create "
            "NAME/USER (both as root, the default --as)"
        )


def demo(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Run the scenario against this server (`meshlake serve` on a fresh mesh) "
            "through the HTTP SDK, with a token of the mesh root (the global --url or "
            "--profile do the same).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="With --url: a token of the mesh root (default: $MESHLAKE_TOKEN, or the "
            "token a `meshlake login` profile saved for that server).",
        ),
    ] = None,
    files: Annotated[
        Path,
        typer.Option(
            "--files",
            metavar="PATH",
            help="Against a server: where the demo writes the export the server crawls, the "
            "recipe and the OpenLineage events; the server must reach it at the same path "
            "and allow it (MESHLAKE_ALLOWED_ROOTS).",
        ),
    ] = Path(".meshlake-demo"),
) -> None:
    """Run the reference scenario (producer, governance and consumer accounts) in --home,
    or against a server through the HTTP SDK (--url and a token of the mesh root)."""
    state = get_state(ctx)
    target = _demo_server(state, url, token)
    scenario = importlib.import_module(DEMO_MODULE)  # imported on use: it loads the ML stack
    # under --json the demo's narration goes to stderr and its summary to stdout
    console = state.out.err_console if state.json else state.out.console
    if target is None:
        summary = scenario.run(home=state.settings().home, console=console)
    else:
        summary = scenario.run_remote(target[0], target[1], files, console=console)
    if state.json:
        state.out.print_json(summary)


def _demo_server(state: CliState, url: str | None, token: str | None) -> tuple[str, str] | None:
    """The server (URL and root token) ``demo`` runs against, or None for the home: its own
    ``--url``, else the global ``--url`` / ``--profile`` when given (never the implicit
    ``default`` profile: ``make demo`` stays on the home).

    Raises:
        InvalidInputError: --token without --url, or a malformed URL.
        AuthenticationError: no token is known for the server.
        RemoteUnavailableError: only the implicit default profile names a server.
    """
    if url is not None:
        url = check_url(url)
        if token is None:
            token = resolve_connection(url=url, profile=None, home_named=False).token
        return url, cast(str, token).strip()
    if token is not None:
        raise InvalidInputError("--token goes with --url (the server the demo runs against)")
    if state.url or state.profile:
        conn = state.connection()
        if conn.remote:
            return cast(str, conn.url), cast(str, conn.token)
    state.require_home()
    return None


def repair(
    ctx: typer.Context,
    force: bool = typer.Option(
        False,
        "--force",
        help="Also take changes whose process may still run on another host (only when no "
        "other process writes to this mesh).",
    ),
) -> None:
    """Finish or roll back changes a killed process left half-done (opening a mesh does
    this too): committed rows get their audit event, half-created tables are dropped."""
    state = get_state(ctx)
    outcomes = state.mesh().repair(force=force)
    done = [o for o in outcomes if o.outcome != "skipped"]
    state.out.emit(
        {"repaired": [o.to_dict() for o in outcomes]},
        f"{len(done)} change(s) finished or rolled back, "
        f"{len(outcomes) - len(done)} still in flight elsewhere"
        if outcomes
        else "nothing to repair",
    )


def register(app: typer.Typer) -> None:
    """Add ``init``, ``demo`` and ``repair`` to the root app."""
    app.command("init", rich_help_panel="Setup")(init)
    app.command("demo", rich_help_panel="Setup")(demo)
    app.command("repair", rich_help_panel="Setup")(repair)
