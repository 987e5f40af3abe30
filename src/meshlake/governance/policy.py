"""Table policies: what one principal may read of one table.

The governance engine computes a :class:`TablePolicy` per (principal, table); the query layer
enforces it at the scan. Semantics (rules 8, 20, 21 of the permission model):

* A :class:`RowRule` is one source of access: a plain table grant (``row_filter`` is
  ``None``: every row) or a data filter (its row filter and its columns).
* A *view* is a union of rules: a row is in the view when some rule's row filter matches it,
  and a cell of column ``c`` is visible when some rule that matches the row lists ``c``.
* A policy is the **intersection** of one or more views. Usually there is a single view (the
  principal's own grants); a principal whose access comes through a cross-account share also
  carries the view its account received (rule 21: rows in both, columns in both).
* ``columns`` lists the columns the principal may name (table order); every other column is
  invisible. A cell of a visible column that the row's matching rules do not cover is NULL.

Row filters are stored in their canonical SQL form (see ``governance.filters``), with quoted
identifiers, so they can be embedded directly in DuckDB or Spark SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RowRule", "TablePolicy", "TableRef"]


@dataclass(frozen=True, order=True)
class TableRef:
    """A table by its owning account, database and name."""

    account: str
    database: str
    name: str

    @property
    def qualified(self) -> str:
        """``database.table`` (the form audit events use)."""
        return f"{self.database}.{self.name}"

    def __str__(self) -> str:
        return f"{self.account}:{self.database}.{self.name}"


@dataclass(frozen=True, slots=True)
class RowRule:
    """One source of access: rows matching ``row_filter`` (None = all), cells of ``columns``."""

    columns: frozenset[str]
    row_filter: str | None = None
    name: str | None = None  # the data filter's name; None for a plain grant
    extra_names: tuple[str, ...] = ()  # further filters intersected into this rule (rule 21)


@dataclass(frozen=True)
class TablePolicy:
    """What a principal may read of one table (see the module docstring)."""

    table: TableRef
    columns: tuple[str, ...]
    views: tuple[tuple[RowRule, ...], ...] = field(default=())
    select: bool = True  # False: the table is visible (DESCRIBE) but not readable

    @property
    def filters(self) -> tuple[str, ...]:
        """Names of the data filters that take part (sorted, unique)."""
        names = {r.name for view in self.views for r in view if r.name}
        names.update(n for view in self.views for r in view for n in r.extra_names)
        return tuple(sorted(names))

    @property
    def unrestricted_rows(self) -> bool:
        """True when every row is visible (no row predicate needed)."""
        return all(any(r.row_filter is None for r in view) for view in self.views)

    def row_predicate(self) -> str | None:
        """SQL for "the row is visible", or None when every row is.

        >>> p = TablePolicy(TableRef("a", "d", "t"), ("x",),
        ...     ((RowRule(frozenset({"x"}), "\\"x\\" > 1", "f"),),))
        >>> p.row_predicate()
        '(("x" > 1))'
        """
        parts: list[str] = []
        for view in self.views:
            if any(r.row_filter is None for r in view):
                continue
            filters = sorted({r.row_filter for r in view if r.row_filter is not None})
            if not filters:
                return "FALSE"
            parts.append("(" + " OR ".join(f"({f})" for f in filters) + ")")
        return " AND ".join(parts) if parts else None

    def cell_predicate(self, column: str) -> str | None:
        """SQL for "this row's cell of ``column`` is visible" given the row is visible.

        None means always visible; ``'FALSE'`` means never (the column is all NULL).
        """
        parts: list[str] = []
        for view in self.views:
            covering = [r for r in view if column in r.columns]
            if not covering:
                return "FALSE"
            if any(r.row_filter is None for r in covering):
                continue
            # Rows in this view that match only non-covering rules must show NULL.
            all_filters = {r.row_filter for r in view if r.row_filter is not None}
            filters = sorted({r.row_filter for r in covering if r.row_filter is not None})
            if set(filters) == all_filters and not any(r.row_filter is None for r in view):
                continue  # every rule of the view covers the column: the row filter suffices
            parts.append("(" + " OR ".join(f"({f})" for f in filters) + ")")
        return " AND ".join(parts) if parts else None
