"""Run one governed query: parse, resolve, plan, enforce, execute (ARCHITECTURE.md §5).

:func:`run_query` is the query layer's entry point. It does no persistence: recording the
execution, audit events, workgroups and stored results is the caller's job, from the
:class:`QueryOutcome` it returns (tables read, columns, filters, snapshots, rows, bytes,
timings).

Per-query overhead is kept small by caching: parsing and validation per (SQL, dialect)
(:func:`~meshlake.query.analyze.parse_query`), and rewriting plus column analysis per
(SQL, dialect, visible schema of every table read) (:func:`plan_query`). A repeated query
pays only catalog resolution, scan planning, view creation and execution.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from meshlake.errors import (
    AccessDeniedError,
    InvalidQueryError,
    MeshError,
    NotFoundError,
    QueryLimitError,
)
from meshlake.governance.policy import TableRef
from meshlake.query.analyze import parse_query, verify_rewritten
from meshlake.query.columns import read_columns
from meshlake.query.context import QueryCatalog, ResolvedTable, ScanColumn
from meshlake.query.control import QueryControl, QueryLimits, planned_bytes
from meshlake.query.engines import Engine, GovernedScan
from meshlake.query.references import TableReference
from meshlake.query.results import QueryResult
from meshlake.query.rewrite import RewriteContext, rewrite, view_name

__all__ = ["QueryOutcome", "QueryPlan", "QueryTimings", "TableRead", "plan_query", "run_query"]

_Sources = tuple[tuple[TableReference, tuple[ScanColumn, ...]], ...]


@dataclass(frozen=True)
class TableRead:
    """One table a query read (one audit event each, rule 27).

    Attributes:
        ref: the table, in its owning account.
        link: the resource link the query named, if any.
        columns: the visible columns the query reads (``*`` = every visible column).
        filters: names of the data filters applied.
        snapshot_id: the snapshot read (None: the table has no data yet).
        time_travel: the query's time travel clause for this reference, if any.
    """

    ref: TableRef
    link: str | None
    columns: tuple[str, ...]
    filters: tuple[str, ...]
    snapshot_id: int | None
    time_travel: str | None = None


@dataclass(frozen=True)
class QueryTimings:
    """Milliseconds spent parsing, planning (resolve, rewrite, scans) and executing."""

    parse_ms: float
    plan_ms: float
    execute_ms: float

    @property
    def total_ms(self) -> float:
        """The sum of the three phases."""
        return self.parse_ms + self.plan_ms + self.execute_ms


@dataclass(frozen=True)
class QueryOutcome:
    """Everything one governed query produced.

    Attributes:
        sql: the query as given.
        analyzed_sql: the qualified query (columns qualified, stars expanded) over catalog
            tables, as analysed.
        rewritten_sql: the SQL the engine ran over the governed views.
        tables: one entry per table reference read.
        timings: where the time went.
        result: the rows (None when streaming).
        reader: the rows batch by batch (only when streaming).
        rows: rows returned (None when streaming).
        bytes: result size in bytes (None when streaming).
        exact_columns: False when the column analysis fell back to "every visible column".
        bytes_scanned: the size of the data files the query's scans planned to read.
    """

    sql: str
    analyzed_sql: str
    rewritten_sql: str
    tables: tuple[TableRead, ...]
    timings: QueryTimings
    result: QueryResult | None = None
    reader: pa.RecordBatchReader | None = None
    rows: int | None = None
    bytes: int | None = None
    exact_columns: bool = True
    bytes_scanned: int = 0


@dataclass(frozen=True)
class QueryPlan:
    """A query rewritten over governed views, with the columns it reads.

    Attributes:
        sql: the rewritten SQL (engine dialect).
        analyzed_sql: the qualified query, over catalog table names.
        views: the view standing for each table reference (in first-appearance order).
        columns: per view, the visible columns read.
        exact: see :attr:`QueryOutcome.exact_columns`.
    """

    sql: str
    analyzed_sql: str
    views: tuple[tuple[TableReference, str], ...]
    columns: Mapping[str, tuple[str, ...]]
    exact: bool


@functools.lru_cache(maxsize=512)
def plan_query(
    sql: str,
    dialect: str,
    sources: _Sources,
    engine_dialect: str = "duckdb",
    database: str | None = None,
) -> QueryPlan:
    """Rewrite a parsed query over governed views and analyse the columns it reads.

    Args:
        sql: the query text (parsed through the :func:`parse_query` cache).
        dialect: its dialect.
        sources: each table reference with its visible columns (table order).
        engine_dialect: the dialect to generate for.
        database: the default database (shown in the analysed SQL).

    Returns:
        The plan (cached: treat as immutable).

    Raises:
        InvalidQueryError: the query or the generated SQL fails a check.
        NotFoundError: a hidden or unknown column.
    """
    parsed = parse_query(sql, dialect)
    views = tuple((ref, view_name(i)) for i, (ref, _) in enumerate(sources))
    rewritten = rewrite(parsed.expression, ctx=RewriteContext(dict(views)))
    visible = {view: cols for (_, view), (_, cols) in zip(views, sources, strict=True)}
    usage = read_columns(rewritten, visible, dialect=dialect)
    text = rewritten.sql(dialect=engine_dialect)
    verify_rewritten(text, engine_dialect, frozenset(visible))
    analyzed = _analyzed_text(usage.analyzed, views, database, engine_dialect)
    return QueryPlan(text, analyzed, views, usage.columns, usage.exact)


def _visible(table: ResolvedTable) -> tuple[ScanColumn, ...]:
    """The policy's visible columns as schema columns, in table order."""
    allowed = {name.lower() for name in table.policy.columns}
    return tuple(c for c in table.columns if c.name.lower() in allowed)


