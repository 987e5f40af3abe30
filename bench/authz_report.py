"""The ``## authz_scale`` section of ``bench/README.md``: rendering and in-place replacement."""

from __future__ import annotations

import platform
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy

__all__ = ["HEADING", "render_section", "write_section"]

HEADING = "## authz_scale"
INTRO = "# meshlake benchmarks\n\nEach section is written by its benchmark script.\n"
POLICY_TARGET_US = 1000.0
LIST_TARGET_US = 20_000.0

#: (result key, label, unit) of the latency rows.
ROWS = (
    ("decide", "`decide` (random principal, table or database, action)", "us"),
    ("policy_granted", "`table_policy` (principal holds SELECT)", "us"),
    ("policy_random", "`table_policy` (random pair; mostly NotFoundError)", "us"),
    ("list_tables", "`list_tables` of a 100-table database", "ms"),
    ("list_databases", "`list_databases` (every database)", "ms"),
)


def _fmt(us: float, unit: str) -> str:
    if unit == "ms":
        return f"{us / 1000:.1f}" if us >= 1000 else f"{us / 1000:.2f}"
    return f"{us:.0f}" if us >= 100 else f"{us:.1f}"


def _cell(stats: dict[str, Any], unit: str) -> str:
    return f"{_fmt(stats['p50_us'], unit)} / {_fmt(stats['p99_us'], unit)}"


def _verdict(results: Sequence[dict[str, Any]]) -> list[str]:
    full = max(results, key=lambda r: r["tables"])
    lines = []
    for key, target, what in (
        ("policy_granted", POLICY_TARGET_US, "table policy p99 < 1 ms"),
        ("list_tables", LIST_TARGET_US, "listing a 100-table database p99 < 20 ms"),
    ):
        parts = []
        for temp in ("cold", "warm"):
            wall, cpu = full[key][temp]["p99_us"], full[key][temp + "_cpu"]["p99_us"]
            ok = "met" if wall < target else "met in CPU time" if cpu < target else "**missed**"
            parts.append(f"{temp} {_fmt(wall, 'ms')} ms wall, {_fmt(cpu, 'ms')} ms CPU: {ok}")
        lines.append(f"- {what} at {full['tables']:,} tables: " + "; ".join(parts))
    load = full["state_load_cpu"]["p50_us"] / 1000
    grants = full["state_load_grants_cpu"]["p50_us"] / 1000
    tags = full["state_load_tags_cpu"]["p50_us"] / 1000
    tables = full["state_load_catalog_cpu"]["p50_us"] / 1000
    lines.append(
        f"- state reload at {full['tables']:,} tables (paid by the first request after a "
        f"change, CPU p50): {grants:,.0f} ms after a grant change, {tags:,.0f} ms after a tag "
        f"change, {tables:,.0f} ms after a new table; {load:,.0f} ms for a full load (the "
        "first one; every change is applied from the change log, see `## server`)"
    )
    return lines


def _latency(
    results: Sequence[dict[str, Any]], heads: list[str], suffix: str, title: str
) -> list[str]:
    """One latency table: wall clock (``suffix=""``) or CPU time (``"_cpu"``)."""
    out = [
        "",
        f"{title}. Cold = first call for that principal and table right after a state "
        "load; warm = the same calls again, answered from the state's cache.",
        "",
        "| operation | unit | " + " | ".join(heads) + " |",
        "| --- | --- |" + " ---: |" * len(results),
    ]
    for key, what in (
        ("state_load", "full state load (the first one; baseline)"),
        ("state_load_catalog", "state update after a new table"),
        ("state_load_grants", "state update after a grant change"),
        ("state_load_tags", "state update after a tag change"),
    ):
        load = " | ".join(
            f"{r[key + suffix]['p50_us'] / 1000:,.0f} / {r[key + suffix]['max_us'] / 1000:,.0f}"
            for r in results
        )
        out.append(f"| {what}, p50 / max of {results[0][key]['n']} | ms | {load} |")
    out.append(
        "| `engine.state()` with no change (version query) | µs | "
        + " | ".join(_cell(r["version_check" + suffix], "us") for r in results)
        + " |"
    )
    for key, label, unit in ROWS:
        for temp in ("cold", "warm"):
            cells = " | ".join(_cell(r[key][temp + suffix], unit) for r in results)
            out.append(f"| {label}, {temp} | {'µs' if unit == 'us' else 'ms'} | {cells} |")
    return out


