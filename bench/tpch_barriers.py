"""Measure the candidate barriers for a row-filtered table on TPC-H (docs/querying.md).

DuckDB alone (no meshlake): the ``rows`` principal's policy of ``bench/tpch.py`` (order keys
below half the range on ``orders`` and ``lineitem``, ``o_totalprice`` masked on half of
those) over ``tpchgen-cli`` Parquet files, each of the 22 queries run over the two filtered
tables in each form:

* ``plain``: a plain view; no barrier (the user's predicates may run on hidden rows), the
  baseline every other form is compared with;
* ``secure``: ``CREATE SECURE VIEW`` (the barrier before issue 13);
* ``fence``: a plain view ending in ``OFFSET 0``, nothing copied below it;
* ``fence (insertion order)``: the same with ``preserve_insertion_order`` on;
* ``fence + copies``: ``OFFSET 0`` with the comparisons meshlake's
  :func:`~meshlake.query.engines.fence.pushable_predicates` copies below it (the engine's form);
* ``materialized``: ``CREATE TEMP TABLE`` of the visible rows and cells, then the query over
  it (per query, the materialization timed with it); ``materialized (kept)``: the same
  table reused across queries (materialization not timed).

Every form but ``fence (insertion order)`` runs with ``preserve_insertion_order=false``. One
warm-up per form (results checked equal), then ``--runs`` rounds, the forms in rotating
order within a round; medians.

    python bench/tpch_barriers.py --data /tmp/tpch-sf1 --runs 3
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from meshlake.query.engines.fence import pushable_predicates

sys.path.insert(0, str(Path(__file__).parent))
from tpch import generate, half_key
from tpch_queries import TABLES, queries

FORMS = (
    "plain",
    "secure",
    "fence",
    "fence (insertion order)",
    "fence + copies",
    "materialized",
    "materialized (kept)",
)
CONFIG: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def policy(half: int) -> dict[str, tuple[str, str]]:
    """Per filtered table: (row filter, projection with the masked column)."""
    return {
        "orders": (
            f"o_orderkey < {half}",
            f"* REPLACE (CASE WHEN o_orderkey < {half // 2} THEN o_totalprice END AS o_totalprice)",
        ),
        "lineitem": (f"l_orderkey < {half}", "*"),
    }


def connect(form: str, data: Path, half: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={**CONFIG, "preserve_insertion_order": form == "fence (insertion order)"}
    )
    con.execute("SET parquet_metadata_cache = true")
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data / t}.parquet')")
    for t, (where, projection) in policy(half).items():
        con.execute(f"DROP VIEW {t}")
        body = f"SELECT {projection} FROM read_parquet('{data / t}.parquet') WHERE {where}"
        if form == "secure":
            con.execute(f"CREATE SECURE VIEW {t} AS {body}")
        elif form == "materialized (kept)":
            con.execute(f"CREATE TEMP TABLE {t} AS {body}")
        elif form == "materialized":
            continue  # a temporary table per query (prepare)
        elif form in ("plain", "fence + copies"):
            con.execute(f"CREATE VIEW {t} AS {body}")
        else:
            con.execute(f"CREATE VIEW {t} AS {body} OFFSET 0")
    return con


def schema(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The views' columns for ``pushable_predicates`` (pushable: the fenced, unmasked ones)."""
    out = []
    for t in TABLES:
        cols = con.execute(f"DESCRIBE {t}").fetchall()
        fenced = t in ("orders", "lineitem")
        out.append((t, tuple((c[0], c[1], fenced and c[0] != "o_totalprice") for c in cols)))
    return tuple(out)


def prepare(form: str, con: duckdb.DuckDBPyConnection, sql: str, data: Path, half: int) -> None:
    """Per-query setup: the fence's copies, or the materialized tables."""
    if form == "fence + copies":
        pushed = pushable_predicates(sql, schema(con))
        for t, (where, projection) in policy(half).items():
            extra = "".join(f" AND ({p})" for p in pushed.get(t, ()))
            con.execute(
                f"CREATE OR REPLACE VIEW {t} AS SELECT {projection} FROM "
                f"read_parquet('{data / t}.parquet') WHERE {where}{extra} OFFSET 0"
            )
    elif form == "materialized":
        for t, (where, projection) in policy(half).items():
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT {projection} FROM "
                f"read_parquet('{data / t}.parquet') WHERE {where}"
            )


def _normal(row: tuple[Any, ...]) -> str:
    """A row as text, doubles to 9 significant digits (sums differ in their last bits)."""
    return repr(tuple(f"{v:.9g}" if isinstance(v, float) else v for v in row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, required=True, help="tpchgen-cli folder")
    parser.add_argument("--queries", default="")
    parser.add_argument("--forms", default=";".join(FORMS), help="semicolon-separated")
    args = parser.parse_args(argv)
    generate(args.scale, args.data)
    half = half_key(args.scale)
    forms = [f.strip() for f in args.forms.split(";")]
    texts = queries("", args.scale)
    names = [n for n in args.queries.split(",") if n] or list(texts)
    cons = {f: connect(f, args.data, half) for f in forms}
    medians: dict[str, dict[str, float]] = {f: {} for f in forms}
    for name in names:
        sql = texts[name]
        expected = None
        times: dict[str, list[float]] = {form: [] for form in forms}
        for form in forms:  # warm-up, results checked equal
            prepare(form, cons[form], sql, args.data, half)
            got = sorted(map(_normal, cons[form].execute(sql).fetchall()))
            if expected is None:
                expected = got
            elif got != expected:
                raise SystemExit(f"{name}: {form} differs from {forms[0]}")
        for i in range(args.runs):  # the forms in rotating order within a round
            for form in forms[i % len(forms) :] + forms[: i % len(forms)]:
                con = cons[form]
                start = time.perf_counter()
                if form == "materialized":
                    prepare(form, con, sql, args.data, half)
                con.execute(sql).fetchall()
                times[form].append((time.perf_counter() - start) * 1000)
        for form in forms:
            medians[form][name] = statistics.median(times[form])
        print(name, "  ".join(f"{f} {medians[f][name]:.0f}" for f in forms), flush=True)
    base = forms[0]
    print(f"\n| form | geometric mean vs {base} | worst |")
    print("| --- | ---: | --- |")
    for form in forms:
        ratios = {n: medians[form][n] / medians[base][n] for n in names}
        mean = math.exp(statistics.fmean(math.log(r) for r in ratios.values()))
        worst = max(ratios, key=lambda n: ratios[n])
        print(f"| {form} | {mean:.2f}x | {worst} {ratios[worst]:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
