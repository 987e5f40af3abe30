"""Authorization at scale: decisions, table policies and listings over a large catalog.

Builds the synthetic catalog of ``authz_catalog.py`` (10,000 tables in 100 databases with 20
columns each, 1,000 tag values, 50,000 grants, 100,000 column tag assignments at full scale)
straight into a SQLite store, then times, with ``time.perf_counter_ns`` per call:

* the governance state load: after a change that moves every group (as a catalog update or
  delete does), and after a change to grants only, to tag assignments only, or a new table
  (only that group is read again);
* ``GovernanceEngine.state()`` when nothing changed (the version check every call pays);
* ``GovernanceEngine.decide`` on random (principal, table or database, action) triples;
* ``GovernanceEngine.table_policy`` on pairs where the principal holds SELECT, and on random
  pairs (mostly invisible tables, which raise NotFoundError);
* ``CatalogAPI.list_tables`` of a 100-table database, and ``list_databases``.

Each series runs twice on the same samples. *Cold*: right after a state reload, every sample a
distinct (principal, table/database) pair, so nothing about that pair is cached yet (caches
shared across pairs, such as a principal's grant index or a table's inherited tags, warm up
as the series goes, as they do in a running server). *Warm*: the same samples again, served
from the state's per-(principal, table) cache. Each scale runs in fresh processes (one builds,
one measures) so resident memory is that of the measurement alone.

Run: ``.venv/bin/python bench/authz_scale.py`` (options: ``--help``). Writes the
``## authz_scale`` section of ``bench/README.md``. There is no raw baseline (ARCHITECTURE §10).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

import meshlake
from meshlake.catalog.models import ColumnRow, GrantRow, TableRow, TagAssignmentRow
from meshlake.errors import MeshError
from meshlake.service.catalog import CatalogAPI

sys.path.insert(0, str(Path(__file__).parent))
from authz_catalog import CENTRAL, Catalog, build_catalog
from authz_report import render_section, write_section

CATALOG_FILE = "bench_catalog.pkl"
TABLE_ACTIONS = ("SELECT", "SELECT", "DESCRIBE", "INSERT", "ALTER")
DB_ACTIONS = ("DESCRIBE", "CREATE_TABLE")


def percentiles(ns: Sequence[int]) -> dict[str, float]:
    """p50, p99 and max of nanosecond timings, in microseconds (nearest rank).

    >>> percentiles([1000] * 99 + [5000])
    {'n': 100, 'p50_us': 1.0, 'p99_us': 1.0, 'max_us': 5.0}
    """
    s = sorted(ns)
    n = len(s)

    def rank(p: float) -> float:
        return s[max(0, math.ceil(round(p * n, 6)) - 1)] / 1000

    return {"n": n, "p50_us": rank(0.50), "p99_us": rank(0.99), "max_us": s[-1] / 1000}


def rss_mb() -> dict[str, float]:
    """Resident and peak resident memory of this process (Linux), in MB."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return out


def timed(
    calls: Sequence[Callable[[], Any]], *, collect: bool = True
) -> tuple[list[int], list[int], int]:
    """Run each call once (after a full garbage collection unless ``collect`` is false).

    Returns:
        Per-call wall-clock nanoseconds (``perf_counter_ns``), per-call CPU nanoseconds of
        this thread (``thread_time_ns``: what the call cost, without the time other processes
        held the CPU), and how many calls raised a MeshError.
    """
    if collect:
        gc.collect()
    wall, cpu, errors = [], [], 0
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for call in calls:
        start, cpu_start = clock(), cpu_clock()
        try:
            call()
        except MeshError:
            errors += 1
        cpu.append(cpu_clock() - cpu_start)
        wall.append(clock() - start)
    return wall, cpu, errors


