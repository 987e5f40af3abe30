"""Benchmark: the server's cost over the embedded session for the same governed queries.

Writes a table ``sales.events`` (``--rows`` rows: id BIGINT, region VARCHAR of 5 values,
amount DOUBLE, customer VARCHAR) through meshlake, starts a real ``meshlake serve`` process on
127.0.0.1 and times, for principal ``p/u`` (a data filter ``region = 'eu'`` on the table):

* **embedded**: ``mesh.session("p/u").query(sql)`` in this process (the baseline: the server
  does exactly this work, then sends the result);
* **sdk (arrow)**: ``meshlake.connect(url, token=...).session().query(sql)``: one HTTP request,
  the result as an Arrow IPC stream;
* **http (json)**: ``POST /v1/query`` with ``httpx``, the result as JSON rows.

Queries: a point lookup (1 row), an aggregate by region and a scan returning ``--scan-rows``
rows; plus ``GET /v1/session`` (token check and routing only). Each series gets a warm-up,
then ``--runs`` rounds with the three ways in rotating order. Medians, p99 and the ratio to
the embedded call go to ``bench/README.md`` under ``## server``.

    python bench/server.py                                  # 1M rows, 21 rounds
    python bench/server.py --rows 100000 --runs 5 --no-readme
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
from _readme import write_section

import meshlake

REGIONS = ["eu", "us", "apac", "latam", "mea"]


def build(home: Path, rows: int) -> str:
    """The mesh with ``sales.events`` and p/u's filter; returns a token of p/u."""
    mesh = meshlake.connect(home)
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.principals.create("p/u")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    rng = np.random.default_rng(7)
    data = pa.table(
        {
            "id": pa.array(np.arange(rows, dtype=np.int64)),
            "region": pa.array(np.array(REGIONS)[rng.integers(0, 5, rows)]),
            "amount": pa.array(rng.uniform(0, 1000, rows)),
            "customer": pa.array([f"c{i % 10007}" for i in range(rows)]),
        }
    )
    admin.catalog.create_table("sales", "events", data=data)
    admin.filters.create("sales", "events", "eu", row_filter="region = 'eu'", all_rows=False)
    admin.grant("p/u", meshlake.DataFilter("sales", "events", "eu"), ["SELECT"])
    token = admin.tokens.create("p/u", "1d").token
    mesh.close()
    return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", "from meshlake.cli import main; main()"),
            *("--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("meshlake serve did not come up")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scan-rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    home = Path(tempfile.mkdtemp(prefix="meshlake-bench-server-")) / "home"
    token = build(home, args.rows)
    port = free_port()
    server = start_server(home, port)
    url = f"http://127.0.0.1:{port}"
    mesh = meshlake.connect(home)
    embedded = mesh.session("p/u")
    remote = meshlake.connect(url, token=token)
    sdk = remote.session()
    raw = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
    queries = {
        "point lookup (1 row)": "SELECT * FROM sales.events WHERE id = 42",
        "aggregate (GROUP BY region)": "SELECT region, count(*) AS n, avg(amount) AS a "
        "FROM sales.events GROUP BY region",
        f"scan ({args.scan_rows:,} rows)": "SELECT id, amount, customer FROM sales.events "
        f"ORDER BY id LIMIT {args.scan_rows}",
    }
    lines = []
    try:
        for label, sql in queries.items():
            ways: dict[str, Callable[[], object]] = {
                "embedded": lambda sql=sql: embedded.query(sql).to_arrow(),
                "sdk (arrow)": lambda sql=sql: sdk.query(sql).to_arrow(),
                "http (json)": lambda sql=sql: raw.post("/v1/query", json={"sql": sql}).json(),
            }
            expected = embedded.query(sql).num_rows
            assert sdk.query(sql).num_rows == expected
            assert len(raw.post("/v1/query", json={"sql": sql}).json()["rows"]) == expected
            times: dict[str, list[float]] = {w: [] for w in ways}
            names = list(ways)
            for i in range(args.runs):
                for name in names[i % 3 :] + names[: i % 3]:
                    times[name].append(timed(ways[name]))
            base = statistics.median(times["embedded"])
            for name in names:
                med = statistics.median(times[name])
                lines.append(
                    f"| {label} | {name} | {med * 1000:.1f} | {p99(times[name]) * 1000:.1f} | "
                    f"{med / base:.2f}x |"
                )
        session_times = [timed(lambda: raw.get("/v1/session").json()) for _ in range(args.runs * 5)]
        lines.append(
            f"| `GET /v1/session` (token check + routing) | http | "
            f"{statistics.median(session_times) * 1000:.1f} | {p99(session_times) * 1000:.1f} | |"
        )
    finally:
        raw.close()
        remote.close()
        mesh.close()
        server.terminate()
        server.wait(timeout=30)

    section = "\n".join(
        [
            "## server",
            "",
            f"Governed queries of `p/u` (a row filter `region = 'eu'`) over `sales.events` "
            f"({args.rows:,} rows, SQLite catalog store, local warehouse): in-process embedded "
            "session (baseline) against the same call through a real `meshlake serve` on "
            "127.0.0.1 (uvicorn, one process), through the SDK (Arrow IPC stream) and as JSON "
            f"with httpx. {args.runs} rounds, the three ways in rotating order; "
            f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} with {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}; 1-minute load average {load:.1f} at the "
            "start (other work on the machine makes runs noisy: the server runs on the other "
            "core, so a remote call can beat the embedded one).",
            "",
            "| query | way | median (ms) | p99 (ms) | / embedded |",
            "| --- | --- | ---: | ---: | ---: |",
            *lines,
            "",
            f"Command: `python bench/server.py --rows {args.rows} --scan-rows {args.scan_rows} "
            f"--runs {args.runs}`",
            "",
        ]
    )
    print(section)
    if not args.no_readme:
        write_section("## server", section)


if __name__ == "__main__":
    main()
