"""Differential test: random policies and random queries against a direct Python model.

For each example hypothesis draws a policy (visible columns, one or two views, each a union of
rules with random row filters and column sets) and a query (projection, aggregate, self-join
or error probe over the visible columns). Every returned cell is compared with what a direct
Python computation says the principal may see; probes built to fail only on hidden rows must
not fail.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from query_fakes import FakeCatalog

from meshlake.governance.policy import RowRule
from meshlake.query import run_query
from meshlake.query.engines.duckdb import DuckDBEngine

TYPES = {"id": "BIGINT", "grp": "VARCHAR", "x": "BIGINT", "y": "DOUBLE", "s": "VARCHAR"}
DATA: dict[str, list[Any]] = {
    "id": list(range(1, 13)),
    "grp": ["a", "b", "c", None, "a", "b", "c", "a", None, "b", "c", "a"],
    "x": [5, None, 3, 8, 1, 9, None, 2, 7, 4, 6, 0],
    "y": [1.5, 2.5, None, 0.5, 3.5, 9.0, 4.0, None, 6.5, 7.5, 8.0, 2.0],
    "s": ["ann", "bob", None, "dan", "eve", "fay", "gus", "hal", "ivy", None, "kim", "lee"],
}
ROWS = [dict(zip(DATA, values, strict=True)) for values in zip(*DATA.values(), strict=True)]
COLUMNS = list(TYPES)
LITERALS: dict[str, list[Any]] = {
    "id": [1, 3, 6, 9, 12],
    "grp": ["a", "b", "c"],
    "x": [0, 3, 5, 8],
    "y": [1.0, 2.5, 5.0, 8.0],
    "s": ["bob", "eve", "kim"],
}
PATTERNS = ["a%", "%e%", "_o%", "%y"]

Pred = tuple[Any, ...]


# -- predicates: SQL text and three-valued evaluation ------------------------------------
def _lit(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def sql_of(p: Pred, alias: str = "") -> str:
    """The predicate as SQL (columns qualified with ``alias`` when given)."""
    kind = p[0]
    col = f'{alias}."{p[1]}"' if alias else f'"{p[1]}"'
    if kind == "cmp":
        return f"{col} {p[2]} {_lit(p[3])}"
    if kind == "in":
        return f"{col} IN ({', '.join(_lit(v) for v in p[2])})"
    if kind == "between":
        return f"{col} BETWEEN {_lit(p[2])} AND {_lit(p[3])}"
    if kind == "null":
        return f"{col} IS {'NOT ' if p[2] else ''}NULL"
    if kind == "like":
        return f"{col} LIKE {_lit(p[2])}"
    if kind == "not":
        return f"NOT ({sql_of(p[1], alias)})"
    return f"({sql_of(p[1], alias)}) {kind.upper()} ({sql_of(p[2], alias)})"


_OPS = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def holds(p: Pred, row: dict[str, Any]) -> bool | None:
    """SQL three-valued logic: True, False or None (unknown)."""
    kind = p[0]
    if kind == "null":
        return (row[p[1]] is not None) if p[2] else (row[p[1]] is None)
    if kind in ("cmp", "in", "between", "like"):
        value = row[p[1]]
        if value is None:
            return None
        if kind == "cmp":
            return bool(_OPS[p[2]](value, p[3]))
        if kind == "in":
            return value in p[2]
        if kind == "between":
            return bool(p[2] <= value <= p[3])
        regex = "^" + re.escape(p[2]).replace("%", ".*").replace("_", ".") + "$"
        return re.match(regex, value, re.S) is not None
    if kind == "not":
        inner = holds(p[1], row)
        return None if inner is None else not inner
    left, right = holds(p[1], row), holds(p[2], row)
    if kind == "and":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def atoms(columns: list[str]) -> st.SearchStrategy[Pred]:
    def for_column(c: str) -> st.SearchStrategy[Pred]:
        options = [
            st.tuples(
                st.just("cmp"),
                st.just(c),
                st.sampled_from(list(_OPS)),
                st.sampled_from(LITERALS[c]),
            ),
            st.tuples(
                st.just("in"),
                st.just(c),
                st.lists(st.sampled_from(LITERALS[c]), min_size=1, max_size=3).map(tuple),
            ),
            st.tuples(st.just("null"), st.just(c), st.booleans()),
        ]
        if TYPES[c] != "VARCHAR":
            options.append(
                st.tuples(
                    st.just("between"),
                    st.just(c),
                    st.sampled_from(LITERALS[c]),
                    st.sampled_from(LITERALS[c]),
                )
            )
        else:
            options.append(st.tuples(st.just("like"), st.just(c), st.sampled_from(PATTERNS)))
        return st.one_of(options)

    return st.sampled_from(columns).flatmap(for_column)


def predicates(columns: list[str]) -> st.SearchStrategy[Pred]:
    return st.recursive(
        atoms(columns),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["and", "or"]), inner, inner),
            st.tuples(st.just("not"), inner),
        ),
        max_leaves=3,
    )


# -- policies -------------------------------------------------------------------------------
Rule = tuple[Pred | None, frozenset[str]]


@st.composite
def policies(draw: st.DrawFn) -> tuple[list[str], list[list[Rule]]]:
    visible = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5, unique=True))
    visible = [c for c in COLUMNS if c in visible]
    views = []
    for _ in range(draw(st.integers(1, 2))):
        rules = []
        for _ in range(draw(st.integers(1, 3))):
            row_filter = draw(st.none() | predicates(COLUMNS))
            cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5, unique=True))
            rules.append((row_filter, frozenset(cols)))
        views.append(rules)
    return visible, views


def expected_view(visible: list[str], views: list[list[Rule]]) -> list[dict[str, Any]]:
    """The rows and cells the principal may see, computed directly."""
    out = []
    for row in ROWS:
        matching = [[r for r in view if r[0] is None or holds(r[0], row) is True] for view in views]
        if not all(matching):
            continue
        out.append(
            {
                c: row[c] if all(any(c in r[1] for r in m) for m in matching) else None
                for c in visible
            }
        )
    return out


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


def _bag(rows: list[tuple[Any, ...]]) -> Counter[tuple[Any, ...]]:
    return Counter(rows)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> FakeCatalog:
    cat = FakeCatalog(Path(tmp_path_factory.mktemp("diff")))
    half = len(ROWS) // 2  # two data files, so the scan spans files
    cat.add_table("db", "t", TYPES, {c: v[:half] for c, v in DATA.items()})
    cat.append("db", "t", {c: v[half:] for c, v in DATA.items()})
    return cat


@pytest.fixture(scope="module")
def engine_for_diff() -> DuckDBEngine:
    return DuckDBEngine(threads=1)


def _apply(cat: FakeCatalog, visible: list[str], views: list[list[Rule]]) -> None:
    rules = [
        [
            RowRule(cols, None if f is None else sql_of(f), f"f{v}_{i}")
            for i, (f, cols) in enumerate(view)
        ]
        for v, view in enumerate(views)
    ]
    cat.set_policy("db", "t", visible, rules)


def _run(cat: FakeCatalog, engine: DuckDBEngine, sql: str) -> list[tuple[Any, ...]]:
    outcome = run_query(cat, sql, engine=engine)
    assert outcome.result is not None
    return outcome.result.rows()


SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(policy=policies(), data=st.data())
def test_projection_and_filter(
    table: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    visible, views = policy
    _apply(table, visible, views)
    seen = expected_view(visible, views)
    chosen = data.draw(st.lists(st.sampled_from(visible), min_size=1, unique=True))
    where = data.draw(st.none() | predicates(visible))
    sql = f"SELECT {', '.join(chosen)} FROM t" + (f" WHERE {sql_of(where)}" if where else "")
    want = [tuple(r[c] for c in chosen) for r in seen if where is None or holds(where, r) is True]
    assert _bag(_run(table, engine_for_diff, sql)) == _bag(want), sql
    star = _run(table, engine_for_diff, "SELECT * FROM t")
    assert _bag(star) == _bag([tuple(r[c] for c in visible) for r in seen])


@SETTINGS
@given(policy=policies(), data=st.data())
def test_aggregates(
    table: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    visible, views = policy
    _apply(table, visible, views)
    seen = expected_view(visible, views)
    column = data.draw(st.sampled_from(visible))
    values = [r[column] for r in seen if r[column] is not None]
    got = _run(
        table,
        engine_for_diff,
        f"SELECT count(*), count({column}), min({column}), max({column}) FROM t",
    )
    assert got == [(len(seen), len(values), min(values, default=None), max(values, default=None))]
    if "grp" in visible:
        groups = Counter(r["grp"] for r in seen)
        got_groups = _run(table, engine_for_diff, "SELECT grp, count(*) FROM t GROUP BY grp")
        assert dict(got_groups) == dict(groups)


@SETTINGS
@given(policy=policies(), data=st.data())
def test_self_join(
    table: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    visible, views = policy
    if "id" not in visible:
        visible = ["id", *visible]
    _apply(table, visible, views)
    seen = expected_view(visible, views)
    column = data.draw(st.sampled_from(visible))
    got = _run(table, engine_for_diff, f"SELECT a.id, b.{column} FROM t a JOIN t b ON a.id = b.id")
    by_id = Counter(r["id"] for r in seen if r["id"] is not None)
    want = [
        (r["id"], r[column]) for r in seen if r["id"] is not None for _ in range(by_id[r["id"]])
    ]
    assert _bag(got) == _bag(want)


@SETTINGS
@given(policy=policies(), data=st.data())
def test_probes_never_fire_on_hidden_rows(
    table: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    """A condition false on every visible row guards error(); the query must not fail."""
    visible, views = policy
    _apply(table, visible, views)
    seen = expected_view(visible, views)
    condition = data.draw(predicates(visible))
    if any(holds(condition, r) is True for r in seen):
        condition = ("not", ("or", condition, ("null", visible[0], False)))
        if any(holds(condition, r) is True for r in seen):
            return  # cannot build a probe silent on every visible row
    probes = [
        "CASE WHEN {c} THEN error('leak') ELSE TRUE END",
        "CAST(CASE WHEN {c} THEN 'x' ELSE '1' END AS INTEGER) = 1",
    ]
    for probe in probes:
        where = probe.format(c=sql_of(condition))
        got = _run(table, engine_for_diff, f"SELECT {visible[0]} FROM t WHERE {where}")
        assert _bag(got) == _bag([(r[visible[0]],) for r in seen])
    on = probes[0].format(c=sql_of(condition, "b"))
    count = _run(table, engine_for_diff, f"SELECT count(*) FROM t a JOIN t b ON {on}")
    assert count == [(len(seen) ** 2,)]


# -- a filtered table joined with an unfiltered one (fence and plain view in one query) -----
U_WORDS = {i: f"w{i}" for i in range(1, 13)}


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> FakeCatalog:
    """``t`` as above, and ``u`` (``id``, ``w``) read whole: a plain view, no barrier."""
    cat = FakeCatalog(Path(tmp_path_factory.mktemp("joined")))
    cat.add_table("db", "t", TYPES, DATA)
    cat.add_table(
        "db",
        "u",
        {"id": "BIGINT", "w": "VARCHAR"},
        {"id": list(U_WORDS), "w": list(U_WORDS.values())},
    )
    return cat


@SETTINGS
@given(policy=policies(), data=st.data())
def test_join_with_an_unfiltered_table(
    joined: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    visible, views = policy
    if "id" not in visible:
        visible = ["id", *visible]
    _apply(joined, visible, views)
    seen = expected_view(visible, views)
    where = data.draw(st.none() | predicates(visible))
    sql = "SELECT t.id, u.w FROM u JOIN t ON u.id = t.id WHERE u.id > 0"
    sql += f" AND ({sql_of(where, 't')})" if where else ""
    want = [
        (r["id"], U_WORDS[r["id"]])
        for r in seen
        if r["id"] is not None and (where is None or holds(where, r) is True)
    ]
    assert _bag(_run(joined, engine_for_diff, sql)) == _bag(want), sql


@SETTINGS
@given(policy=policies(), data=st.data())
def test_join_probes_never_fire_on_hidden_rows(
    joined: FakeCatalog, engine_for_diff: DuckDBEngine, policy: Any, data: st.DataObject
) -> None:
    """The probe, with comparisons copied below the fence beside it, joined to ``u``."""
    visible, views = policy
    if "id" not in visible:
        visible = ["id", *visible]
    _apply(joined, visible, views)
    seen = expected_view(visible, views)
    condition = data.draw(predicates(visible))
    if any(holds(condition, r) is True for r in seen):
        condition = ("not", ("or", condition, ("null", visible[0], False)))
        if any(holds(condition, r) is True for r in seen):
            return  # cannot build a probe silent on every visible row
    extra = data.draw(predicates(visible))  # a comparison the fence may copy below itself
    probe = f"CASE WHEN {sql_of(condition, 't')} THEN error('leak') ELSE TRUE END"
    matching = [r for r in seen if r["id"] is not None and holds(extra, r) is True]
    for sql in (
        f"SELECT count(*) FROM u JOIN t ON u.id = t.id AND {probe} WHERE ({sql_of(extra, 't')})",
        f"SELECT count(*) FROM u, t WHERE u.id = t.id AND ({sql_of(extra, 't')}) AND {probe}",
        f"SELECT count(*) FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.id = u.id "
        f"AND ({sql_of(extra, 't')}) AND {probe})",
    ):
        got = _run(joined, engine_for_diff, sql)
        if "EXISTS" in sql:
            assert got == [(len({r["id"] for r in matching}),)], sql
        else:
            assert got == [(len(matching),)], sql
