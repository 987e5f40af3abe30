"""``meshlake audit ...``: read and verify the hash-chained audit log."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

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


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    category: Annotated[Category | None, typer.Option(help="Only changes or only reads.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show the newest N events (0: all).")] = 50,
) -> None:
    """List the audit events you may see: your own, and your administered accounts'."""
    state = get_state(ctx)
    events = state.session().audit(category=category.value if category else None)
    if limit:
        events = events[-limit:]
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


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Recompute the hash chain: exit 1 if an event was edited, deleted or reordered."""
    state = get_state(ctx)
    report = state.session().verify_audit()
    if state.json:
        state.out.print_json(report)
    elif report.ok:
        state.out.success(f"the audit log is intact ({report.events} events)")
    else:
        where = f" at event {report.first_bad_seq}" if report.first_bad_seq is not None else ""
        state.out.error("audit_broken", f"the audit log is broken{where}: {report.problem}")
    if not report.ok:
        raise typer.Exit(1)
