"""Governed SQL: analyse, rewrite and execute one SELECT under a principal's policies.

The pipeline (ARCHITECTURE.md §5): :func:`~meshlake.query.analyze.parse_query` decides from
the text alone whether the SQL is one allowed SELECT; :func:`run_query` resolves its tables
through a :class:`QueryCatalog`, rewrites it over governed views
(:mod:`meshlake.query.rewrite`), lists the columns it reads
(:mod:`meshlake.query.columns`) and runs it on an :class:`Engine` that enforces each
table's policy at the scan (:mod:`meshlake.query.engines.duckdb`).
"""

from __future__ import annotations

from meshlake.query.analyze import ParsedQuery, parse_query
from meshlake.query.context import QueryCatalog, ResolvedTable, ScanColumn, TableScan
from meshlake.query.engines import Engine, GovernedScan, load_engine
from meshlake.query.references import TableReference, TimeTravel
from meshlake.query.results import QueryResult
from meshlake.query.service import QueryOutcome, QueryTimings, TableRead, run_query

__all__ = [
    "Engine",
    "GovernedScan",
    "ParsedQuery",
    "QueryCatalog",
    "QueryOutcome",
    "QueryResult",
    "QueryTimings",
    "ResolvedTable",
    "ScanColumn",
    "TableRead",
    "TableReference",
    "TableScan",
    "TimeTravel",
    "load_engine",
    "parse_query",
    "run_query",
]
