"""``meshlake init`` and ``meshlake demo``."""

import importlib

import typer

from meshlake.cli.output import bold
from meshlake.cli.state import get_state

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


def demo(ctx: typer.Context) -> None:
    """Run the reference scenario (producer, governance and consumer accounts) in --home."""
    state = get_state(ctx)
    state.require_home()
    scenario = importlib.import_module(DEMO_MODULE)  # imported on use: it loads the ML stack
    # under --json the demo's narration goes to stderr and its summary to stdout
    console = state.out.err_console if state.json else state.out.console
    summary = scenario.run(home=state.settings().home, console=console)
    if state.json:
        state.out.print_json(summary)


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
