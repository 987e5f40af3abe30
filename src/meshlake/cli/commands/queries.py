"""``meshlake history ...`` (query executions) and ``meshlake workgroup ...`` (their limits).

Every governed query is recorded: who ran it, in which workgroup, its state, rows and bytes
scanned. You see your own queries, admins their account's. A workgroup sets where results
are kept, for how long, and its queries' limits (runtime, memory, bytes scanned).
"""

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.state import CliState, get_state
from meshlake.errors import InvalidInputError
from meshlake.jsonable import to_jsonable

__all__ = ["history_app", "parse_duration", "register", "workgroup_app"]

history_app = typer.Typer(
    help="Query history: the executions you may see (yours; an admin's whole account), "
    "and cancelling a running one.",
    no_args_is_help=True,
)
workgroup_app = typer.Typer(
    help="Workgroups of your account: result retention and query limits (runtime, memory, "
    "bytes scanned). Changes need an admin of the account.",
    no_args_is_help=True,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, option: str = "--retention") -> timedelta:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w`` or plain seconds as a duration.

    >>> parse_duration("7d")
    datetime.timedelta(days=7)
    """
    m = _DURATION.match(text.lower())
    if not m or int(m.group(1)) <= 0:
        raise typer.BadParameter(
            f"write a positive duration such as 90s, 15m, 12h, 7d or 2w, not {text!r}",
            param_hint=f"'{option}'",
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class QueryState(StrEnum):
    """States of a query execution."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


HISTORY_COLUMNS = ["query_id", "principal", "workgroup", "state", "rows", "submitted_at", "sql"]


def _execution(value: Any) -> dict[str, Any]:
    """An execution's JSON form, without the result's storage path."""
    data = dict(to_jsonable(value))
    data.pop("result_path", None)
    return data


@history_app.command(
    "list",
    epilog=examples(
        "meshlake --as consumer/admin history list --state FAILED --limit 20",
        "meshlake history list --principal consumer/analyst --workgroup adhoc",
    ),
)
def history_list(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, max=10000, help="Look at the newest N executions.")
    ] = 100,
    principal: Annotated[
        str | None, typer.Option(metavar="PRINCIPAL", help="Only this principal's queries.")
    ] = None,
    state_: Annotated[
        QueryState | None, typer.Option("--state", help="Only queries in this state.")
    ] = None,
    workgroup: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only this workgroup's queries.")
    ] = None,
    contains: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Only queries whose SQL contains TEXT.")
    ] = None,
) -> None:
    """List the query executions you may see, newest first.

    The filters apply to the newest --limit executions.
    """
    state = get_state(ctx)
    found = [_execution(e) for e in state.op("queries.list")(limit=limit, principal=principal)]
    rows = [
        e
        for e in found
        if (state_ is None or e.get("state") == state_.value)
        and (workgroup is None or e.get("workgroup") == workgroup)
        and (contains is None or contains.lower() in str(e.get("sql", "")).lower())
    ]
    if state.json:
        state.out.print_json(rows)
        return
    state.out.table(
        HISTORY_COLUMNS,
        [[_short(e.get(c)) if c == "sql" else e.get(c) for c in HISTORY_COLUMNS] for e in rows],
        title="Query history",
        empty="no queries match",
        no_wrap=["query_id"],
    )