def _resolve(
    catalog: QueryCatalog, refs: tuple[TableReference, ...], database: str | None
) -> dict[tuple[str | None, str], ResolvedTable]:
    """Resolve each distinct table; NotFoundError wins over AccessDeniedError (rule 0)."""
    resolved: dict[tuple[str | None, str], ResolvedTable] = {}
    denied: AccessDeniedError | None = None
    for ref in refs:
        key = (ref.database, ref.name)
        if key in resolved:
            continue
        try:
            table = catalog.resolve(ref.database or database, ref.name)
        except AccessDeniedError as exc:
            denied = denied or exc
            continue
        if not table.policy.select:
            denied = denied or AccessDeniedError(f"no SELECT permission on table {ref.name}")
            continue
        resolved[key] = table
    if denied is not None:
        raise denied
    return resolved


def _analyzed_text(
    analyzed: exp.Expr,
    views: tuple[tuple[TableReference, str], ...],
    database: str | None,
    dialect: str,
) -> str:
    """The analysed query with view names mapped back to catalog names."""
    names = {view: ref for ref, view in views}

    def back(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name in names:
            ref = names[node.name]
            node = node.copy()
            node.set("this", exp.to_identifier(ref.name, quoted=True))
            db = ref.database or database
            node.set("db", exp.to_identifier(db, quoted=True) if db else None)
        return node

    return analyzed.transform(back).sql(dialect=dialect)


@contextlib.contextmanager
def _bounded_depth() -> Iterator[None]:
    """Turn the analysis running out of Python stack (thousands of nested parentheses or
    subqueries) into the query error it is."""
    try:
        yield
    except RecursionError:
        raise InvalidQueryError(
            "the query is nested too deeply to analyse: flatten its expressions or subqueries"
        ) from None


def _default_engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        from meshlake.config import query_threads
        from meshlake.query.engines.duckdb import DuckDBEngine

        _ENGINE = DuckDBEngine(threads=query_threads())
    return _ENGINE


_ENGINE: Engine | None = None
_NO_LIMITS = QueryLimits()


def run_query(
    catalog: QueryCatalog,
    sql: str,
    *,
    database: str | None = None,
    engine: Engine | None = None,
    dialect: str = "duckdb",
    stream: bool = False,
    limits: QueryLimits | None = None,
    control: QueryControl | None = None,
) -> QueryOutcome:
    """Run one governed SELECT as the principal ``catalog`` is bound to.

    Args:
        catalog: resolves tables (with the principal's policies) and plans scans.
        sql: one SELECT statement.
        database: the default database for unqualified table names.
        engine: the engine to run on (default: a shared :class:`DuckDBEngine`).
        dialect: the dialect ``sql`` is written in.
        stream: return a batch reader instead of a materialised result.
        limits: bytes-scanned and memory limits (default: none).
        control: lets another thread stop the query (cancel, timeout); it learns what the
            query reads once its scans are planned.

    Returns:
        The result and what was read.

    Raises:
        InvalidQueryError: not one allowed SELECT (decided before anything else).
        NotFoundError: a missing or invisible table, column or snapshot.
        AccessDeniedError: a visible table without SELECT.
        StorageError: the data could not be read.
        QueryLimitError: the planned files exceed ``limits.max_bytes_scanned`` (refused
            before running).
        QueryCancelledError, QueryTimeoutError: stopped through ``control``.

    Example::

        outcome = run_query(catalog, "SELECT region, sum(amount) FROM sales.orders GROUP BY 1")
        outcome.result.to_pandas()
    """
    engine = engine or _default_engine()
    start = time.perf_counter()
    with _bounded_depth():
        parsed = parse_query(sql, dialect)
    parsed_at = time.perf_counter()
    resolved = _resolve(catalog, parsed.tables, database)
    sources: _Sources = tuple(
        (ref, _visible(resolved[(ref.database, ref.name)])) for ref in parsed.tables
    )
    for ref, visible in sources:
        if not visible:
            raise NotFoundError(f"table {ref.name} has no columns you can read")
    with _bounded_depth():
        plan = plan_query(sql, dialect, sources, engine.dialect, database)
    scans: list[GovernedScan] = []
    reads: list[TableRead] = []
    for (ref, visible), (_, view) in zip(sources, plan.views, strict=True):
        table = resolved[(ref.database, ref.name)]
        travel = ref.travel
        scan = catalog.scan(
            table,
            snapshot_id=travel.snapshot_id if travel else None,
            as_of=travel.as_of if travel else None,
        )
        scans.append(GovernedScan(view, scan, table.policy, visible))
        reads.append(
            TableRead(
                ref=table.ref,
                link=table.link,
                columns=plan.columns[view],
                filters=table.policy.filters,
                snapshot_id=scan.snapshot_id,
                time_travel=str(travel) if travel else None,
            )
        )
    scanned = sum(planned_bytes(gs.scan.files) for gs in scans)
    if control is not None:
        control.reads, control.bytes_scanned = tuple(reads), scanned
        control.check()
    limits = limits or _NO_LIMITS
    if limits.max_bytes_scanned is not None and scanned > limits.max_bytes_scanned:
        raise QueryLimitError(
            f"the query would scan {scanned:,} bytes, over its workgroup's limit of "
            f"{limits.max_bytes_scanned:,} (max_bytes_scanned): filter on fewer rows or "
            "columns, or ask an admin to raise the limit",
            limit="max_bytes_scanned",
            bytes_scanned=scanned,
        )
    planned_at = time.perf_counter()
    result: QueryResult | None = None
    reader: pa.RecordBatchReader | None = None
    memory = limits.memory_limit
    try:
        if stream:
            reader = engine.stream(plan.sql, scans, memory_limit=memory)
        else:
            result = QueryResult(
                engine.execute(plan.sql, scans, memory_limit=memory, control=control)
            )
    except MeshError:
        if control is not None:
            control.check()  # an interrupted query ends with its stop error
        raise
    done = time.perf_counter()
    return QueryOutcome(
        sql=sql,
        analyzed_sql=plan.analyzed_sql,
        rewritten_sql=plan.sql,
        tables=tuple(reads),
        timings=QueryTimings(
            parse_ms=(parsed_at - start) * 1000,
            plan_ms=(planned_at - parsed_at) * 1000,
            execute_ms=(done - planned_at) * 1000,
        ),
        result=result,
        reader=reader,
        rows=result.num_rows if result is not None else None,
        bytes=result.nbytes if result is not None else None,
        exact_columns=plan.exact,
        bytes_scanned=scanned,
    )
