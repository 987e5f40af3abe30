"""Benchmark: governed query overhead against raw DuckDB over the same snapshot's files.

Writes a table ``bench.events`` (``--rows`` rows, default 10 million: id BIGINT, region VARCHAR
of 5 values, amount DOUBLE uniform in [0, 1000), customer VARCHAR, ssn VARCHAR, ts TIMESTAMP)
and ``bench.customers`` (100,000 rows) through meshlake, then times the issue's four queries
(full-scan aggregate, selective filter hitting ~0.1%, point lookup with LIMIT, join +
aggregate) plus a probe (a point lookup that statistics rule out: pure fixed cost) for two
principals, ``p/full`` (SELECT on the tables) and ``p/u`` (a data filter ``region = 'eu'``
excluding ``ssn``), each three ways, in one process:

* **raw**: DuckDB ``read_parquet`` over the data files of the same snapshot, with the
  principal's row filter and projection written by hand (ARCHITECTURE.md §10);
* **engine**: :func:`meshlake.query.service.run_query` (parse, resolve, authorize, plan the
  scans, governed views, execute), nothing recorded;
* **session**: ``session.query(sql)``, which also tracks the execution (RUNNING row written
  lazily), stores the result (inline in the record when small, else Parquet), records the
  outcome and writes one audit event per table read.

Each series gets a warm-up (results checked equal across the three ways), then ``--runs``
rounds (``--lookup-runs`` for the lookups), the three ways in rotating order within a round.
Medians, p99, ratios, the time by phase and the uncached sqlglot cost go to
``bench/README.md`` under ``## query_overhead`` (rendered by ``query_overhead_report.py``;
other sections are left alone).

    python bench/query_overhead.py                       # 10M rows, 11 / 41 rounds
    python bench/query_overhead.py --rows 1000000 --runs 5 --lookup-runs 9 --no-readme
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import meshlake
import meshlake.service.queries as query_api
from meshlake.query.analyze import parse_query
from meshlake.query.context import ResolvedTable, TableScan
from meshlake.query.service import _resolve, _visible, plan_query, run_query
from meshlake.service.governed import MeshQueryCatalog

sys.path.insert(0, str(Path(__file__).parent))
from _readme import README, write_section
from query_overhead_report import (
    EXCLUDED,
    MODES,
    PRINCIPALS,
    ROW_FILTER,
    SECTION,
    Query,
    Series,
    machine,
    med,
    queries,
    render,
)

REGIONS = ("eu", "us", "apac", "latam", "mea")
SEGMENTS = ("retail", "business", "private", "public")
CUSTOMERS = 100_000
DUCKDB_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


# ------------------------------------------------------------------ data


def customer_keys() -> pa.Array:
    return pc.binary_join_element_wise(
        "C", pc.utf8_lpad(pc.cast(pa.array(np.arange(CUSTOMERS)), pa.string()), 6, "0"), ""
    )


def generate_customers(seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "customer": customer_keys(),
            "segment": pa.array(np.array(SEGMENTS)[rng.integers(0, len(SEGMENTS), CUSTOMERS)]),
            "since": pa.array(rng.integers(1990, 2026, CUSTOMERS)),
        }
    )


def generate_events(
    rows: int, batch_rows: int, lookup_id: int, seed: int = 7
) -> Iterator[pa.Table]:
    """``rows`` events in batches; the row ``lookup_id`` is in region ``eu``."""
    rng = np.random.default_rng(seed)
    keys, regions = customer_keys(), np.array(REGIONS)
    start_ts = np.datetime64("2025-01-01T00:00:00", "us")
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        region = rng.integers(0, len(REGIONS), n)
        if start <= lookup_id < start + n:
            region[lookup_id - start] = 0
        digits = [
            pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10**w, n)), pa.string()), w, "0")
            for w in (3, 2, 4)
        ]
        yield pa.table(
            {
                "id": pa.array(ids),
                "region": pa.array(regions[region]),
                "amount": pa.array(np.round(rng.random(n) * 1000.0, 2)),
                "customer": keys.take(pa.array(rng.integers(0, CUSTOMERS, n))),
                "ssn": pc.binary_join_element_wise(*digits, "-"),
                "ts": pa.array(start_ts + rng.integers(0, 365 * 86_400 * 10**6, n)),
            }
        )


@dataclass
class Fixture:
    """The mesh, the two principals' sessions and the planned data files."""

    mesh: meshlake.Mesh
    sessions: dict[str, meshlake.Session]
    events_files: tuple[str, ...]
    customers_files: tuple[str, ...]
    events_columns: tuple[str, ...]


