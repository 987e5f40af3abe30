"""``meshlake worker``: deliver webhooks, run triggers, watch registered locations for new
files, relay the outbox to NATS; until stopped."""

import signal
import threading
import time
from typing import Annotated, Any

import typer

from meshlake.cli.output import examples
from meshlake.cli.state import get_state

__all__ = ["register"]


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due, then exit.")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between idle polls.")] = 0.5,
    lease: Annotated[
        float,
        typer.Option(min=1, help="Seconds a claimed delivery is held before others retry it."),
    ] = 60.0,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Per-request webhook timeout (s).")
    ] = 10.0,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Failures before a delivery becomes a dead letter.")
    ] = 8,
    base_delay: Annotated[
        float, typer.Option(min=0, help="First retry's delay ceiling (s).")
    ] = 1.0,
    batch: Annotated[int, typer.Option(min=1, help="Deliveries claimed per round.")] = 100,
    nats: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Also relay every event to NATS JetStream at URL."),
    ] = None,
    triggers: Annotated[
        bool, typer.Option("--triggers/--no-triggers", help="Also run the accounts' triggers.")
    ] = True,
    sweep_every: Annotated[
        float,
        typer.Option(min=0, help="Seconds between sweeps of expired query results (0: never)."),
    ] = 300.0,
    watch_every: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between looks for new files in registered locations (0: never).",
        ),
    ] = 30.0,
    lifecycle_every: Annotated[
        float,
        typer.Option(
            "--lifecycle",
            min=0,
            help="Seconds between storage lifecycle runs (job folders, compaction, snapshot "
            "expiry, orphan files; policy from MESHLAKE_* variables; 0: never).",
        ),
    ] = 3600.0,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (default: never).")
    ] = None,
) -> None:
    """Deliver webhook events, run triggers, watch registered locations for new files and
    run the storage lifecycle (several workers may share one PostgreSQL store: each delivery
    is claimed by one of them, each trigger runs once per event, each landed file is reported
    once).

    Webhooks go only where MESHLAKE_WEBHOOK_ALLOWED_HOSTS allows (unset: public addresses):
    give workers the server's setting."""
    from meshlake.errors import MeshError
    from meshlake.events.transport import NatsTransport, Relay
    from meshlake.ids import ROOT
    from meshlake.service.events import dispatcher
    from meshlake.service.lifecycle import LifecycleAPI
    from meshlake.service.queries import QueryAPI
    from meshlake.service.triggers import trigger_runner
    from meshlake.service.watch import watch_locations

    state = get_state(ctx)
    rt = state.mesh().runtime
    hooks = dispatcher(
        rt,
        lease_s=lease,
        timeout_s=timeout,
        max_attempts=max_attempts,
        base_delay_s=base_delay,
        batch=batch,
    )
    relay = None if nats is None else Relay(rt.store, NatsTransport(nats))
    runner = trigger_runner(rt) if triggers else None
    stop = threading.Event()

    def _stop(*_args: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = time.monotonic()
    sent = relayed = fired = swept = landed = lifecycles = 0
    swept_at = watched_at = 0.0
    lifecycle_at = started  # the first lifecycle run after one interval
    try:
        while not stop.is_set():
            n = hooks.run_once(wait=once)
            sent += n
            if relay is not None:
                relayed += relay.run_once()
            if runner is not None:
                fired += runner.run_once()
            if watch_every and time.monotonic() - watched_at >= watch_every:
                landed += len(watch_locations(rt))  # location.files_added events
                watched_at = time.monotonic()
                if runner is not None:
                    fired += runner.run_once()
            if sweep_every and time.monotonic() - swept_at >= sweep_every:
                swept += QueryAPI(rt, ROOT).sweep()  # the results' lifecycle rule
                swept_at = time.monotonic()
            if lifecycle_every and time.monotonic() - lifecycle_at >= lifecycle_every:
                try:  # the tables' and jobs' lifecycle rules
                    LifecycleAPI(rt, ROOT).run()
                    lifecycles += 1
                except MeshError as exc:  # reported; the worker goes on delivering
                    state.out.note(f"lifecycle run failed ({exc.kind}): {exc.message}")
                lifecycle_at = time.monotonic()
            if once and n == 0:
                break
            if duration is not None and time.monotonic() - started >= duration:
                break
            if n == 0:
                stop.wait(poll)
    finally:
        hooks.close()
        if relay is not None:
            relay.transport.close()
    summary = {
        "deliveries_claimed": sent,
        "events_relayed": relayed,
        "trigger_runs": fired,
        "results_expired": swept,
        "locations_with_new_files": landed,
        "lifecycle_runs": lifecycles,
    }
    state.out.emit(
        summary,
        f"worker stopped: {sent} deliveries claimed, {relayed} events relayed, "
        f"{fired} trigger runs, {swept} expired results deleted, "
        f"{landed} locations with new files, {lifecycles} lifecycle runs",
    )


def register(app: typer.Typer) -> None:
    """Add ``meshlake worker`` to ``app``."""
    app.command(
        "worker",
        rich_help_panel="Events",
        epilog=examples(
            "meshlake worker",
            "meshlake worker --once",
            "meshlake worker --nats nats://127.0.0.1:4222",
        ),
    )(worker)
