"""Data filters: the row filter grammar (rule 19) and creating filters (rule 18).

The grammar: ``column op constant`` with ``= <> != < <= > >= BETWEEN IN LIKE IS [NOT] NULL``,
combined with ``AND``, ``OR``, ``NOT`` and parentheses; single-quoted string literals; no
functions and no column-to-column comparisons; under 2,048 characters. A valid filter is
stored in canonical SQL (double-quoted identifiers) that DuckDB and Spark both accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlglot
from sqlalchemy import delete
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from meshlake.catalog.models import FilterRow, GrantRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.governance.access import account_table_access, table_access
from meshlake.ids import check_name
from meshlake.runtime import ServiceBase

__all__ = ["MAX_FILTER_LENGTH", "FilterView", "FiltersAPI", "compile_row_filter"]

MAX_FILTER_LENGTH = 2048
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Like)
_NUMERIC = ("BIGINT", "INTEGER", "DOUBLE", "FLOAT", "DECIMAL", "SMALLINT", "TINYINT")


def _position(node: exp.Expression, text: str) -> int:
    """1-based character position of ``node`` in ``text`` (best effort)."""
    for ident in node.find_all(exp.Identifier):
        start = ident.meta.get("start") if ident.meta else None
        if start is not None:
            return int(start) + 1
    snippet = node.sql(dialect="duckdb")
    idx = text.lower().find(snippet.lower().split("(")[0])
    return idx + 1 if idx >= 0 else 1


def _fail(text: str, node: exp.Expression, why: str) -> InvalidInputError:
    pos = _position(node, text)
    return InvalidInputError(f"row filter {why} at position {pos}: {text!r}", position=pos)


def compile_row_filter(text: str, columns: dict[str, str]) -> str:
    """Validate a row filter against the grammar and a table's visible columns.

    Args:
        text: the filter as the user wrote it.
        columns: the visible columns, name -> DuckDB type.

    Returns:
        The canonical SQL of the filter.

    Raises:
        InvalidInputError: naming the position of the first problem.

    >>> compile_row_filter("region = 'us' AND amount > 5",
    ...                    {"region": "VARCHAR", "amount": "DOUBLE"})
    '"region" = \\'us\\' AND "amount" > 5'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("a row filter must be a non-empty expression, or use all_rows")
    if len(text) >= MAX_FILTER_LENGTH:
        raise InvalidInputError(f"a row filter must be under {MAX_FILTER_LENGTH} characters")
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except (ParseError, TokenError) as exc:
        err = exc.errors[0] if isinstance(exc, ParseError) and exc.errors else {}
        raise InvalidInputError(
            f"row filter does not parse at line {err.get('line', 1)}, column "
            f"{err.get('col', 1)}: {err.get('description', exc)}",
            position=err.get("col"),
        ) from exc
    by_lower = {c.lower(): c for c in columns}

    def column(node: exp.Expression) -> str:
        if not isinstance(node, exp.Column) or node.table:
            raise _fail(text, node, "expects a column name on the left of a comparison")
        name = by_lower.get(node.name.lower())
        if name is None:
            raise _fail(text, node, f"names unknown column {node.name!r}")
        node.set("this", exp.to_identifier(name, quoted=True))
        return name

    def constant(node: exp.Expression, col: str) -> None:
        lit = node.this if isinstance(node, exp.Neg) else node
        if not isinstance(lit, exp.Literal) or (isinstance(node, exp.Neg) and lit.is_string):
            raise _fail(
                text,
                node,
                "compares with something that is not a constant "
                "(no functions or column-to-column comparisons)",
            )
        numeric = columns[col].upper().startswith(_NUMERIC)
        if numeric and lit.is_string:
            try:
                float(lit.this)
            except ValueError:
                raise _fail(text, node, f"compares numeric column {col} with a string") from None
        if not numeric and not lit.is_string and columns[col].upper() == "VARCHAR":
            raise _fail(text, node, f"compares text column {col} with a number: quote it")

    def walk(node: exp.Expression) -> None:
        if isinstance(node, (exp.And, exp.Or)):
            walk(node.this)
            walk(node.expression)
        elif isinstance(node, (exp.Not, exp.Paren)):
            walk(node.this)
        elif isinstance(node, _COMPARISONS):
            constant(node.expression, column(node.this))
        elif isinstance(node, exp.Between):
            col = column(node.this)
            constant(node.args["low"], col)
            constant(node.args["high"], col)
        elif isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise _fail(text, node, "uses IN with something other than a list of constants")
            col = column(node.this)
            for item in node.expressions:
                constant(item, col)
        elif isinstance(node, exp.Is):
            column(node.this)
            if not isinstance(node.expression, exp.Null):
                raise _fail(text, node, "allows only IS NULL and IS NOT NULL")
        else:
            raise _fail(text, node, f"uses {node.key.upper()}, which the grammar does not allow")

    walk(tree)  # type: ignore[arg-type]
    return tree.sql(dialect="duckdb", identify=True)


@dataclass(frozen=True)
class FilterView:
    """A data filter as listed."""

    database: str
    table: str
    name: str
    row_filter: str | None
    columns: tuple[str, ...] | None
    excluded_columns: tuple[str, ...] | None
    creator: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


