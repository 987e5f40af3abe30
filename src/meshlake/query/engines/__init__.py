"""Query engines: run a rewritten query over governed scans and return Arrow.

An :class:`Engine` receives the rewritten SQL (it reads only governed view names) and one
:class:`GovernedScan` per view. The engine builds each view over the scan's files: only the
policy's visible columns, only rows passing its row predicate, cells outside a matching cell
filter set to NULL, and, wherever the policy hides rows or cells, a security barrier so the
user's predicates are never evaluated on hidden rows (ARCHITECTURE.md §5 step 5). Backends
sit beside this module (:mod:`meshlake.query.engines.duckdb`; Spark later).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from meshlake.governance.policy import TablePolicy
from meshlake.query.context import ScanColumn, TableScan
from meshlake.query.control import QueryControl

__all__ = ["Engine", "GovernedScan", "load_engine"]


@dataclass(frozen=True)
class GovernedScan:
    """One governed view of a query.

    Attributes:
        view: the name the rewritten SQL reads.
        scan: the snapshot's files and the table's schema.
        policy: what the principal may read.
        visible: the visible columns, in table order (the view's columns, exactly).
    """

    view: str
    scan: TableScan
    policy: TablePolicy
    visible: tuple[ScanColumn, ...]


class Engine(ABC):
    """Executes rewritten queries over governed scans."""

    #: The engine's name (shown in query executions).
    name: ClassVar[str] = "engine"
    #: The sqlglot dialect the rewritten SQL must be generated in.
    dialect: ClassVar[str] = "duckdb"

    @abstractmethod
    def execute(
        self,
        sql: str,
        scans: Sequence[GovernedScan],
        *,
        memory_limit: str | None = None,
        control: QueryControl | None = None,
    ) -> pa.Table:
        """Run ``sql`` over the governed views of ``scans`` and return the whole result.

        Args:
            sql: the rewritten query, in :attr:`dialect`.
            scans: one governed scan per view the query reads.
            memory_limit: the most memory the query may use, e.g. ``"2GB"`` (None: the
                engine's default).
            control: lets another thread interrupt the execution
                (:meth:`QueryControl.executing_with`).

        Returns:
            The result as an Arrow table.

        Raises:
            NotFoundError: the query names a column the views do not have.
            InvalidQueryError: the engine refused or failed on the user's query.
            StorageError: the engine could not read the data.
        """

    @abstractmethod
    def stream(
        self,
        sql: str,
        scans: Sequence[GovernedScan],
        *,
        batch_size: int = 65536,
        memory_limit: str | None = None,
    ) -> pa.RecordBatchReader:
        """Like :meth:`execute`, but return the result batch by batch.

        Args:
            sql: the rewritten query, in :attr:`dialect`.
            scans: one governed scan per view the query reads.
            batch_size: rows per batch (a hint).
            memory_limit: as for :meth:`execute`.

        Returns:
            A reader; the engine releases its resources when the reader is exhausted.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and caches (the engine may be used again afterwards)."""


def load_engine(name: str = "duckdb") -> Engine:
    """Create an engine by name.

    Args:
        name: ``duckdb`` (the only engine so far).

    Returns:
        A new engine.

    Raises:
        InvalidInputError: an unknown engine name.
    """
    if name == "duckdb":
        from meshlake.query.engines.duckdb import DuckDBEngine

        return DuckDBEngine()
    from meshlake.errors import InvalidInputError

    raise InvalidInputError(f"unknown query engine {name!r}: use 'duckdb'")