def build(home: Path, rows: int, batch_rows: int, lookup_id: int) -> Fixture:
    """Create the mesh, write the tables through meshlake, grant the two principals."""
    mesh = meshlake.connect(home)
    root = mesh.bootstrap()
    root.accounts.create("p")
    for name in ("admin", "full", "u"):
        root.principals.create(f"p/{name}")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("bench")
    batches = generate_events(rows, batch_rows, lookup_id)
    admin.catalog.create_table("bench", "events", data=next(batches))
    for batch in batches:
        admin.catalog.append("bench", "events", data=batch)
    admin.catalog.create_table("bench", "customers", data=generate_customers())
    admin.filters.create(
        "bench", "events", "eu_only", row_filter=ROW_FILTER, excluded_columns=list(EXCLUDED)
    )
    admin.grant("p/u", meshlake.DataFilter("bench", "events", "eu_only"), ["SELECT"])
    admin.grant("p/full", meshlake.Table("bench", "events"), ["SELECT"])
    for who in ("p/full", "p/u"):
        admin.grant(who, meshlake.Table("bench", "customers"), ["SELECT"])

    def files(table: str) -> tuple[str, ...]:
        rt = admin.catalog.resolve_table("bench", table)
        return mesh.runtime.tables.plan(rt.table.iceberg_id).files

    events = admin.catalog.resolve_table("bench", "events").table
    return Fixture(
        mesh,
        dict(zip(PRINCIPALS, (mesh.session("p/full"), mesh.session("p/u")), strict=True)),
        files("events"),
        files("customers"),
        tuple(events.columns),
    )


# ------------------------------------------------------------------ timing