class Bench:
    """The measurements of one scale, on an already built mesh home."""

    def __init__(
        self, home: Path, samples: int, list_samples: int, db_samples: int, seed: int
    ) -> None:
        self.mesh = meshlake.connect(home)
        self.rt = self.mesh.runtime
        self.engine = self.rt.engine
        with (home / CATALOG_FILE).open("rb") as fh:
            self.cat: Catalog = pickle.load(fh)
        self.rng = random.Random(seed)
        self.samples, self.list_samples, self.db_samples = samples, list_samples, db_samples
        self.result: dict[str, Any] = {"tables": self.cat.tables, "counts": self.cat.counts}

    def touch(self, row: Any) -> None:
        """A change to one governance group only: rewrite one row of ``row``'s table as is."""
        with self.rt.store.transaction() as session:
            key = session.scalars(select(row.id).limit(1)).one()
            session.execute(update(row).where(row.id == key).values(id=key))

    def add_table(self) -> None:
        """A new 20-column table in the first database (a catalog insert: only the catalog
        group moves)."""
        with self.rt.store.transaction() as session:
            db_id = session.scalars(select(TableRow.database_id).limit(1)).one()
            table = TableRow(
                database_id=db_id,
                name=f"added_{time.perf_counter_ns()}",
                creator=f"{CENTRAL}/bench",
                location="file:///nowhere",
                iceberg_id=f"bench.added_{time.perf_counter_ns()}",
                created_at=datetime.now(UTC),
            )
            session.add(table)
            session.flush()
            for i in range(20):
                session.add(
                    ColumnRow(
                        table_id=table.id,
                        position=i,
                        name=f"c{i:02d}",
                        type="VARCHAR",
                        field_id=i + 1,
                    )
                )

    def reload(self) -> None:
        """Load the state whole (a cold state: empty caches)."""
        self.engine.invalidate()
        self.engine.state()

    def series(self, name: str, calls: Sequence[Callable[[], Any]]) -> None:
        """Cold then warm timings of ``calls``, after a fresh state load."""
        self.reload()
        cold, cold_cpu, errors = timed(calls)
        warm, warm_cpu, _ = timed(calls)
        self.result[name] = {
            "cold": percentiles(cold),
            "warm": percentiles(warm),
            "cold_cpu": percentiles(cold_cpu),
            "warm_cpu": percentiles(warm_cpu),
            "errors": errors,
        }

    # ------------------------------------------------------------------ samples
    def _pairs(self, n: int) -> list[tuple[str, int]]:
        seen: set[tuple[str, int]] = set()
        while len(seen) < min(n, len(self.cat.principals) * self.cat.tables):
            seen.add((self.rng.choice(self.cat.principals), self.rng.randint(1, self.cat.tables)))
        out = sorted(seen)
        self.rng.shuffle(out)
        return out

    def decide_calls(self) -> list[Callable[[], Any]]:
        """Random decisions: 80% on tables (10% of them naming columns), 20% on databases."""
        rng, cat, decide = self.rng, self.cat, self.engine.decide
        calls: list[Callable[[], Any]] = []
        for principal, tid in self._pairs(self.samples):
            db, name = cat.table_names[tid]
            if rng.random() < 0.2:
                res: Any = meshlake.Database(db, account=CENTRAL)
                action = rng.choice(DB_ACTIONS)
            else:
                cols = ["c01", "c07"] if rng.random() < 0.1 else None
                res = meshlake.Table(db, name, columns=cols, account=CENTRAL)
                action = rng.choice(TABLE_ACTIONS)
            calls.append(partial(decide, principal, action, res))
        return calls

    def policy_calls(self, pairs: Sequence[tuple[str, int]]) -> list[Callable[[], Any]]:
        """``table_policy`` for each (principal, table id)."""
        policy = self.engine.table_policy
        names = self.cat.table_names
        return [partial(policy, p, *names[tid], CENTRAL) for p, tid in pairs]

    def granted_pairs(self) -> list[tuple[str, int]]:
        """Distinct pairs where a named, wildcard or re-granted grant gives SELECT."""
        pairs = sorted(set(self.cat.select_pairs))
        self.rng.shuffle(pairs)
        return pairs[: self.samples]

    def list_calls(self) -> list[Callable[[], Any]]:
        """``list_tables`` of a random database by a random principal (distinct pairs)."""
        pairs = {
            (self.rng.choice(self.cat.principals), self.rng.choice(self.cat.databases))
            for _ in range(self.list_samples * 3)
        }
        chosen = sorted(pairs)[: self.list_samples]
        self.rng.shuffle(chosen)
        return [partial(CatalogAPI(self.rt, p).list_tables, d, account=CENTRAL) for p, d in chosen]

    # ------------------------------------------------------------------ runs
    def run(self, loads: int, profile: Path | None) -> dict[str, Any]:
        """Every measurement of this scale."""
        self.result["loadavg_start"] = os.getloadavg()
        self.result["rss_start_mb"] = rss_mb()
        first = time.perf_counter_ns()
        self.engine.state()
        self.result["first_load_ms"] = (time.perf_counter_ns() - first) / 1e6
        self.result["rss_after_load_mb"] = rss_mb()
        loads_wall, loads_cpu = [], []
        for _ in range(loads):
            self.engine.invalidate()
            wall, cpu, _ = timed([self.engine.state])
            loads_wall += wall
            loads_cpu += cpu
        self.result["state_load"] = percentiles(loads_wall)
        self.result["state_load_cpu"] = percentiles(loads_cpu)
        for group, change in (
            ("grants", partial(self.touch, GrantRow)),
            ("tags", partial(self.touch, TagAssignmentRow)),
            ("catalog", self.add_table),
        ):
            loads_wall, loads_cpu = [], []
            for _ in range(loads):
                change()
                wall, cpu, _ = timed([self.engine.state])
                assert group in self.engine.state().reloaded
                loads_wall += wall
                loads_cpu += cpu
            self.result[f"state_load_{group}"] = percentiles(loads_wall)
            self.result[f"state_load_{group}_cpu"] = percentiles(loads_cpu)
        check, check_cpu, _ = timed([self.engine.state] * self.samples)
        self.result["version_check"] = percentiles(check)
        self.result["version_check_cpu"] = percentiles(check_cpu)
        granted = self.granted_pairs()
        self.series("decide", self.decide_calls())
        self.series("policy_granted", self.policy_calls(granted))
        self.series("policy_random", self.policy_calls(self._pairs(self.samples)))
        self.series("list_tables", self.list_calls())
        dbs_by = [
            CatalogAPI(self.rt, p)
            for p in self.rng.sample(
                self.cat.principals, min(self.db_samples, len(self.cat.principals))
            )
        ]
        self.series("list_databases", [api.list_databases for api in dbs_by])
        self.result["allowed_decisions"] = sum(bool(c()) for c in self.decide_calls()[:500]) / 500
        self.result["rss_after_queries_mb"] = rss_mb()
        self.result["cache_entries_end"] = len(self.engine.state().cache)
        self.result["loadavg_end"] = os.getloadavg()
        self.memory(granted)
        if profile is not None:
            self.profile(profile, granted)
        return self.result

    def memory(self, granted: Sequence[tuple[str, int]]) -> None:
        """Bytes held by a loaded state and by its per-pair cache (tracemalloc)."""
        self.engine.invalidate()
        gc.collect()
        tracemalloc.start()
        st = self.engine.state()
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()  # the load's own garbage is not the state's
        loaded, _ = tracemalloc.get_traced_memory()
        entries = len(st.cache)
        timed(self.policy_calls(granted))
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pairs = len({k[1:] for k in st.cache if k[0] == "ta"})
        self.result["memory"] = {
            "state_mb": round(loaded / 2**20, 1),
            "load_peak_mb": round(peak / 2**20, 1),
            "cache_bytes_per_pair": round((after - loaded) / max(1, pairs)),
            "cache_entries": len(st.cache) - entries,
            "pairs": pairs,
        }

    def profile(self, out: Path, granted: Sequence[tuple[str, int]]) -> None:
        """cProfile cold table_policy, cold list_tables and a state reload into ``out``_*.txt."""
        import cProfile
        import pstats

        out.parent.mkdir(parents=True, exist_ok=True)
        for name, calls in (
            ("policy_granted", self.policy_calls(granted)),
            ("list_tables", self.list_calls()),
            ("state_load", [self.reload]),
        ):
            self.reload()
            gc.collect()
            prof = cProfile.Profile()
            prof.enable()
            timed(calls, collect=False)
            prof.disable()
            path = out.with_name(f"{out.stem}_{self.cat.tables}_{name}.txt")
            with path.open("w") as fh:
                stats = pstats.Stats(prof, stream=fh)
                stats.sort_stats("tottime").print_stats(25)
                stats.sort_stats("cumulative").print_stats(25)


