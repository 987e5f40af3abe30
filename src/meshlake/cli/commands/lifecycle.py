"""``meshlake lifecycle ...``: run the storage lifecycle by hand, or see what it would do."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshlake.cli.output import Output, bold, examples
from meshlake.cli.state import get_state

if TYPE_CHECKING:
    from meshlake.service.lifecycle import LifecyclePolicy

__all__ = ["lifecycle_app", "register"]

lifecycle_app = typer.Typer(
    help="The storage lifecycle: expire query results and job folders, compact small "
    "files, expire old snapshots (never a referenced one), remove orphan files. The mesh "
    "root runs it for every account, an account's admins for their account.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine output (as the global --json).")]


def _policy(
    keep_last: int | None,
    snapshot_age: str | None,
    orphan_age: str | None,
    job_retention: str | None,
    compact_min_files: int | None,
    small_file_bytes: int | None,
    compact: bool,
    expire: bool,
    orphans: bool,
) -> LifecyclePolicy:
    from meshlake.service.lifecycle import LifecyclePolicy, parse_duration

    policy = LifecyclePolicy.from_env()
    tables = policy.tables
    if keep_last is not None:
        tables = replace(tables, keep_last=keep_last)
    if snapshot_age is not None:
        tables = replace(tables, max_snapshot_age=parse_duration(snapshot_age))
    if orphan_age is not None:
        tables = replace(tables, orphan_age=parse_duration(orphan_age))
    if compact_min_files is not None:
        tables = replace(tables, compact_min_files=compact_min_files)
    if small_file_bytes is not None:
        tables = replace(tables, small_file_bytes=small_file_bytes)
    jobs = parse_duration(job_retention) if job_retention is not None else policy.job_retention
    return LifecyclePolicy(jobs, tables, compact, expire, orphans)


def _print_report(out: Output, report: dict[str, Any]) -> None:
    rows = []
    for t in report["tables"]:
        c = t["compacted"]
        rows.append(
            [
                t["table"],
                f"{c['files_before']} -> {c['files_after'] or '?'}" if c else "",
                len(t["snapshots_expired"]),
                len(t["snapshots_pinned"]),
                t["files_removed"],
                t["orphans_removed"],
                t["bytes_freed"],
                t["error"] or t["skipped"] or "",
            ]
        )
    out.table(
        ["table", "compacted", "expired", "pinned", "files", "orphans", "bytes freed", "note"],
        rows,
        title="Tables",
        empty="no tables in scope",
        right=(2, 3, 4, 5, 6),
    )
    s = report["summary"]
    verb = "would free" if report["dry_run"] else "freed"
    out.success(
        f"{s['results_expired']} results, {s['jobs_expired']} job folders, "
        f"{s['snapshots_expired']} snapshots, {s['files_removed']} files, "
        f"{s['orphans_removed']} orphan files: {verb} {bold(s['bytes_freed'])} bytes"
    )


@lifecycle_app.command(
    "run",
    epilog=examples(
        "meshlake lifecycle run --dry-run",
        "meshlake lifecycle run",
        "meshlake lifecycle run --keep-last 3 --snapshot-age 7d --json",
    ),
)
def lifecycle_run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: change, delete and audit nothing.")
    ] = False,
    keep_last: Annotated[
        int | None, typer.Option(min=1, help="Snapshots kept whatever their age (default 1).")
    ] = None,
    snapshot_age: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Snapshots younger than this are kept (5d)."),
    ] = None,
    orphan_age: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Unreferenced files younger than this stay (3d)."),
    ] = None,
    job_retention: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Finished jobs' folders are kept this long (30d)."),
    ] = None,
    compact_min_files: Annotated[
        int | None,
        typer.Option(min=1, help="Compact a table with more small files than this (16)."),
    ] = None,
    small_file_bytes: Annotated[
        int | None, typer.Option(min=1, help="A data file smaller than this is small (32 MiB).")
    ] = None,
    compact: Annotated[bool, typer.Option("--compact/--no-compact", help="Compact.")] = True,
    expire: Annotated[
        bool, typer.Option("--expire/--no-expire", help="Expire old snapshots.")
    ] = True,
    orphans: Annotated[
        bool, typer.Option("--orphans/--no-orphans", help="Remove orphan files.")
    ] = True,
    json_mode: JsonOption = False,
) -> None:
    """Run the lifecycle now (the worker runs it periodically); print what it did."""
    state = get_state(ctx)
    if json_mode:
        state.out.json = True
    policy = _policy(
        keep_last,
        snapshot_age,
        orphan_age,
        job_retention,
        compact_min_files,
        small_file_bytes,
        compact,
        expire,
        orphans,
    )
    with state.out.status("running the storage lifecycle"):
        report = state.session().lifecycle.run(dry_run=dry_run, policy=policy)
    data = report.to_dict()
    state.out.emit(data, lambda: _print_report(state.out, data))


@lifecycle_app.command(
    "status", epilog=examples("meshlake lifecycle status", "meshlake lifecycle status --json")
)
def lifecycle_status(ctx: typer.Context, json_mode: JsonOption = False) -> None:
    """The policy in force, the last run, and what a run would do now."""
    state = get_state(ctx)
    if json_mode:
        state.out.json = True
    status = state.session().lifecycle.status()
    data = status.to_dict()

    def human() -> None:
        state.out.fields(data["policy"], title="Policy")
        last, mesh_run = data["last_run"], data["last_mesh_run"]
        if last is None:
            state.out.note("no lifecycle run yet in your scope")
        else:
            state.out.fields(last["summary"], title=f"Last run ({last['finished_at']})")
        if mesh_run is not None and (last is None or mesh_run["run_id"] != last["run_id"]):
            state.out.note(f"the mesh-wide lifecycle (worker) last ran {mesh_run['finished_at']}")
        _print_report(state.out, data["due"])

    state.out.emit(data, human)


def register(app: typer.Typer) -> None:
    """Add ``meshlake lifecycle`` to the root app."""
    app.add_typer(lifecycle_app, name="lifecycle", rich_help_panel="Query and audit")