class FiltersAPI(ServiceBase):
    """Create, list and drop data filters."""

    def create(
        self,
        database: str,
        table: str,
        name: str,
        *,
        row_filter: str | None = None,
        all_rows: bool = False,
        columns: Sequence[str] | None = None,
        excluded_columns: Sequence[str] | None = None,
        account: str | None = None,
    ) -> FilterView:
        """Create a data filter (rule 18).

        Raises:
            NotFoundError: the table is not visible. InvalidInputError: bad grammar or
            columns (rule 19). AccessDeniedError: no right to create filters on the table.
            ConflictError: a filter of that name exists.
        """
        st = self.state()
        rt = self.rt.engine.resolve_table(st, self.principal, database, table, account)
        if rt is None:
            raise NotFoundError(f"table {database}.{table} not found")
        check_name("data filter", name)
        acc = table_access(st, self.principal, rt.table.id)
        seen = acc.visible_columns(rt.table.columns)
        types = dict(zip(rt.table.columns, rt.table.types, strict=False))
        if (row_filter is None) == (not all_rows):
            raise InvalidInputError("give exactly one of row_filter and all_rows=True")
        if columns is not None and excluded_columns is not None:
            raise InvalidInputError("give either columns or excluded_columns, not both")
        for c in list(columns or []) + list(excluded_columns or []):
            if c not in seen:
                raise InvalidInputError(f"column {c!r} is not a column of {database}.{table}")
        if columns is not None and not columns:
            raise InvalidInputError("columns must name at least one column")
        canonical = (
            compile_row_filter(row_filter, {c: types[c] for c in seen})
            if row_filter is not None
            else None
        )
        owner = rt.database.account
        may = (
            st.is_admin(self.principal, owner)
            or set(rt.table.columns) <= acc.grant_columns
            or (
                st.is_admin(self.principal, self.account)
                and self.account != owner
                and account_table_access(st, self.account, rt.table.id).visible
            )
        )
        if not may:
            raise AccessDeniedError(
                f"creating a data filter on {database}.{table} needs SELECT with the grant "
                f"option on all its columns, or admin of {owner} (rule 18)"
            )
        if (rt.table.id, name) in st.filter_by_name:
            raise ConflictError(f"data filter {name} already exists on {database}.{table}")
        view = FilterView(
            rt.database.name,
            rt.table.name,
            name,
            canonical,
            tuple(columns) if columns is not None else None,
            tuple(excluded_columns) if excluded_columns is not None else None,
            self.principal,
        )
        with self.change(
            "create_filter",
            f"filter:{owner}.{rt.ref.qualified}.{name}",
            [owner, self.account],
            after=view.to_dict(),
        ) as (session, _):
            session.add(
                FilterRow(
                    table_id=rt.table.id,
                    name=name,
                    row_filter=canonical,
                    row_filter_text=row_filter,
                    columns=list(columns) if columns is not None else None,
                    excluded_columns=list(excluded_columns)
                    if excluded_columns is not None
                    else None,
                    creator=self.principal,
                    created_at=datetime.now(UTC),
                )
            )
        return view

    def list(self, database: str, table: str, account: str | None = None) -> list[FilterView]:
        """Filters on a table that the caller may describe."""
        st = self.state()
        rt = self.rt.engine.resolve_table(st, self.principal, database, table, account)
        if rt is None:
            raise NotFoundError(f"table {database}.{table} not found")
        acc = table_access(st, self.principal, rt.table.id)
        out = []
        for fid in st.filters_of_table.get(rt.table.id, []):
            f = st.filters[fid]
            if (
                f.creator == self.principal
                or st.is_admin(self.principal, rt.database.account)
                or any(r.name == f.name for r in acc.rules)
            ):
                out.append(
                    FilterView(
                        rt.database.name,
                        rt.table.name,
                        f.name,
                        f.row_filter_text,
                        f.columns,
                        f.excluded_columns,
                        f.creator,
                    )
                )
        return sorted(out, key=lambda v: v.name)

    def drop(self, database: str, table: str, name: str, account: str | None = None) -> None:
        """Drop a filter (its creator or an admin of the table's account); grants go too."""
        st = self.state()
        rt = self.rt.engine.resolve_table(st, self.principal, database, table, account)
        fid = st.filter_by_name.get((rt.table.id, name)) if rt else None
        if rt is None or fid is None:
            raise NotFoundError(f"data filter {name} on {database}.{table} not found")
        f = st.filters[fid]
        if not (f.creator == self.principal or st.is_admin(self.principal, rt.database.account)):
            raise AccessDeniedError(
                f"only the creator of {name} or an admin of {rt.database.account} may drop it"
            )
        with self.change(
            "drop_filter",
            f"filter:{rt.ref.account}.{rt.ref.qualified}.{name}",
            [rt.database.account, self.account],
            before={"row_filter": f.row_filter_text},
        ) as (session, _):
            session.execute(
                delete(GrantRow).where(GrantRow.kind == "filter", GrantRow.target_id == fid)
            )
            session.execute(delete(FilterRow).where(FilterRow.id == fid))
