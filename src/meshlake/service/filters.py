"""Data filters as a principal creates, lists and drops them (rules 18-21)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete

from meshlake.catalog.models import FilterRow, GrantRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.governance.access import account_table_access, table_access
from meshlake.governance.filters import compile_row_filter
from meshlake.ids import check_name
from meshlake.inputs import require_str_list
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit

__all__ = ["FilterView", "FiltersAPI"]


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

    @in_unit
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
        if columns is not None:
            columns = require_str_list("columns", columns)
        if excluded_columns is not None:
            excluded_columns = require_str_list("excluded_columns", excluded_columns)
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

    @in_unit
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
