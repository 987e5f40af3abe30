"""How long ``meshlake ... --help`` takes, from a fresh interpreter to the printed help.

Each run starts the ``meshlake`` console script (the one next to this interpreter, run with
this tree's ``src`` first on ``PYTHONPATH``; ``python -c "from meshlake.cli import main;
main()"`` when there is none) in a new process and measures its wall clock and CPU time
(user + system of the child). A plain help request is answered from the recorded help
(``meshlake.cli.quickhelp``) without importing typer; a help request with a global option
before the command goes to the typer app, as everything else does. Baselines: an
interpreter that does nothing, and one that only imports typer. Target: the root and group
help in under 0.3 s. The machine is shared, so the CPU time is reported beside the wall
clock (a loaded machine stretches the wall clock more than the CPU time).

Usage::

    python bench/cli_help.py [--runs 15] [--compare OTHER/src] [--no-readme]

``--compare`` runs the meshlake cases on another source tree too (e.g. a checkout before
this change).
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
#: The console script, or what it runs.
_SCRIPT_PATH = Path(sys.executable).with_name("meshlake")
SCRIPT = (
    [str(_SCRIPT_PATH)]
    if _SCRIPT_PATH.exists()
    else [sys.executable, "-c", "from meshlake.cli import main; main()"]
)
BASELINES = {
    "baseline: python -c pass": [sys.executable, "-c", "pass"],
    "baseline: python -c 'import typer'": [sys.executable, "-c", "import typer"],
}
#: name -> (arguments, counts for the target)
CASES = {
    "meshlake --help": (["--help"], True),
    "meshlake (no arguments)": ([], True),
    "meshlake table --help": (["table", "--help"], True),
    "meshlake events --help": (["events", "--help"], True),
    "meshlake query --help": (["query", "--help"], False),
    "meshlake ml pipeline run --help": (["ml", "pipeline", "run", "--help"], False),
    "meshlake --json table --help (typer app)": (["--json", "table", "--help"], False),
}
TARGET_S = 0.3


def _run(command: list[str], src: Path = SRC) -> tuple[float, float]:
    """Wall clock and child CPU seconds of ``command`` with ``src`` on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: int, compare: Path | None = None) -> dict[str, dict[str, float]]:
    """Median and p90 wall clock, median CPU, per case (cases interleaved, 1 warm-up)."""
    cases: dict[str, tuple[list[str], Path]] = {
        name: (command, SRC) for name, command in BASELINES.items()
    }
    cases.update({name: ([*SCRIPT, *args], SRC) for name, (args, _) in CASES.items()})
    if compare is not None:
        cases.update(
            {
                f"{name} of {compare}": ([*SCRIPT, *args], compare)
                for name, (args, _) in CASES.items()
            }
        )
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for command, src in cases.values():
        _run(command, src)  # warm the file system cache and the bytecode
    for _ in range(runs):
        for name, (command, src) in cases.items():
            samples[name].append(_run(command, src))
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
    targeted = [name for name, (_, counts) in CASES.items() if counts]
    slowest = max(targeted, key=lambda name: results[name]["wall_median"])
    worst = results[slowest]["wall_median"]
    verdict = "all meet it" if worst < TARGET_S else "not all meet it"
    before = ""
    if compare is not None:
        theirs = {name: results[f"{name} of {compare}"]["wall_median"] for name in targeted}
        missed = [name for name, median in theirs.items() if median >= TARGET_S]
        before = (
            f" Of {compare}: {len(targeted) - len(missed)} of {len(targeted)} meet it "
            f"(slowest median {max(theirs.values()):.3f} s)."
        )
    return (
        "## cli_help\n\n"
        "Wall clock of `meshlake ... --help` from a fresh interpreter to the printed help, "
        "through the `meshlake` console script. A plain help request (`meshlake`, "
        "`meshlake GROUP`, `meshlake COMMAND... --help`) is answered from the help recorded "
        "from the typer app (`src/meshlake/cli/quickhelp.json`, written by "
        "`docs/gen_cli_docs.py`, checked by `tests/cli/test_quickhelp.py`) and laid out with "
        "rich as typer does, byte for byte, without importing typer, pydantic or a command "
        "module; anything else (here: a global option before the command) builds the typer "
        "app, which builds only the command that runs and imports meshlake's heavy parts "
        "(pyarrow, DuckDB, pyiceberg, SQLAlchemy, MLflow, the service layer, the HTTP "
        "client) only inside it; a group's help there also pays typer's coercion of the "
        "global options, which imports pydantic (typer 0.29 coerces every non-flag option "
        "through a pydantic TypeAdapter). "
        + (
            f"Rows ending in `of {compare}` run that source tree instead (here: the main "
            "checkout, where the typer app answers every help request). "
            if compare
            else ""
        )
        + f"{runs} interleaved runs per case after a warm-up; CPU = user + system time of the "
        "child.\n\n"
        "| case | median (s) | p90 (s) | min (s) | CPU median (s) |\n"
        "| --- | ---: | ---: | ---: | ---: |\n"
        f"{rows}\n\n"
        f"Target: the root and group help under {TARGET_S} s: {verdict} (slowest median: "
        f"{slowest}, {worst:.3f} s).{before}\n\n"
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
