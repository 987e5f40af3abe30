"""``meshlake audit ...``: read, checkpoint and verify the hash-chained audit log."""

from enum import StrEnum
from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.state import get_state

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="The append-only audit log: every change and every read of table data.",
    no_args_is_help=True,
)


class Category(StrEnum):
    """Kinds of audit events."""

    change = "change"
    read = "read"


@audit_app.command(
    "list",
    epilog=examples(
        "meshlake audit list --limit 20",
        "meshlake audit list --limit 20 --before 120",
        "meshlake --json audit list --after 120",
    ),
)
def audit_list(
    ctx: typer.Context,
    category: Annotated[Category | None, typer.Option(help="Only changes or only reads.")] = None,
    limit: Annotated[
        int, typer.Option(min=0, help="Show the newest N events, oldest first (0: all).")
    ] = 50,
    after: Annotated[
        int | None,
        typer.Option(
            "--after",
            metavar="SEQ",
            help="Only events after this seq; with --limit, the N that follow it (page on).",
        ),
    ] = None,
    before: Annotated[
        int | None,
        typer.Option(
            "--before",
            metavar="SEQ",
            help="Only events before this seq (page back: the first seq you were shown).",
        ),
    ] = None,
) -> None:
    """List the audit events you may see: your own, and your administered accounts'."""
    state = get_state(ctx)
    events = state.op("audit")(
        category=category.value if category else None,
        limit=limit or None,
        after_seq=after,
        before_seq=before,
    )
    if state.json:
        state.out.print_json(events)
        return
    state.out.table(
        ["seq", "time", "principal", "action", "resource"],
        [
            [e.seq, e.time.strftime("%Y-%m-%d %H:%M:%S"), e.principal, e.action, e.resource]
            for e in events
        ],
        title="Audit events",
        empty="no audit events you can see",
        no_wrap=["seq", "time"],
    )
    if events and limit and len(events) == limit and after is None:
        state.out.note(f"older events: meshlake audit list --before {events[0].seq}")


@audit_app.command("checkpoint")
def audit_checkpoint(ctx: typer.Context) -> None:
    """Sign the newest event into the digest folder now (admins; also done on its own)."""
    state = get_state(ctx)
    cp = state.op("checkpoint_audit")()
    if cp is None:
        state.out.emit(None, "the audit log is empty: nothing to checkpoint")
        return
    where = (
        "in the server's digest folder"
        if state.remote
        else bold(str(state.settings().digests_dir / cp.file))
    )
    state.out.emit(
        cp, f"checkpoint {cp.number} anchors event {cp.seq} ({cp.events} events): {where}"
    )


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Check the hash chain against the signed checkpoints: exit 1 if an event was edited,
    deleted or reordered, the tail was cut or rehashed, or a digest file is gone or altered."""
    state = get_state(ctx)
    report = state.op("verify_audit")()
    if state.json:
        state.out.print_json(report)
    elif report.ok:
        anchored = (
            f", {report.checkpoints} signed checkpoints, the newest at event "
            f"{report.checkpoint_seq}"
            if report.checkpoints
            else ""
        )
        state.out.success(f"the audit log is intact ({report.events} events{anchored})")
        for note in report.notes:
            state.out.note(f"note: {note}")
    else:
        where = f" at event {report.first_bad_seq}" if report.first_bad_seq is not None else ""
        state.out.error("audit_broken", f"the audit log is broken{where}: {report.problem}")
    if not report.ok:
        raise typer.Exit(1)
