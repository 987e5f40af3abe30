"""Events: the outbox's cost on a grant, and how fast events reach an inbox and a webhook.

Workload (embedded mesh, SQLite store): ``central/admin`` grants and revokes DESCRIBE on a
database to ``consumer/analyst``, alternating. Measured:

- grant latency with the outbox against the same call with the outbox switched off (the
  event row and its fan-out replaced by a no-op), in alternating blocks; with 0 and with 10
  matching inbox subscriptions;
- commit -> inbox: N grants, then the subscriber reads its inbox (events/s of both);
- commit -> webhook: N grants with in-process dispatch after commit to a local HTTP
  receiver: latency from the call's start to the receipt (p50/p99), and events/s;
- the events path's own capacity: events written back to back, each in its own store
  transaction with its inbox fan-out (what every change adds), then read from the inbox;
- the relay to NATS JetStream (when a server answers on 127.0.0.1:4222): events/s from the
  outbox to acknowledged JetStream messages.

Usage: ``python bench/events.py [--grants 300] [--events 300] [--no-readme]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from _readme import write_section

import meshlake
import meshlake.service.unit as unit_module
from meshlake import Database

SECTION = "## events"


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def setup(home: Path) -> tuple[meshlake.Mesh, dict[str, meshlake.Session]]:
    mesh = meshlake.connect(home, webhook_allowed_hosts=["127.0.0.1"])  # the local receiver
    root = mesh.bootstrap()
    for account in ("central", "consumer"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    root.principals.create("consumer/analyst")
    owner = mesh.session("central/admin")
    owner.catalog.create_database("sales")
    return mesh, {"owner": owner, "analyst": mesh.session("consumer/analyst")}


def grant_pair(owner: meshlake.Session) -> float:
    """One grant (timed) and its revoke."""
    t0 = time.perf_counter()
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    took = time.perf_counter() - t0
    owner.revoke("consumer/analyst", Database("sales"), ["DESCRIBE"])
    return took


def grant_latency(owner: meshlake.Session, n: int, block: int = 25) -> dict[str, list[float]]:
    real = unit_module.append_event

    def off(*_args: Any, **_kwargs: Any) -> tuple[None, int]:
        return None, 0

    out: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(n // block):
        for mode in ("with", "without"):
            unit_module.append_event = real if mode == "with" else off  # type: ignore[assignment]
            out[mode] += [grant_pair(owner) for _ in range(block)]
    unit_module.append_event = real
    return out


class Receiver:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.done = threading.Event()
        self.expect = 0
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with rec.lock:
                    rec.times.append(time.perf_counter())
                    if len(rec.times) >= rec.expect:
                        rec.done.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def outbox_capacity(mesh: meshlake.Mesh, n: int) -> dict[str, float]:
    """``n`` events, each in its own store transaction (the outbox row, the per-source
    sequence and one inbox delivery), then one inbox read of all of them."""
    from meshlake.events import EventScope
    from meshlake.events.outbox import append_event

    reader = mesh.session("consumer/admin")
    reader.events.subscribe(type="table.updated")
    store = mesh.runtime.store
    scope = EventScope(accounts=("consumer",), database="consumer/sales")
    t0 = time.perf_counter()
    for i in range(n):
        with store.transaction(bump=False) as session:
            append_event(
                session,
                type="table.updated",
                source="/bench/sales",
                subject=f"table:sales.t{i % 10}",
                principal="consumer/admin",
                data={"rows": i},
                scope=scope,
            )
    commit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    got = reader.events.inbox(limit=n + 10)
    read_s = time.perf_counter() - t1
    assert len(got) == n, len(got)
    return {"n": n, "commit_s": commit_s, "read_s": read_s}


def nats_relay(mesh: meshlake.Mesh) -> dict[str, float] | None:
    """Relay the whole outbox to a fresh JetStream stream; None when no NATS answers."""
    import socket
    import uuid

    with socket.socket() as sock:
        sock.settimeout(0.5)
        if sock.connect_ex(("127.0.0.1", 4222)) != 0:
            return None
    from meshlake.events.transport import NatsTransport, Relay

    stream = f"MESHLAKE_BENCH_{uuid.uuid4().hex[:8].upper()}"
    transport = NatsTransport("nats://127.0.0.1:4222", stream=stream)
    relay = Relay(mesh.runtime.store, transport, name=stream)
    try:
        t0 = time.perf_counter()
        n = relay.drain()
        took = time.perf_counter() - t0
    finally:

        async def drop() -> None:
            await transport._js.delete_stream(stream)

        with contextlib.suppress(Exception):
            transport._loop.run_until_complete(drop())
        transport.close()
    return {"n": n, "s": took}


def run(grants: int, events: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MESHLAKE_EVENTS_DISPATCH"] = "worker"
        mesh, s = setup(Path(tmp) / "a")
        owner, analyst = s["owner"], s["analyst"]
        for _ in range(20):
            grant_pair(owner)  # warm up
        result["latency0"] = grant_latency(owner, grants)
        for _ in range(10):
            s["owner"].events.subscribe(type="grant.*")
        result["latency10"] = grant_latency(owner, grants)
        mesh.close()

        mesh, s = setup(Path(tmp) / "b")
        owner, analyst = s["owner"], s["analyst"]
        analyst.events.subscribe(type="grant.*")
        owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
        t0 = time.perf_counter()
        for i in range(events):
            perms = ["CREATE_TABLE"] if i % 2 == 0 else ["ALTER"]
            owner.grant("consumer/analyst", Database("sales"), perms)
        commit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        inbox = analyst.events.inbox(limit=events + 10)
        read_s = time.perf_counter() - t1
        assert len(inbox) == events + 1, len(inbox)
        result["inbox"] = {"n": events, "commit_s": commit_s, "read_s": read_s}
        result["capacity"] = outbox_capacity(mesh, max(2000, events))
        result["nats"] = nats_relay(mesh)
        mesh.close()

        os.environ["MESHLAKE_EVENTS_DISPATCH"] = "embedded"
        mesh, s = setup(Path(tmp) / "c")
        owner = s["owner"]
        rec = Receiver()
        owner.events.subscribe(type="grant.*", url=rec.url)
        lat = []
        for _ in range(events // 3):  # one at a time: commit -> receipt
            rec.done.clear()
            rec.expect = len(rec.times) + 1
            t0 = time.perf_counter()
            owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
            rec.done.wait(10)
            lat.append(rec.times[-1] - t0)
            owner.revoke("consumer/analyst", Database("sales"), ["DESCRIBE"])
        rec.done.clear()
        rec.expect = len(rec.times) + events
        t0 = time.perf_counter()
        for i in range(events):
            perms = ["CREATE_TABLE"] if i % 2 == 0 else ["ALTER"]
            owner.grant("consumer/analyst", Database("sales"), perms)
        commit_s = time.perf_counter() - t0
        rec.done.wait(120)
        result["webhook"] = {
            "latency": lat,
            "n": events,
            "commit_s": commit_s,
            "all_s": rec.times[-1] - t0,
        }
        rec.server.shutdown()
        mesh.close()
    return result


def render(r: dict[str, Any], command: str) -> str:
    ms = 1000.0
    rows = []
    for key, label in (("latency0", "no subscriptions"), ("latency10", "10 inbox subscriptions")):
        w, wo = r[key]["with"], r[key]["without"]
        mw, mwo = statistics.median(w), statistics.median(wo)
        rows.append(
            f"| grant, {label} | {mwo * ms:.2f} / {pct(wo, 0.99) * ms:.2f} | "
            f"{mw * ms:.2f} / {pct(w, 0.99) * ms:.2f} | {(mw - mwo) * ms:+.2f} ms "
            f"({mw / mwo:.2f}x) |"
        )
    ib, wh, cap, nats = r["inbox"], r["webhook"], r["capacity"], r["nats"]
    lat = wh["latency"]
    nats_line = (
        f"- outbox -> NATS JetStream (the relay, one process): {nats['n']} events published and "
        f"acknowledged in {nats['s']:.2f} s ({nats['n'] / nats['s']:.0f} events/s).\n"
        if nats
        else "- outbox -> NATS JetStream: not measured (no server on 127.0.0.1:4222).\n"
    )
    return (
        f"{SECTION}\n\n"
        "Outbox cost on a grant and delivery rates (`bench/events.py`; embedded mesh, SQLite "
        "store). Grant latency, wall clock, p50 / p99 (ms), alternating blocks of 25 grants "
        "with the outbox and with it switched off (the event row and its fan-out replaced by "
        "a no-op).\n\n"
        "| | without events | with events | added (p50) |\n| --- | ---: | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n\n"
        f"- commit -> inbox: {ib['n']} grants committed at {ib['n'] / ib['commit_s']:.0f} "
        f"events/s; the subscriber's inbox read of all of them took {ib['read_s'] * ms:.0f} ms "
        f"({ib['n'] / ib['read_s']:.0f} events/s, visibility decided per event). Inbox "
        "deliveries are written in the change's own transaction, so an event is in the inbox "
        "the moment its change commits (no worker hop); the rate is the grants' own.\n"
        f"- the events path alone (goal >= 1,000 events/s to the inbox): {cap['n']} events "
        f"each committed in its own transaction with its inbox delivery in "
        f"{cap['commit_s']:.2f} s (**{cap['n'] / cap['commit_s']:.0f} events/s**), read back "
        f"from the inbox in {cap['read_s'] * ms:.0f} ms "
        f"({cap['n'] / cap['read_s']:.0f} events/s).\n"
        + nats_line
        + f"- commit -> webhook (in-process dispatch after commit, local receiver): latency from "
        f"the grant call to the receipt p50 {statistics.median(lat) * ms:.1f} ms, p99 "
        f"{pct(lat, 0.99) * ms:.1f} ms ({len(lat)} grants one at a time); {wh['n']} grants in "
        f"a row committed in {wh['commit_s']:.2f} s and all were received after "
        f"{wh['all_s']:.2f} s ({wh['n'] / wh['all_s']:.0f} events/s end to end).\n\n"
        f"Command: `{command}`  \n"
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {date.today().isoformat()} on a shared machine "
        f"(1-minute load average {os.getloadavg()[0]:.1f} at the end).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grants", type=int, default=300)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    command = "python bench/events.py" + (
        f" --grants {args.grants} --events {args.events}"
        if (args.grants, args.events) != (300, 300)
        else ""
    )
    text = render(run(args.grants, args.events), command)
    print(text)
    if not args.no_readme:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
