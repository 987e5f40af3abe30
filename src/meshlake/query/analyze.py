"""Parse a SQL string and decide, from the text alone, whether it is one allowed SELECT.

This is step 1 and the text half of step 2 of the governed query pipeline (ARCHITECTURE.md
§5, rule 0 of the permission model): exactly one ``SELECT`` query (CTEs, joins, subqueries,
set operations, windows, aggregates, ``VALUES``), made only of known-safe SQL constructs, that
calls only allow-listed functions (:mod:`meshlake.query.functions`) and reads only catalog
tables (``db.table`` or ``table``), its own CTEs, ``VALUES`` and the pure set-returning
functions ``range``/``generate_series``/``unnest``. Everything else raises
:class:`~meshlake.errors.InvalidQueryError` before any catalog lookup.

Results are cached per (SQL text, dialect): a :class:`ParsedQuery` is immutable by
convention; rewrite rules copy its expression before changing anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from meshlake.errors import InvalidQueryError
from meshlake.query.functions import ALLOWED_TABLE_FUNCTIONS, function_name, is_allowed_function
from meshlake.query.references import TableReference, table_reference

__all__ = ["RESERVED_PREFIX", "ParsedQuery", "parse_query", "verify_rewritten"]

#: Names the rewrite gives governed views start with this; a query may not use it.
RESERVED_PREFIX = "__meshlake"

_QUERY_TYPES = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)

#: Non-function node types a governed query may contain (functions: see functions.py).
_ALLOWED_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        # query structure
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
        exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order,
        exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.Distinct, exp.Window,
        exp.WindowSpec, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls,
        exp.Lateral, exp.Values, exp.Tuple, exp.Table, exp.TableAlias, exp.Alias,
        exp.Aliases, exp.Cube, exp.Rollup, exp.GroupingSets, exp.TableSample,
        exp.Version, exp.HistoricalData, exp.Semicolon,
        # values and names
        exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean,
        exp.Paren, exp.PositionalColumn, exp.Dot, exp.Bracket, exp.Slice, exp.Interval,
        exp.IntervalSpan, exp.DataType, exp.DataTypeParam, exp.ColumnDef, exp.Var,
        exp.Lambda, exp.Kwarg, exp.PropertyEQ, exp.Escape, exp.AtTimeZone,
        exp.Comprehension, exp.HexString, exp.BitString, exp.ByteString, exp.RawString,
        exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey, exp.JSONPathSubscript,
        exp.JSONPathWildcard, exp.JSONPathSlice, exp.JSONPathUnion, exp.JSONPathFilter,
        exp.JSONPathSelector, exp.JSONPathRecursive, exp.JSONKeyValue,
        # operators
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Not, exp.EQ,
        exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is,
        exp.In, exp.Between, exp.Like, exp.ILike, exp.SimilarTo, exp.Glob, exp.DPipe,
        exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot,
        exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.Any, exp.All, exp.Distance,
    }
)  # fmt: skip

#: DuckDB's built-in catalog views and schemas (duckdb_* names are matched by prefix).
_SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
_SYSTEM_TABLES = frozenset(
    {
        "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema",
        "pragma_database_list", "pg_am", "pg_attrdef", "pg_attribute", "pg_class",
        "pg_collation", "pg_constraint", "pg_database", "pg_depend", "pg_description",
        "pg_enum", "pg_index", "pg_indexes", "pg_namespace", "pg_prepared_statements",
        "pg_proc", "pg_sequence", "pg_sequences", "pg_settings", "pg_tables",
        "pg_tablespace", "pg_type", "pg_views",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ParsedQuery:
    """One allowed SELECT, parsed.

    Attributes:
        sql: the text as given.
        dialect: the sqlglot dialect it was read with.
        expression: the parsed statement (do not mutate: copy first).
        tables: the distinct catalog table references, in order of first appearance.
    """

    sql: str
    dialect: str
    expression: exp.Expr
    tables: tuple[TableReference, ...]


def _where(node: exp.Expr) -> dict[str, int]:
    """Line and (1-based, start) column of a node, from its first positioned identifier."""
    for identifier in node.find_all(exp.Identifier):
        meta = identifier.meta
        if "line" in meta and "col" in meta:
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            return {"line": int(meta["line"]), "column": max(1, int(meta["col"]) - width)}
    return {}


def _refuse(message: str, node: exp.Expr | None = None) -> InvalidQueryError:
    return InvalidQueryError(message, **(_where(node) if node is not None else {}))


def _first_word(sql: str) -> str:
    """The statement's first keyword, for messages (comments skipped)."""
    try:
        tokens = sqlglot.tokenize(sql)
    except TokenError:
        return "this statement"
    return tokens[0].text.upper() if tokens else "this statement"


