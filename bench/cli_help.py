"""How long ``meshlake --help`` takes, from a fresh interpreter to the printed help.

Each run starts ``meshlake ARGS --help`` in a new process (``python -c "from meshlake.cli
import main; main()"``, what the console script runs) and measures its wall clock and CPU
time (user + system of the child); the baseline is a process that only imports typer, the
floor any typer CLI pays. Target: the
root help in under 0.3 s. The machine is shared, so the CPU time is reported beside the
wall clock (a loaded machine stretches the wall clock, not the CPU time).

Usage::

    python bench/cli_help.py [--runs 15] [--compare OTHER/src] [--no-readme]

``--compare`` adds the root help of another source tree (e.g. a checkout before this change).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _readme import write_section

SRC = Path(__file__).resolve().parents[1] / "src"
#: What the ``meshlake`` console script runs.
SCRIPT = ["-c", "from meshlake.cli import main; main()"]
CASES = {
    "baseline: python -c 'import typer'": ["-c", "import typer"],
    "meshlake --help": [*SCRIPT, "--help"],
    "meshlake table --help": [*SCRIPT, "table", "--help"],
    "meshlake events --help": [*SCRIPT, "events", "--help"],
}
TARGET_S = 0.3


def _run(args: list[str], src: Path = SRC) -> tuple[float, float]:
    """Wall clock and child CPU seconds of one ``python ARGS`` with ``src`` on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: int, compare: Path | None = None) -> dict[str, dict[str, float]]:
    """Median and p90 wall clock, median CPU, per case (cases interleaved, 1 warm-up)."""
    cases = {name: (args, SRC) for name, args in CASES.items()}
    if compare is not None:
        cases[f"meshlake --help of {compare}"] = (CASES["meshlake --help"], compare)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for args, src in cases.values():
        _run(args, src)  # warm the file system cache and the bytecode
    for _ in range(runs):
        for name, (args, src) in cases.items():
            samples[name].append(_run(args, src))
    out = {}
    for name, values in samples.items():
        walls = sorted(w for w, _ in values)
        out[name] = {
            "wall_median": statistics.median(walls),
            "wall_p90": walls[min(len(walls) - 1, int(0.9 * len(walls)))],
            "wall_min": walls[0],
            "cpu_median": statistics.median(c for _, c in values),
        }
    return out


def render(results: dict[str, dict[str, float]], runs: int, compare: Path | None = None) -> str:
    """The README section."""
    rows = "\n".join(
        f"| {name} | {r['wall_median']:.3f} | {r['wall_p90']:.3f} | {r['wall_min']:.3f} | "
        f"{r['cpu_median']:.3f} |"
        for name, r in results.items()
    )
    root = results["meshlake --help"]
    verdict = "meets" if root["wall_median"] < TARGET_S else "misses"
    return (
        "## cli_help\n\n"
        "Wall clock of `meshlake --help` from a fresh interpreter (what the console script "
        "runs) to the printed help; the CLI imports "
        "meshlake's heavy parts (pyarrow, DuckDB, pyiceberg, SQLAlchemy, MLflow, pandas, the "
        "service layer, the HTTP client) only inside the commands, and builds a command only "
        "when it is invoked. Baseline: a process that only imports typer. "
        f"{runs} interleaved runs per case after a warm-up; CPU = user + system time of the "
        "child.\n\n"
        "| case | median (s) | p90 (s) | min (s) | CPU median (s) |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        f"{rows}\n\n"
        f"Target: root help under {TARGET_S} s: the median {verdict} it "
        f"({root['wall_median']:.3f} s; best run {root['wall_min']:.3f} s). A group's help "
        "also pays typer's coercion of the global options, which imports pydantic (typer "
        "0.29 coerces every non-flag option through a pydantic TypeAdapter); the root help "
        "is answered before any option is coerced.\n\n"
        f"Command: `python bench/cli_help.py --runs {runs}"
        + (f" --compare {compare}" if compare else "")
        + "`  \n"
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {date.today().isoformat()} on a shared machine "
        f"(1-minute load average {os.getloadavg()[0]:.1f} at the end).\n"
    )


def main() -> None:
    """Measure and (unless ``--no-readme``) write the README section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another tree's src folder")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    results = measure(args.runs, args.compare)
    section = render(results, args.runs, args.compare)
    print(section)
    if not args.no_readme:
        write_section("## cli_help", section)


if __name__ == "__main__":
    main()