class TimedCatalog(MeshQueryCatalog):
    """The engine path's catalog, timing table resolution (policy) and scan planning."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ms = {"resolve": 0.0, "scan planning": 0.0}

    def resolve(self, database: str | None, table: str) -> ResolvedTable:
        start = time.perf_counter()
        try:
            return super().resolve(database, table)
        finally:
            self.ms["resolve"] += (time.perf_counter() - start) * 1000

    def scan(self, table: ResolvedTable, **kwargs: Any) -> TableScan:
        start = time.perf_counter()
        try:
            return super().scan(table, **kwargs)
        finally:
            self.ms["scan planning"] += (time.perf_counter() - start) * 1000


class PhaseClock:
    """Times the bookkeeping steps of ``session.queries`` by wrapping its bound methods."""

    STEPS = {
        "_begin": "workgroup + tracking",
        "_record_success": "record + audit",
        "_write_result": "result stored",
        "_inline_result": "result stored",
    }

    def __init__(self, session: meshlake.Session) -> None:
        self.last: dict[str, float] = {}
        api = session.queries
        for step in ("_begin", "_record_success", "_write_result"):
            setattr(api, step, self._wrap(step, getattr(api, step)))

    def reset(self) -> None:
        """Before a run: every step at 0 (a run stores its result one way only)."""
        self.last = dict.fromkeys(self.STEPS.values(), 0.0)

    def _wrap(self, step: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.last[self.STEPS[step]] = (time.perf_counter() - start) * 1000
                if step == "_record_success":
                    self.last["engine"] = args[2].timings.total_ms  # the QueryOutcome

        return timed


class Runner:
    """Runs one query one way; returns (milliseconds, result, phases)."""

    def __init__(self, fx: Fixture) -> None:
        self.fx = fx
        self.raw = duckdb.connect(config=DUCKDB_CONFIG)
        # The engine caches Parquet metadata too; give the baseline the same advantage.
        self.raw.execute("SET parquet_metadata_cache = true")
        self.clocks = {who: PhaseClock(s) for who, s in fx.sessions.items()}
        # the module-level step (small results kept with the record) is timed for all
        inline = query_api._inline_result
        clocks = list(self.clocks.values())

        def timed_inline(result: Any) -> Any:
            start = time.perf_counter()
            try:
                return inline(result)
            finally:
                for clock in clocks:
                    clock.last["result stored"] = (time.perf_counter() - start) * 1000

        query_api._inline_result = timed_inline

    def raw_sql(self, query: Query, who: str) -> str:
        def scan(files: tuple[str, ...]) -> str:
            return "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"

        events = scan(self.fx.events_files)
        if who == "restricted":
            cols = ", ".join(c for c in self.fx.events_columns if c not in EXCLUDED)
            events = f"(SELECT {cols} FROM {events} WHERE {ROW_FILTER})"
        return query.raw(events, scan(self.fx.customers_files))

    def run(self, mode: str, query: Query, who: str) -> tuple[float, pa.Table, dict[str, float]]:
        phases: dict[str, float] = {}
        if mode == "raw":
            sql = self.raw_sql(query, who)
            start = time.perf_counter()
            table = self.raw.sql(sql).to_arrow_table()
        elif mode == "engine":
            catalog = TimedCatalog(self.fx.mesh.runtime, self.fx.sessions[who].principal)
            start = time.perf_counter()
            outcome = run_query(catalog, query.governed())
            assert outcome.result is not None
            table = outcome.result.to_arrow()
            t = outcome.timings
            phases = {
                **catalog.ms,
                "parse + rewrite": t.parse_ms + t.plan_ms - sum(catalog.ms.values()),
                "execute": t.execute_ms,
            }
        else:
            self.clocks[who].reset()
            start = time.perf_counter()
            table = self.fx.sessions[who].query(query.governed()).to_arrow()
        ms = (time.perf_counter() - start) * 1000
        if mode == "session":
            phases = dict(self.clocks[who].last)
            phases["session other"] = ms - sum(phases.values())
            del phases["engine"]
        return ms, table, phases


def measure(runner: Runner, query: Query, who: str, runs: int) -> Series:
    """A warm-up of each way (results checked equal), then ``runs`` rounds."""
    series = Series()
    results = {mode: runner.run(mode, query, who)[1] for mode in MODES}
    for mode in MODES[1:]:
        check_same(results["raw"], results[mode], f"{query.name}/{who}/{mode}")
    series.rows = results["raw"].num_rows
    for i in range(runs):
        for mode in MODES[i % 3 :] + MODES[: i % 3]:
            ms, _, phases = runner.run(mode, query, who)
            series.times[mode].append(ms)
            series.add(phases)
    return series


def check_same(expected: pa.Table, actual: pa.Table, label: str) -> None:
    """Same column names and rows (any order; doubles compared to 1e-9 relative)."""
    if expected.column_names != actual.column_names or expected.num_rows != actual.num_rows:
        raise SystemExit(f"{label}: result differs from raw DuckDB")
    key = [(name, "ascending") for name in expected.column_names]
    a, b = expected.sort_by(key).to_pylist(), actual.sort_by(key).to_pylist()
    for x, y in zip(a, b, strict=True):
        for k, v in x.items():
            w = y[k]
            same = math.isclose(v, w, rel_tol=1e-9) if isinstance(v, float) else v == w
            if not same:
                raise SystemExit(f"{label}: column {k} differs from raw DuckDB ({v!r} != {w!r})")


def uncached_planning_ms(fx: Fixture, query: Query, who: str, runs: int = 5) -> float:
    """Median ms of the sqlglot work a new query text pays: parse + check, rewrite, columns.

    ``run_query`` caches both per query text (and visible schema); this clears the caches
    and times the two steps alone, on the same inputs ``run_query`` gives them.
    """
    catalog = MeshQueryCatalog(fx.mesh.runtime, fx.sessions[who].principal)
    sql = query.governed()
    times = []
    for _ in range(runs):
        parse_query.cache_clear()
        plan_query.cache_clear()
        t0 = time.perf_counter()
        parsed = parse_query(sql, "duckdb")
        t1 = time.perf_counter()
        resolved = _resolve(catalog, parsed.tables, None)
        sources = tuple((r, _visible(resolved[(r.database, r.name)])) for r in parsed.tables)
        t2 = time.perf_counter()
        plan_query(sql, "duckdb", sources, "duckdb", None)
        times.append((t1 - t0 + time.perf_counter() - t2) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="events rows (10M)")
    parser.add_argument("--runs", type=int, default=11, help="rounds per scan query (11)")
    parser.add_argument("--lookup-runs", type=int, default=41, help="rounds per lookup (41)")
    parser.add_argument("--batch-rows", type=int, default=2_000_000, help="rows per commit")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args(argv)
    command = "python bench/query_overhead.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    load_start = os.getloadavg()
    lookup_id = min(1_234_567, args.rows // 2)
    tmp = Path(tempfile.mkdtemp(prefix="meshlake-bench-query-"))
    try:
        start = time.perf_counter()
        fx = build(tmp / "home", args.rows, args.batch_rows, lookup_id)
        mib = sum(os.path.getsize(f) for f in fx.events_files) / 2**20
        print(
            f"wrote {args.rows:,} rows in {len(fx.events_files)} files ({mib:.0f} MiB) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        runner = Runner(fx)
        qs = queries(lookup_id)
        results: dict[tuple[str, str], Series] = {}
        for q in qs:
            for who in PRINCIPALS:
                runs = args.runs if q.kind == "scan" else args.lookup_runs
                s = results[(q.name, who)] = measure(runner, q, who, runs)
                raw, eng, ses = (med(s.times[m]) for m in MODES)
                print(
                    f"{q.name:30} {who:10} raw {raw:9.1f}  engine {eng:9.1f} ({eng / raw:.2f}x)"
                    f"  session {ses:9.1f} ({ses / raw:.2f}x, {s.added('session'):+.1f} ms)"
                )
        planning = {q.name: uncached_planning_ms(fx, q, "restricted") for q in qs}
        fx.mesh.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    facts = {
        "rows": args.rows,
        "files": len(fx.events_files),
        "mib": mib,
        "runs": args.runs,
        "lookup_runs": args.lookup_runs,
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": machine(),
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "command": command.strip(),
    }
    section = render(results, qs, planning, facts)
    print()
    print(section)
    if not args.no_readme:
        write_section(SECTION, section, README)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