def child(args: argparse.Namespace) -> None:
    """One step of one scale in this process: build the catalog, or measure it."""
    home = Path(args.home)
    if args.child == "build":
        mesh = meshlake.connect(home)
        start = time.perf_counter()
        cat = build_catalog(
            mesh.runtime.store, args.tables, principals=args.principals, seed=args.seed
        )
        cat.counts["build_s"] = round(time.perf_counter() - start, 1)  # type: ignore[assignment]
        with (home / CATALOG_FILE).open("wb") as fh:
            pickle.dump(cat, fh)
        mesh.close()
        return
    bench = Bench(home, args.samples, args.list_samples, args.db_samples, args.seed)
    profile = Path(args.profile) if args.profile else None
    print(json.dumps(bench.run(args.loads, profile)))


def run_scale(args: argparse.Namespace, tables: int) -> dict[str, Any]:
    """Build and measure one scale in two fresh processes."""
    home = Path(tempfile.mkdtemp(prefix=f"authz{tables}_", dir=args.workdir))
    common = [
        sys.executable,
        __file__,
        "--home",
        str(home),
        "--tables",
        str(tables),
        "--principals",
        str(args.principals),
        "--seed",
        str(args.seed),
    ]
    try:
        subprocess.run([*common, "--child", "build"], check=True)
        cmd = [
            *common,
            "--child",
            "measure",
            "--samples",
            str(args.samples),
            "--list-samples",
            str(args.list_samples),
            "--db-samples",
            str(args.db_samples),
            "--loads",
            str(args.loads),
        ]
        if args.profile:
            cmd += ["--profile", args.profile]
        proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["store_mb"] = round(sum(f.stat().st_size for f in home.iterdir()) / 2**20, 1)
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scales",
        default="100,1000,10000",
        help="table counts, comma-separated (default: 100,1000,10000)",
    )
    p.add_argument("--samples", type=int, default=2000, help="decisions/policies per series")
    p.add_argument("--list-samples", type=int, default=500, help="list_tables calls")
    p.add_argument("--db-samples", type=int, default=30, help="list_databases calls")
    p.add_argument("--loads", type=int, default=5, help="timed state reloads")
    p.add_argument("--principals", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--readme",
        default=str(Path(__file__).with_name("README.md")),
        help="markdown file to write the results into ('' to skip)",
    )
    p.add_argument("--json", default="", help="also write raw results to this file")
    p.add_argument(
        "--profile",
        default="",
        help="write cProfile reports next to this path (one per scale and series)",
    )
    p.add_argument("--workdir", default=None, help="where the temporary mesh homes go")
    p.add_argument("--child", choices=["build", "measure"], help=argparse.SUPPRESS)
    p.add_argument("--home", help=argparse.SUPPRESS)
    p.add_argument("--tables", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def measuring_options(args: argparse.Namespace) -> list[str]:
    """The options that change what is measured (output-only options left out)."""
    defaults = parse_args([])
    out = []
    for name in ("scales", "samples", "list_samples", "db_samples", "loads", "principals", "seed"):
        if getattr(args, name) != getattr(defaults, name):
            out.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run every scale, print the results and write the README section."""
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    results = []
    for tables in (int(s) for s in args.scales.split(",")):
        print(f"authz_scale: {tables} tables ...", file=sys.stderr, flush=True)
        results.append(run_scale(args, tables))
    command = " ".join(["python bench/authz_scale.py", *measuring_options(args)])
    section = render_section(results, command.strip(), os.cpu_count() or 0)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.readme:
        write_section(Path(args.readme), section)


if __name__ == "__main__":
    main()
