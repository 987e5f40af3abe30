"""Benchmark: crawling a CSV into an Iceberg table vs. the raw read + write baseline.

The crawl (``meshlake.storage.crawler.crawl``: list, sniff, infer, read with pyarrow, hash,
conform, and write an Iceberg table through pyiceberg) is timed against the least work that
produces the same result without meshlake: ``pyarrow.csv.read_csv`` of the same file plus
``pyarrow.parquet.write_table`` of the result with the same compression (zstd, pyiceberg's
default codec, at the same default level and row-group size). Runs alternate, the CSV is
generated in a temporary folder, and medians, p99 and the ratio go to ``bench/README.md``
under ``## crawl`` (other sections are left alone).

    python bench/crawl.py                 # 1 GB CSV, 3 runs of each
    python bench/crawl.py --size-mb 64 --runs 5 --no-readme
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyiceberg

import meshlake
from meshlake.storage.crawler import RunState

sys.path.insert(0, str(Path(__file__).parent))
from _readme import write_section

README = Path(__file__).with_name("README.md")
SECTION = "## crawl"
TARGET_RATIO = 1.5
COMPRESSION = "zstd"  # pyiceberg's default write.parquet.compression-codec


def generate_csv(path: Path, size_mb: int, seed: int = 7) -> int:
    """Write a CSV of about ``size_mb`` MB (ints, doubles, strings, bools, dates, timestamps)."""
    rng, day = np.random.default_rng(seed), "datetime64[D]"
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    target, rows, start = size_mb * 1024 * 1024, 0, np.datetime64("2020-01-01T00:00:00", "s")
    with pacsv.CSVWriter(path, _schema()) as writer:
        while path.stat().st_size < target:
            n = 200_000
            ids = np.arange(rows, rows + n)
            batch = pa.record_batch(
                [
                    pa.array(ids),
                    pa.array(rng.integers(250, 18_424, n)),
                    pa.array(np.round(rng.normal(1_000, 250, n), 2)),
                    pa.array(words[rng.integers(0, len(words), n)]),
                    pa.array(rng.random(n) < 0.7),
                    pa.array(
                        (start + rng.integers(0, 1_500, n).astype("timedelta64[D]")).astype(day)
                    ),
                    pa.array(start + rng.integers(0, 10**8, n).astype("timedelta64[s]")),
                    pa.array(np.char.add("note-", (ids * 7919 % 100_003).astype(str))),
                ],
                schema=_schema(),
            )
            writer.write_batch(batch)
            rows += n
    return rows


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.int64()),
            ("score", pa.float64()),
            ("word", pa.string()),
            ("flag", pa.bool_()),
            ("day", pa.date32()),
            ("at", pa.timestamp("s")),
            ("note", pa.string()),
        ]
    )


def run_baseline(csv: Path, out: Path) -> tuple[float, int]:
    start = time.perf_counter()
    table = pacsv.read_csv(csv)
    pq.write_table(table, out, compression=COMPRESSION)
    return time.perf_counter() - start, table.num_rows


def run_crawl(csv: Path, root: Path) -> tuple[float, int, Mapping[str, float]]:
    """Crawl through meshlake itself: a mesh, a principal, governance and the catalog store."""
    mesh = meshlake.connect(root / "home")
    admin_id = "bench/admin"
    boot = mesh.bootstrap()
    boot.accounts.create("bench")
    boot.principals.create(admin_id)
    boot.accounts.set_admins("bench", [admin_id])
    admin = mesh.session(admin_id)
    admin.catalog.create_database("bench")
    start = time.perf_counter()
    result = admin.crawl(str(csv), database="bench", table="bench")
    elapsed = time.perf_counter() - start
    if result.state is not RunState.SUCCEEDED:
        raise SystemExit(f"crawl failed: {result.errors}")
    rows = admin.query("SELECT count(*) AS n FROM bench.bench").rows()[0][0]
    mesh.close()
    return elapsed, int(rows), result.timings


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def write_readme(section: str) -> None:
    """Replace (or append) this benchmark's section of bench/README.md."""
    write_section(SECTION, section, README)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="CSV size (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args(argv)
    command = "python bench/crawl.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="meshlake-bench-crawl-") as tmp:
        csv = Path(tmp) / "data.csv"
        rows = generate_csv(csv, args.size_mb)
        size = csv.stat().st_size
        print(f"generated {size / 2**20:.0f} MiB, {rows:,} rows in {csv}")
        base, crawled, breakdowns = [], [], []
        for i in range(args.runs):
            seconds, n = run_baseline(csv, Path(tmp) / f"baseline-{i}.parquet")
            assert n == rows, (n, rows)
            base.append(seconds)
            seconds, n, timings = run_crawl(csv, Path(tmp) / f"crawl-{i}")
            assert n == rows, (n, rows)
            crawled.append(seconds)
            breakdowns.append(timings)
            phases = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
            print(f"run {i + 1}: baseline {base[-1]:.2f} s, crawl {crawled[-1]:.2f} s ({phases})")
    ratio = statistics.median(crawled) / statistics.median(base)
    parts = {
        k: statistics.median(t.get(k, 0.0) for t in breakdowns)
        for k in ("sniff", "read", "conform", "write")
    }
    print(
        f"median baseline {statistics.median(base):.2f} s, crawl "
        f"{statistics.median(crawled):.2f} s, ratio {ratio:.2f}x (target <= {TARGET_RATIO}x)"
    )
    section = (
        f"{SECTION}\n\n"
        f"Crawl of one generated CSV ({size / 2**20:.0f} MiB, {rows:,} rows, 8 columns: ints, "
        "doubles, strings, bools, dates, timestamps) into a new Iceberg table through "
        "the meshlake session API (admin principal, SQLite catalog store, local warehouse), "
        "against `pyarrow.csv.read_csv` + "
        f'`pyarrow.parquet.write_table(compression="{COMPRESSION}")` of the same file. '
        f"{args.runs} alternating runs each, {datetime.now(UTC):%Y-%m-%d}, "
        f"{platform.machine()} with {_cpus()} CPUs, Python {platform.python_version()}, "
        f"pyarrow {pa.__version__}, pyiceberg {pyiceberg.__version__}; 1-minute load "
        f"average {load:.1f} at the start (other work on the machine makes runs noisy).\n\n"
        "| | median (s) | p99 (s) | MB/s |\n| --- | ---: | ---: | ---: |\n"
        f"| baseline (read_csv + write_table) | {statistics.median(base):.2f} | "
        f"{_p99(base):.2f} | {size / 2**20 / statistics.median(base):.0f} |\n"
        f"| meshlake crawl | {statistics.median(crawled):.2f} | {_p99(crawled):.2f} | "
        f"{size / 2**20 / statistics.median(crawled):.0f} |\n\n"
        f"Ratio crawl / baseline: **{ratio:.2f}x** (target: within {TARGET_RATIO}x). "
        "Crawl time by phase (medians, s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        + " (read includes the sha256 of the file, taken in the same pass).\n\n"
        f"Command: `{command.strip()}`\n"
    )
    if not args.no_readme:
        write_readme(section)
        print(f"updated {README}")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
