"""Stopping a running query from another thread, and the limits a query runs under.

A :class:`QueryControl` travels with one query through :func:`~meshlake.query.service.run_query`
into the engine. Another thread calls :meth:`QueryControl.stop` with the error the query should
end with (:class:`~meshlake.errors.QueryCancelledError` for a cancel,
:class:`~meshlake.errors.QueryTimeoutError` for a timeout): the query layer checks it between
phases, and while the engine executes, the engine's interrupt (DuckDB's
``connection.interrupt()``) is bound to the control, so a stop interrupts the execution.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from meshlake.errors import MeshError

__all__ = ["QueryControl", "QueryLimits", "planned_bytes"]


@dataclass(frozen=True)
class QueryLimits:
    """What one query may use (from its workgroup).

    Attributes:
        max_bytes_scanned: refuse the query before it runs when its scans' planned files
            are larger than this (None: no limit).
        memory_limit: the engine's memory limit for the query, e.g. ``"2GB"`` (None: the
            engine's default).
    """

    max_bytes_scanned: int | None = None
    memory_limit: str | None = None


class QueryControl:
    """A running query's stop switch, shared by the thread running it and its stoppers.

    Attributes:
        reads: what the query reads (its table reads), set once its scans are planned, so a
            stopped query can still be audited.
        executing: the engine started executing (the query read data).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._error: MeshError | None = None
        self._interrupt: Callable[[], None] | None = None
        self._finished = False
        self.reads: tuple[Any, ...] = ()
        self.bytes_scanned = 0
        self.executing = False

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called (and the query must end with its error)."""
        return self._error is not None

    @property
    def error(self) -> MeshError | None:
        """The error the stopped query ends with."""
        return self._error

    def stop(self, error: MeshError) -> bool:
        """Stop the query with ``error`` (the first stop wins).

        Returns:
            False when the query had already finished or been stopped.
        """
        with self._lock:
            if self._finished or self._error is not None:
                return False
            self._error = error
            interrupt = self._interrupt
        if interrupt is not None:
            interrupt()
        return True

    def interrupt_again(self) -> None:
        """Repeat the engine interrupt of a stopped query (an interrupt that raced the
        start of execution may have been lost)."""
        with self._lock:
            interrupt = self._interrupt if self._error is not None else None
        if interrupt is not None:
            interrupt()

    def check(self) -> None:
        """Raise the stop error if the query was stopped."""
        if self._error is not None:
            raise self._error

    def finish(self) -> bool:
        """Mark the query finished: later stops are ignored.

        Returns:
            False when it had been stopped first (it must end with :attr:`error`).
        """
        with self._lock:
            self._finished = True
            return self._error is None

    @contextmanager
    def executing_with(self, interrupt: Callable[[], None]) -> Iterator[None]:
        """Bind the engine's interrupt while the engine executes.

        Raises:
            MeshError: the stop error, when the query was stopped before or while it ran.
        """
        with self._lock:
            self.executing = True
            if self._error is not None:
                raise self._error
            self._interrupt = interrupt
        try:
            yield
        finally:
            with self._lock:
                self._interrupt = None


_SIZES: dict[str, int] = {}


def planned_bytes(files: Sequence[str]) -> int:
    """The total size of data files (each file's size cached: data files never change).

    Missing files count 0 (the engine reports them when it reads).
    """
    total = 0
    for path in files:
        size = _SIZES.get(path)
        if size is None:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = 0
            if len(_SIZES) > 262_144:
                _SIZES.clear()
            _SIZES[path] = size
        total += size
    return total