def _parse(sql: str, dialect: str) -> exp.Expr:
    """Exactly one statement, or InvalidQueryError with the parser's line and column."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidQueryError("empty query: give one SELECT statement")
    try:
        statements = sqlglot.parse(sql, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        message = str(first.get("description") or exc).strip()
        raise InvalidQueryError(
            f"cannot parse the query: {message}", line=first.get("line"), column=first.get("col")
        ) from exc
    except TokenError as exc:
        raise InvalidQueryError(f"cannot parse the query: {exc}") from exc
    except ValueError as exc:  # an unknown dialect name
        raise InvalidQueryError(f"cannot parse the query: {exc}") from exc
    found = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not found:
        raise InvalidQueryError("empty query: give one SELECT statement")
    if len(found) > 1:
        raise _refuse("only one statement is allowed per query", found[1])
    statement = found[0]
    if not isinstance(statement, _QUERY_TYPES):
        raise InvalidQueryError(f"only SELECT queries are allowed, not {_first_word(sql)}")
    return statement


@functools.lru_cache(maxsize=32)
def _identifier_quotes(dialect: str) -> frozenset[str]:
    """The characters that open a quoted identifier in ``dialect``."""
    quotes = Dialect.get_or_raise(dialect).tokenizer_class.IDENTIFIERS
    return frozenset(q if isinstance(q, str) else q[0] for q in quotes)


def _check_table(table: exp.Table, sql: str, dialect: str) -> None:
    """Refuse table functions, string-literal file scans and system catalogs."""
    source = table.this
    if isinstance(source, exp.Func):
        if isinstance(source, ALLOWED_TABLE_FUNCTIONS):
            return
        raise _refuse(f"table function {function_name(source)} is not allowed", table)
    if not isinstance(source, exp.Identifier):
        raise _refuse("unsupported table reference", table)
    start = source.meta.get("start")
    if (
        source.quoted
        and isinstance(start, int)
        and 0 <= start < len(sql)
        and sql[start] not in _identifier_quotes(dialect)
    ):
        raise _refuse("reading files is not allowed: name a catalog table", table)
    if table.catalog:
        raise _refuse(f"table names have at most two parts (database.table): {table.sql()}", table)
    name = table.name.lower()
    database = table.db.lower()
    if (
        database in _SYSTEM_SCHEMAS
        or name in _SYSTEM_TABLES
        or name.startswith("duckdb_")
        or (not database and name in _SYSTEM_SCHEMAS)
    ):
        raise _refuse(f"system catalog {table.sql()} is not available", table)


def _check_nodes(statement: exp.Expr, sql: str, dialect: str, *, reserved: bool = False) -> None:
    """Walk every node: allowed construct, allowed function, allowed table, no reserved name.

    ``reserved=True`` accepts names with :data:`RESERVED_PREFIX` (rewritten SQL).
    """
    for node in statement.walk():
        if isinstance(node, exp.Func):
            if not is_allowed_function(node):
                raise _refuse(f"function {function_name(node)} is not allowed", node)
        elif type(node) not in _ALLOWED_NODES:
            label = node.key.upper()
            if isinstance(node, exp.Pivot | exp.UnpivotColumns):
                raise _refuse("PIVOT and UNPIVOT are not supported: use FILTER aggregates", node)
            if isinstance(node, exp.Placeholder | exp.Parameter | exp.SessionParameter):
                raise _refuse("query parameters and session variables are not supported", node)
            raise _refuse(f"{label} is not allowed in a governed query", node)
        if isinstance(node, exp.Table):
            _check_table(node, sql, dialect)
        elif (
            isinstance(node, exp.Identifier)
            and not reserved
            and node.name.lower().startswith(RESERVED_PREFIX)
        ):
            raise _refuse(f"names starting with {RESERVED_PREFIX} are reserved", node)
        elif isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise _refuse("SELECT INTO is not allowed", node)


def _table_references(statement: exp.Expr) -> tuple[TableReference, ...]:
    """Distinct catalog table references, in the order they appear in the text."""
    found: list[tuple[int, int, TableReference]] = []
    for index, table in enumerate(statement.find_all(exp.Table)):
        ref = table_reference(table)
        if ref is not None:
            found.append((int(table.this.meta.get("start", 1 << 62)), index, ref))
    seen: dict[TableReference, None] = {}
    for _, _, ref in sorted(found, key=lambda item: item[:2]):
        seen.setdefault(ref, None)
    return tuple(seen)


@functools.lru_cache(maxsize=512)
def parse_query(sql: str, dialect: str = "duckdb") -> ParsedQuery:
    """Parse ``sql`` and check that it is one allowed SELECT.

    Args:
        sql: the query text.
        dialect: the sqlglot dialect to read it with (``duckdb`` by default).

    Returns:
        The parsed query with its catalog table references.

    Raises:
        InvalidQueryError: not exactly one SELECT, a refused construct, function, table
            function, file scan or system catalog (with line and column where known).

    >>> parsed = parse_query("SELECT a FROM sales.orders o JOIN customers c ON o.c = c.id")
    >>> [str(t) for t in parsed.tables]
    ['sales.orders', 'customers']
    """
    statement = _parse(sql, dialect)
    _check_nodes(statement, sql, dialect)
    return ParsedQuery(sql, dialect, statement, _table_references(statement))


def verify_rewritten(sql: str, dialect: str, views: frozenset[str]) -> None:
    """Check generated SQL again before it runs (defense in depth).

    The rewritten SQL must pass the same checks as the user's, and every table it reads
    must be one of ``views``, a CTE or an allowed set-returning function.

    Raises:
        InvalidQueryError: the generated SQL fails a check (the query is refused).
    """
    statement = _parse(sql, dialect)
    _check_nodes(statement, sql, dialect, reserved=True)
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        if table.db or (table.name not in views and table_reference(table) is not None):
            raise InvalidQueryError(f"the rewritten query reads {table.sql()}: refused")