def _short(sql: Any, width: int = 60) -> str:
    text = " ".join(str(sql or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@history_app.command("show")
def history_show(
    ctx: typer.Context, query_id: Annotated[str, typer.Argument(metavar="QUERY_ID")]
) -> None:
    """Show one execution: its SQL, state, error, tables read, timings."""
    state = get_state(ctx)
    data = _execution(state.op("queries.get")(query_id))
    state.out.emit(data, lambda: state.out.fields(data, title=f"Query {query_id}"))


@history_app.command("cancel")
def history_cancel(
    ctx: typer.Context, query_id: Annotated[str, typer.Argument(metavar="QUERY_ID")]
) -> None:
    """Cancel a queued or running query (yours, or your account's as an admin)."""
    state = get_state(ctx)
    data = _execution(state.op("queries.cancel")(query_id))
    state.out.emit(data, f"query {bold(query_id)}: {data.get('state')}")


# ------------------------------------------------------------------ workgroups
WORKGROUP_COLUMNS = [
    "name",
    "account",
    "retention_seconds",
    "max_runtime_s",
    "memory_limit",
    "max_bytes_scanned",
]


def _workgroup(value: Any) -> dict[str, Any]:
    """A workgroup's JSON form, without its result folder (a storage path)."""
    data = dict(to_jsonable(value))
    data.pop("result_location", None)
    return data


@workgroup_app.command("list")
def workgroup_list(ctx: typer.Context) -> None:
    """List your account's workgroups (primary is always there)."""
    state = get_state(ctx)
    state.out.records(
        [_workgroup(w) for w in state.op("queries.workgroups")()],
        WORKGROUP_COLUMNS,
        title="Workgroups",
    )


@workgroup_app.command("show")
def workgroup_show(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The workgroup.")] = "primary"
) -> None:
    """Show one workgroup's retention and limits."""
    state = get_state(ctx)
    data = _workgroup(state.op("queries.workgroup")(name))
    state.out.emit(data, lambda: state.out.fields(data, title=f"Workgroup {name}"))


RetentionOpt = Annotated[
    str | None,
    typer.Option(metavar="DURATION", help="How long results are kept: 12h, 7d, 2w."),
]
RuntimeOpt = Annotated[
    int | None, typer.Option(min=1, metavar="SECONDS", help="Stop queries running longer.")
]
MemoryOpt = Annotated[
    str | None, typer.Option(metavar="SIZE", help="Engine memory per query, e.g. 2GB.")
]
BytesOpt = Annotated[
    int | None,
    typer.Option(min=1, metavar="BYTES", help="Refuse queries planning to scan more."),
]


@workgroup_app.command(
    "create",
    epilog=examples(
        "meshlake --as consumer/admin workgroup create adhoc --retention 1d "
        "--max-runtime 60 --memory-limit 1GB --max-bytes-scanned 10000000000"
    ),
)
def workgroup_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new workgroup.")],
    retention: RetentionOpt = None,
    max_runtime: RuntimeOpt = None,
    memory_limit: MemoryOpt = None,
    max_bytes_scanned: BytesOpt = None,
) -> None:
    """Create a workgroup in your account (admins)."""
    state = get_state(ctx)
    kwargs: dict[str, Any] = {"memory_limit": memory_limit, "max_bytes_scanned": max_bytes_scanned}
    if retention is not None:
        kwargs["retention"] = parse_duration(retention)
    if max_runtime is not None:
        kwargs["max_runtime_s"] = max_runtime
    data = _workgroup(state.op("queries.create_workgroup")(name, **kwargs))
    state.out.emit(data, f"created workgroup {bold(name)}")


@workgroup_app.command(
    "set",
    epilog=examples(
        "meshlake --as consumer/admin workgroup set adhoc --max-runtime 120 --no-memory-limit"
    ),
)
def workgroup_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The workgroup.")],
    retention: RetentionOpt = None,
    max_runtime: RuntimeOpt = None,
    memory_limit: MemoryOpt = None,
    max_bytes_scanned: BytesOpt = None,
    no_memory_limit: Annotated[
        bool, typer.Option("--no-memory-limit", help="Remove the memory limit.")
    ] = False,
    no_max_bytes_scanned: Annotated[
        bool, typer.Option("--no-max-bytes-scanned", help="Remove the bytes-scanned limit.")
    ] = False,
) -> None:
    """Change a workgroup's retention or limits (admins); what you leave out stays."""
    state = get_state(ctx)
    if memory_limit is not None and no_memory_limit:
        raise typer.BadParameter("give --memory-limit or --no-memory-limit, not both")
    if max_bytes_scanned is not None and no_max_bytes_scanned:
        raise typer.BadParameter("give --max-bytes-scanned or --no-max-bytes-scanned, not both")
    kwargs: dict[str, Any] = {}
    if retention is not None:
        kwargs["retention"] = parse_duration(retention)
    if max_runtime is not None:
        kwargs["max_runtime_s"] = max_runtime
    if memory_limit is not None or no_memory_limit:
        kwargs["memory_limit"] = memory_limit
    if max_bytes_scanned is not None or no_max_bytes_scanned:
        kwargs["max_bytes_scanned"] = max_bytes_scanned
    if not kwargs:
        raise InvalidInputError(
            "nothing to change: give --retention, --max-runtime, --memory-limit or "
            "--max-bytes-scanned (or --no-... to remove a limit)"
        )
    data = _workgroup(state.op("queries.update_workgroup")(name, **kwargs))
    _changed(state, name, data)


def _changed(state: CliState, name: str, data: dict[str, Any]) -> None:
    state.out.emit(
        data,
        f"workgroup {bold(name)}: retention {data.get('retention_seconds')} s, max runtime "
        f"{data.get('max_runtime_s')} s, memory {data.get('memory_limit') or 'default'}, "
        f"bytes scanned {data.get('max_bytes_scanned') or 'unlimited'}",
    )


def register(app: typer.Typer) -> None:
    """Add ``history`` and ``workgroup`` to the root app."""
    app.add_typer(history_app, name="history", rich_help_panel="Query and audit")
    app.add_typer(workgroup_app, name="workgroup", rich_help_panel="Query and audit")