def render_section(results: Sequence[dict[str, Any]], command: str, nproc: int) -> str:
    """The markdown section for ``results`` (one dict per scale, smallest first)."""
    heads = [f"{r['tables']:,} tables" for r in results]
    out = [
        HEADING,
        "",
        "Authorization over a large catalog. No raw baseline (ARCHITECTURE.md §10): absolute "
        "latencies and their growth from 100 to 10,000 tables. Catalog written straight into "
        "the SQLite store (`bench/authz_catalog.py`); state, decisions and listings go through "
        "`GovernanceEngine` and `CatalogAPI` as in production. Workload: 5 accounts (central "
        "governance account owning every database and the 20-key tag ontology, 2 producers, 2 "
        "consumers), 500 principals; per table 5 grants: 45% named table grants (a third "
        "column-limited), 23% bounded re-grants inside consumer/producer accounts, 10% tag "
        "policies (1-2 keys, mostly scoped to 1-2 domains), 8% database grants, 5% table "
        "wildcards, 5% grants to external accounts, 2% data-filter grants, 2% tag grants. "
        "Principals stay at 500, so grants per principal grow with the catalog (1 at 100 "
        "tables, 100 at 10,000).",
        "",
        f"Command: `{command}`  ",
        f"Machine: {nproc} cores, {platform.machine()}, Linux {platform.release()}, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, SQLAlchemy "
        f"{sqlalchemy.__version__}; run {datetime.now(UTC):%Y-%m-%d}.",
        "",
        "| catalog | " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * len(results),
    ]
    count_rows = (
        ("databases", "ml_databases"),
        ("tables", "ml_tables"),
        ("columns", "ml_columns"),
        ("principals", "ml_principals"),
        ("tag values", "tag_values_total"),
        ("tag assignments (column)", "column_tag_assignments"),
        ("tag assignments (all)", "ml_tag_assignments"),
        ("grants", "ml_grants"),
        ("data filters", "ml_data_filters"),
    )
    for label, key in count_rows:
        out.append(f"| {label} | " + " | ".join(f"{r['counts'][key]:,}" for r in results) + " |")
    out.append("| store file (MB) | " + " | ".join(str(r["store_mb"]) for r in results) + " |")
    out += _latency(results, heads, "", "Latency, wall clock (`perf_counter_ns`), p50 / p99")
    out += _latency(
        results,
        heads,
        "_cpu",
        "The same calls, CPU time of the calling thread "
        "(`thread_time_ns`: the call's own cost, without the time other processes "
        "held the CPU; on a shared machine the wall-clock p99 mostly measures them)",
    )
    out += ["", "| other | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(results)]
    others = (
        (
            "samples per series (decide / policy / list_tables / list_databases)",
            lambda r: (
                f"{r['decide']['cold']['n']} / {r['policy_granted']['cold']['n']} / "
                f"{r['list_tables']['cold']['n']} / {r['list_databases']['cold']['n']}"
            ),
        ),
        ("decisions allowed", lambda r: f"{r['allowed_decisions']:.0%}"),
        (
            "random-pair policies raising (invisible / no SELECT)",
            lambda r: f"{r['policy_random']['errors'] / r['policy_random']['cold']['n']:.0%}",
        ),
        (
            "list_tables on an invisible database (NotFoundError)",
            lambda r: f"{r['list_tables']['errors'] / r['list_tables']['cold']['n']:.0%}",
        ),
        ("state in memory (tracemalloc, MB)", lambda r: str(r["memory"]["state_mb"])),
        ("peak while loading (tracemalloc, MB)", lambda r: str(r["memory"]["load_peak_mb"])),
        (
            "cache per (principal, table) pair (bytes)",
            lambda r: f"{r['memory']['cache_bytes_per_pair']:,}",
        ),
        (
            "RSS after first load / after all series (MB)",
            lambda r: f"{r['rss_after_load_mb']['VmRSS']} / {r['rss_after_queries_mb']['VmRSS']}",
        ),
        ("cache entries at the end", lambda r: f"{r['cache_entries_end']:,}"),
        ("catalog build (s)", lambda r: str(r["counts"]["build_s"])),
        (
            "machine load average at start / end of the measurement",
            lambda r: f"{r['loadavg_start'][0]:.1f} / {r['loadavg_end'][0]:.1f}",
        ),
    )
    for label, fn in others:
        out.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")
    out += ["", "Targets:", "", *_verdict(results), ""]
    return "\n".join(out)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the ``## authz_scale`` section of ``path``, leaving others alone."""
    text = path.read_text() if path.exists() else INTRO
    pattern = re.compile(rf"^{re.escape(HEADING)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    body = section.rstrip("\n") + "\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text.rstrip("\n") + "\n")
