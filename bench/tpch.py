"""Benchmark: the 22 TPC-H queries through the policy, against raw DuckDB on the same files.

Generates TPC-H data with ``tpchgen-cli`` (PyPI; scale factor 1 by default, ``--scale`` for
smaller runs), writes the eight tables through meshlake (``tpch.*``), and runs each query for
three principals:

* ``full``: SELECT on every table;
* ``rows``: a data filter on ``orders`` and one on ``lineitem`` keeping the rows with an order
  key below half the key range (about half the rows), and ``o_totalprice`` masked (NULL)
  on the upper half of those (a second filter covering it for keys below a quarter);
* ``cols``: SELECT on every table without its comment column (Q2, Q10, Q13 and Q16 read one
  and must be refused with NotFoundError).

Each query runs three ways, in one process: **raw** (DuckDB ``read_parquet`` over the data
files of the same snapshots, through plain views holding the principal's policy written by
hand, ARCHITECTURE.md §10), **engine** (:func:`meshlake.query.service.run_query`, nothing
recorded) and **session** (``session.query(sql)``: also the result file, the execution record
and the audit). Results are checked equal before timing; then ``--runs`` rounds, the three
ways in rotating order. Raw DuckDB gets the engine's settings (Parquet metadata cache, no
insertion order), so the ratios measure governance alone. Medians, ratios and their geometric
means go to ``bench/README.md``
under ``## tpch``.

    python bench/tpch.py                          # scale factor 1, 5 rounds
    python bench/tpch.py --scale 0.1 --runs 3 --no-readme
    python bench/tpch.py --home /tmp/tpch-home    # keep (and reuse) the mesh between runs
    python bench/tpch.py --principals rows --barrier secure   # an alternative barrier (no README)
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import meshlake
from meshlake.query import service
from meshlake.query.engines.duckdb import BARRIERS, DuckDBEngine, local_path
from meshlake.query.service import run_query
from meshlake.service.governed import MeshQueryCatalog

sys.path.insert(0, str(Path(__file__).parent))
from _readme import README, write_section
from query_overhead_report import machine
from tpch_queries import COMMENT_QUERIES, TABLES, queries

SECTION = "## tpch"
MODES = ("raw", "engine", "session")
PRINCIPALS = ("full", "rows", "cols")
COMMENTS = {t: f"{t[0] if t != 'partsupp' else 'ps'}_comment" for t in TABLES}
COMMENTS["lineitem"] = "l_comment"
DUCKDB_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
TARGETS = {"full": (1.10, 1.5), "rows": (1.5, 3.0)}  # geometric mean, worst query


# ------------------------------------------------------------------ data


def generate(scale: float, out: Path) -> None:
    """Write the eight tables as Parquet with ``tpchgen-cli`` (skipped when present)."""
    if all((out / f"{t}.parquet").exists() for t in TABLES):
        return
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).with_name("tpchgen-cli"))
    if not os.path.exists(exe):
        raise SystemExit("tpchgen-cli not found: pip install tpchgen-cli (or '.[bench]')")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [exe, "parquet", "-s", f"{scale:g}", "--output-dir", str(out), "--overwrite"], check=True
    )


def _plain_strings(table: pa.Table) -> pa.Table:
    """tpchgen writes ``string_view``; meshlake tables take ``string``."""
    fields = [
        pa.field(f.name, pa.string(), nullable=f.nullable) if pa.types.is_string_view(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


@dataclass
class Fixture:
    """The mesh, one session per principal and the planned files of each table."""

    mesh: meshlake.Mesh
    sessions: dict[str, meshlake.Session]
    files: dict[str, tuple[str, ...]]
    columns: dict[str, tuple[str, ...]]
    half: int


def half_key(scale: float) -> int:
    """Order keys run up to 6,000,000 x scale: below this lies about half of them."""
    return int(3_000_000 * scale)


def build(home: Path, data: Path, scale: float) -> Fixture:
    """Create the mesh (or reopen one built before), the tables and the three principals."""
    fresh = not (home / ".tpch-built").exists()
    if fresh and home.exists():
        shutil.rmtree(home)
    mesh = meshlake.connect(home)
    half = half_key(scale)
    if fresh:
        root = mesh.bootstrap()
        root.accounts.create("t")
        for name in ("admin", *PRINCIPALS):
            root.principals.create(f"t/{name}")
        root.accounts.set_admins("t", ["t/admin"])
        admin = mesh.session("t/admin")
        admin.catalog.create_database("tpch")
        for t in TABLES:
            start = time.perf_counter()
            admin.catalog.create_table(
                "tpch", t, data=_plain_strings(pq.read_table(data / f"{t}.parquet"))
            )
            print(f"loaded {t} in {time.perf_counter() - start:.1f} s", flush=True)
        filters = {
            "orders": [
                ("orders_half", f"o_orderkey < {half}", {"excluded_columns": ["o_totalprice"]}),
                ("orders_quarter", f"o_orderkey < {half // 2}", {}),
            ],
            "lineitem": [("lineitem_half", f"l_orderkey < {half}", {})],
        }
        for t in TABLES:
            admin.grant("t/full", meshlake.Table("tpch", t), ["SELECT"])
            admin.grant(
                "t/cols", meshlake.Table("tpch", t, excluded_columns=[COMMENTS[t]]), ["SELECT"]
            )
            if t not in filters:
                admin.grant("t/rows", meshlake.Table("tpch", t), ["SELECT"])
            for name, row_filter, kwargs in filters.get(t, []):
                admin.filters.create("tpch", t, name, row_filter=row_filter, **kwargs)
                admin.grant("t/rows", meshlake.DataFilter("tpch", t, name), ["SELECT"])
        (home / ".tpch-built").write_text(f"{scale:g}\n")
    admin = mesh.session("t/admin")
    files, columns = {}, {}
    for t in TABLES:
        rt = admin.catalog.resolve_table("tpch", t)
        files[t] = mesh.runtime.tables.plan(rt.table.iceberg_id).files
        columns[t] = tuple(rt.table.columns)
    sessions = {p: mesh.session(f"t/{p}") for p in PRINCIPALS}
    return Fixture(mesh, sessions, files, columns, half)


def raw_connection(fx: Fixture) -> duckdb.DuckDBPyConnection:
    """Raw DuckDB: one schema of plain views per principal, the policy written by hand."""
    # The engine's own settings, so that the ratio measures governance alone: the Parquet
    # metadata cache, and no insertion order for results without ORDER BY (the engine
    # sets it for its fence, and it also speeds raw DuckDB up).
    con = duckdb.connect(config={**DUCKDB_CONFIG, "preserve_insertion_order": False})
    con.execute("SET parquet_metadata_cache = true")
    for who in PRINCIPALS:
        con.execute(f"CREATE SCHEMA raw_{who}")
        for t in TABLES:
            source = "read_parquet([" + ", ".join(f"'{f}'" for f in fx.files[t]) + "])"
            cols = list(fx.columns[t])
            where = ""
            if who == "cols":
                cols.remove(COMMENTS[t])
            elif who == "rows" and t == "orders":
                cols[cols.index("o_totalprice")] = (
                    f"CASE WHEN o_orderkey < {fx.half // 2} THEN o_totalprice END AS o_totalprice"
                )
                where = f" WHERE o_orderkey < {fx.half}"
            elif who == "rows" and t == "lineitem":
                where = f" WHERE l_orderkey < {fx.half}"
            con.execute(
                f"CREATE VIEW raw_{who}.{t} AS SELECT {', '.join(cols)} FROM {source}{where}"
            )
    return con


# ------------------------------------------------------------------ timing


@dataclass
class Series:
    """One query for one principal: milliseconds per way, or why it was refused.

    ``times`` is wall clock; ``cpu`` the process's CPU time over the same call (every
    DuckDB thread and the result writer included): on a shared machine the other
    processes inflate the first, hardly the second.
    """

    times: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    rows: int = 0
    refused: str | None = None

    def median(self, mode: str, *, cpu: bool = False) -> float:
        return statistics.median((self.cpu if cpu else self.times)[mode])

    def ratio(self, mode: str, *, cpu: bool = False) -> float:
        return self.median(mode, cpu=cpu) / self.median("raw", cpu=cpu)


class Runner:
    """Runs one query one way; returns (wall ms, CPU ms, result)."""

    def __init__(self, fx: Fixture, scale: float) -> None:
        self.fx = fx
        self.raw = raw_connection(fx)
        self.governed = queries("tpch", scale)
        self.raw_sql = {who: queries(f"raw_{who}", scale) for who in PRINCIPALS}

    def run(self, mode: str, name: str, who: str) -> tuple[float, float, pa.Table]:
        cpu = time.process_time()
        start = time.perf_counter()
        if mode == "raw":
            table = self.raw.sql(self.raw_sql[who][name]).to_arrow_table()
        elif mode == "engine":
            catalog = MeshQueryCatalog(self.fx.mesh.runtime, self.fx.sessions[who].principal)
            outcome = run_query(catalog, self.governed[name])
            assert outcome.result is not None
            table = outcome.result.to_arrow()
        else:
            table = self.fx.sessions[who].query(self.governed[name]).to_arrow()
        wall = (time.perf_counter() - start) * 1000
        return wall, (time.process_time() - cpu) * 1000, table


def measure(runner: Runner, name: str, who: str, runs: int) -> Series:
    """A warm-up of each way (results checked equal), then ``runs`` rounds."""
    series = Series()
    if who == "cols" and name in COMMENT_QUERIES:
        for mode in MODES[1:]:
            try:
                runner.run(mode, name, who)
            except meshlake.NotFoundError as exc:
                series.refused = str(exc)
            else:
                raise SystemExit(f"{name}/{who}/{mode}: a hidden comment column was readable")
        return series
    results = {mode: runner.run(mode, name, who)[2] for mode in MODES}
    for mode in MODES[1:]:
        check_same(results["raw"], results[mode], f"{name}/{who}/{mode}")
    series.rows = results["raw"].num_rows
    for i in range(runs):
        for mode in MODES[i % 3 :] + MODES[: i % 3]:
            ms, cpu, _ = runner.run(mode, name, who)
            series.times[mode].append(ms)
            series.cpu[mode].append(cpu)
    return series


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | Decimal):
        return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def check_same(expected: pa.Table, actual: pa.Table, label: str) -> None:
    """Same column names and rows, in the same order (doubles to 1e-9 relative)."""
    if expected.column_names != actual.column_names or expected.num_rows != actual.num_rows:
        raise SystemExit(
            f"{label}: result differs from raw DuckDB ({actual.num_rows} rows, "
            f"{expected.num_rows} expected)"
        )
    for x, y in zip(expected.to_pylist(), actual.to_pylist(), strict=True):
        for k, v in x.items():
            if not _same(v, y[k]):
                raise SystemExit(f"{label}: column {k} differs from raw DuckDB ({v!r} != {y[k]!r})")


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


# ------------------------------------------------------------------ report


def render(results: dict[tuple[str, str], Series], names: list[str], facts: dict[str, Any]) -> str:
    """The README section."""
    whos = [w for w in PRINCIPALS if any((n, w) in results for n in names)]
    lines = [
        SECTION,
        "",
        f"The 22 TPC-H queries at scale factor {facts['scale']:g} (`tpchgen-cli`; lineitem "
        f"{facts['lineitem_rows']:,} rows) written through meshlake as `tpch.*`, run by three "
        "principals three ways in one process: **raw** DuckDB `read_parquet` over the same "
        "snapshots' files through plain views holding the policy written by hand "
        "(ARCHITECTURE.md §10; with the engine's settings `parquet_metadata_cache` and "
        "`preserve_insertion_order=false`), **engine** (`run_query`: parse, authorize, "
        "plan, governed views, execute) and **session** (`session.query`: also the result "
        "file, the execution record and the audit). `full` holds SELECT on every table; "
        "`rows` reads `orders` and `lineitem` through data filters keeping order keys below "
        "half the range (about half the rows) with `o_totalprice` masked on half of those, "
        "the other tables whole; `cols` reads every table without its comment column (Q2, "
        "Q10, Q13, Q16 name one: refused with NotFoundError, as they must be). Results were "
        "checked equal to raw before "
        f"timing; medians of {facts['runs']} rounds, the ways in rotating order. "
        f"{facts['date']}, {facts['machine']}; 1-minute load average "
        f"{facts['load_start'][0]:.1f} at the start, {facts['load_end'][0]:.1f} at the end.",
        "",
        f"Command: `{facts['command']}`",
        "",
    ]
    lines += _table(results, names, whos, cpu=False)
    lines += [
        "",
        "The same runs in CPU time of the process (every DuckDB thread and the result writer; "
        "other processes on the machine inflate wall clock, hardly this):",
        "",
    ]
    lines += _table(results, names, whos, cpu=True)
    lines.append("")
    for w in whos:
        timed = {
            n: results[(n, w)] for n in names if (n, w) in results and not results[(n, w)].refused
        }
        if not timed:
            continue
        target = TARGETS.get(w)
        goal = (
            f" Target: geometric mean ≤ {target[0]}x, no query above {target[1]}x."
            if target
            else ""
        )
        parts = []
        for mode in MODES[1:]:
            for cpu in (False, True):
                worst = max(timed, key=lambda n: timed[n].ratio(mode, cpu=cpu))
                mean = geomean([s.ratio(mode, cpu=cpu) for s in timed.values()])
                parts.append(
                    f"{mode} {'CPU' if cpu else 'wall clock'} {mean:.2f}x "
                    f"(worst {worst} {timed[worst].ratio(mode, cpu=cpu):.2f}x)"
                )
        lines.append(
            f"- `{w}`: {len(timed)} queries equal to raw; geometric means "
            + ", ".join(parts)
            + f".{goal}"
        )
    lines.append("")
    return "\n".join(lines)


def _table(
    results: dict[tuple[str, str], Series], names: list[str], whos: list[str], *, cpu: bool
) -> list[str]:
    """One Markdown table: per query and principal, raw median and the two ratios."""
    unit = "CPU ms" if cpu else "ms"
    head, rule = "| query |", "| --- |"
    for w in whos:
        head += f" {w} raw ({unit}) | {w} engine | {w} session |"
        rule += " ---: | ---: | ---: |"
    lines = [head, rule]
    for n in names:
        row = f"| {n} |"
        for w in whos:
            s = results.get((n, w))
            if s is None:
                row += " | | |"
            elif s.refused:
                row += " refused | | |"
            else:
                row += (
                    f" {s.median('raw', cpu=cpu):,.1f} | {s.ratio('engine', cpu=cpu):.2f}x |"
                    f" {s.ratio('session', cpu=cpu):.2f}x |"
                )
        lines.append(row)
    row = "| **geometric mean** |"
    for w in whos:
        timed = [
            results[(n, w)] for n in names if (n, w) in results and not results[(n, w)].refused
        ]
        row += (
            f" | **{geomean([s.ratio('engine', cpu=cpu) for s in timed]):.2f}x** |"
            f" **{geomean([s.ratio('session', cpu=cpu) for s in timed]):.2f}x** |"
        )
    return [*lines, row]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (1)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per query (5)")
    parser.add_argument("--queries", default="", help="comma-separated subset, e.g. Q2,Q9")
    parser.add_argument("--principals", default=",".join(PRINCIPALS), help="full,rows,cols")
    parser.add_argument("--data", type=Path, help="tpchgen-cli output folder (reused)")
    parser.add_argument("--home", type=Path, help="mesh home, kept and reused between runs")
    parser.add_argument(
        "--barrier",
        choices=BARRIERS,
        default="fence",
        help="the engine's barrier for filtered and masked tables (fence)",
    )
    parser.add_argument(
        "--no-pushdown", action="store_true", help="copy no comparison below the fence"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args(argv)
    if args.barrier != "fence" or args.no_pushdown:  # measuring an alternative: never the README
        args.no_readme = True
        service._ENGINE = DuckDBEngine(barrier=args.barrier, pushdown=not args.no_pushdown)
    command = "python bench/tpch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="meshlake-bench-tpch-"))
    try:
        data = args.data or tmp / "data"
        start = time.perf_counter()
        generate(args.scale, data)
        fx = build(args.home or tmp / "home", data, args.scale)
        print(f"data ready in {time.perf_counter() - start:.1f} s", flush=True)
        runner = Runner(fx, args.scale)
        names = [n.strip() for n in args.queries.split(",") if n.strip()] or list(runner.governed)
        whos = [w.strip() for w in args.principals.split(",") if w.strip()]
        results: dict[tuple[str, str], Series] = {}
        for who in whos:
            for n in names:
                s = results[(n, who)] = measure(runner, n, who, args.runs)
                if s.refused:
                    print(f"{n:4} {who:5} refused: {s.refused}", flush=True)
                    continue
                print(
                    f"{n:4} {who:5} raw {s.median('raw'):8.1f}  engine {s.median('engine'):8.1f}"
                    f" ({s.ratio('engine'):.2f}x, CPU {s.ratio('engine', cpu=True):.2f}x)"
                    f"  session {s.median('session'):8.1f} ({s.ratio('session'):.2f}x, CPU"
                    f" {s.ratio('session', cpu=True):.2f}x)  rows {s.rows}",
                    flush=True,
                )
        lineitem_rows = sum(
            pq.ParquetFile(local_path(f)).metadata.num_rows for f in fx.files["lineitem"]
        )
        fx.mesh.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    facts = {
        "scale": args.scale,
        "lineitem_rows": lineitem_rows,
        "runs": args.runs,
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": machine(),
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "command": command.strip(),
    }
    section = render(results, names, facts)
    print()
    print(section)
    if not args.no_readme:
        write_section(SECTION, section, README)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
