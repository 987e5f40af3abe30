"""Storage lifecycle: what compaction and snapshot expiry buy a table written in small appends.

Workload (embedded mesh, SQLite store, local warehouse): one table written by ``--appends``
appends of ``--rows`` rows each (one small Parquet file and one snapshot per append). Measured:
a governed aggregate query before and after one lifecycle run (median of ``--runs``), the
run's own time, data files and snapshots before and after, and the bytes the run freed. The
run compacts (every file is small) and expires every snapshot but the current one (nothing
references the others).

Usage: ``python bench/lifecycle.py [--appends 300] [--rows 200] [--runs 7] [--no-readme]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from _readme import write_section

import meshlake
from meshlake.service.lifecycle import LifecyclePolicy
from meshlake.storage.maintenance import MaintenancePolicy

SECTION = "## lifecycle"
SQL = "SELECT purpose, count(*), sum(amount) FROM sales.loans GROUP BY purpose"


def _query_ms(session: meshlake.Session, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.query(SQL)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mesh = meshlake.connect(Path(tmp) / "home")
        root = mesh.bootstrap()
        root.accounts.create("p")
        root.principals.create("p/admin")
        root.accounts.set_admins("p", ["p/admin"])
        admin = mesh.session("p/admin")
        admin.catalog.create_database("sales")
        columns = {"id": "bigint", "amount": "double", "purpose": "varchar"}
        admin.catalog.create_table("sales", "loans", columns, [])
        admin.grant("p/admin", meshlake.Table("sales", "loans"), ["SELECT"])
        purposes = ("car", "tv", "house", "education")
        for a in range(args.appends):
            rows = [[a * args.rows + i, float(i % 97), purposes[i % 4]] for i in range(args.rows)]
            admin.catalog.append("sales", "loans", rows)
        before = _query_ms(admin, args.runs)
        dry = admin.lifecycle.run(dry_run=True, policy=_policy())
        t0 = time.perf_counter()
        report = admin.lifecycle.run(policy=_policy())
        run_s = time.perf_counter() - t0
        after = _query_ms(admin, args.runs)
        loans = report.table("p.sales.loans")
        assert loans.compacted is not None and dry.bytes_freed > 0
        result = {
            "files_before": loans.compacted["files_before"],
            "files_after": loans.compacted["files_after"],
            "snapshots_expired": len(loans.snapshots_expired),
            "bytes_freed": report.bytes_freed,
            "run_s": run_s,
            "query_before_ms": before,
            "query_after_ms": after,
        }
        mesh.close()
    print(result)
    if not args.no_readme:
        write_section(SECTION, _render(args, result))


def _policy() -> LifecyclePolicy:
    return LifecyclePolicy(tables=MaintenancePolicy(keep_last=1, max_snapshot_age=timedelta(0)))


def _render(args: argparse.Namespace, r: dict[str, float]) -> str:
    return (
        f"{SECTION}\n\n"
        f"One table written by {args.appends} appends of {args.rows} rows (one small file and "
        "one snapshot each), then a dry run and one `lifecycle.run` (compaction, and expiry "
        "of every snapshot but the current one: nothing references them). A governed aggregate "
        f"(`{SQL}`) before and after, median of {args.runs}. Embedded mesh, SQLite store, "
        f"{date.today().isoformat()}, {platform.machine()} with {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()} (a shared machine: timings are noisy).\n\n"
        "| | before | after |\n| --- | ---: | ---: |\n"
        f"| data files | {r['files_before']} | {r['files_after']} |\n"
        f"| snapshots | {int(r['snapshots_expired']) + 1} | 1 |\n"
        f"| governed query (ms) | {r['query_before_ms']:.1f} | {r['query_after_ms']:.1f} |\n\n"
        f"The run took {r['run_s']:.2f} s and freed {int(r['bytes_freed']):,} bytes.\n\n"
        f"Command: `python bench/lifecycle.py --appends {args.appends} --rows {args.rows}`\n"
    )


if __name__ == "__main__":
    main()
