"""Queries running in this process: their stop switches, deadlines and cancel requests.

Every running query registers its :class:`~meshlake.query.control.QueryControl` here, so a
``queries.cancel`` from another thread stops it at once. One daemon thread (the watchdog)
stops queries past their workgroup's ``max_runtime_s`` and, about once a second, asks the
store whether another process asked to cancel one of this process's queries (the
``cancel_requested_by`` column of its execution row).

A synchronous query whose id nobody knows yet is recorded lazily: its RUNNING row is written
only once it has run for ``RECORD_AFTER_S`` (by a background thread), so the many queries that
finish sooner commit one row, with their outcome, in one transaction. Until then the query is
visible to this process (:func:`running`) but not to others, and no other process could name
it anyway.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from meshlake.catalog.models import QueryExecutionRow
from meshlake.catalog.store import CatalogStore
from meshlake.errors import MeshError, QueryCancelledError
from meshlake.query.control import QueryControl

__all__ = ["RunningQuery", "register", "running", "unrecorded", "unregister"]

POLL_S = 1.0  # how often the store is asked for other processes' cancel requests
RECORD_AFTER_S = 0.25  # a lazily recorded query's RUNNING row is written after this long


@dataclass(eq=False)
class RunningQuery:
    """One query running in this process."""

    query_id: str
    control: QueryControl
    store: CatalogStore
    deadline: float  # time.monotonic()
    timeout: Callable[[], MeshError]
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    # lazily recorded: the RUNNING row's values until it is written (None: written up front)
    pending: dict[str, Any] | None = None
    record: Callable[[dict[str, Any]], None] | None = None  # writes the RUNNING row
    _recorded: bool = False
    _final: bool = False

    def record_running(self) -> None:
        """Write the RUNNING row now, unless the outcome is being (or was) recorded.

        No lock is held while writing: the row is inserted only if absent, and the outcome
        is an upsert, so whichever commits first, the outcome stands (both go through the
        store's write lock, which the finishing thread may already hold).
        """
        if self._final or self._recorded or self.pending is None or self.record is None:
            return
        try:
            self.record(self.pending)
        except Exception:  # the outcome is recorded anyway; only visibility is delayed
            return
        self._recorded = True

    @property
    def recorded(self) -> bool:
        """Whether the row was written (always, for a query recorded up front)."""
        return self.pending is None or self._recorded

    def finishing(self) -> bool:
        """Claim the outcome record (no RUNNING row is attempted after this); True when the
        row was written up front (update it), False when the outcome is upserted whole."""
        self._final = True
        return self.pending is None


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running: dict[str, RunningQuery] = {}
        self._deadlines: list[tuple[float, int, RunningQuery]] = []
        self._records: list[tuple[float, int, RunningQuery]] = []  # lazy RUNNING rows due
        self._seq = 0
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def register(self, entry: RunningQuery) -> None:
        with self._cond:
            self._running[entry.query_id] = entry
            self._seq += 1
            heapq.heappush(self._deadlines, (entry.deadline, self._seq, entry))
            if entry.pending is not None:
                heapq.heappush(self._records, (entry.started + RECORD_AFTER_S, self._seq, entry))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="meshlake-query-watchdog", daemon=True
                )
                self._thread.start()
            elif min(entry.deadline, entry.started + RECORD_AFTER_S) < self._wake_at:
                self._cond.notify()

    def unregister(self, entry: RunningQuery) -> None:
        with self._cond:
            if self._running.get(entry.query_id) is entry:
                del self._running[entry.query_id]
        entry.done.set()

    def get(self, query_id: str) -> RunningQuery | None:
        with self._cond:
            return self._running.get(query_id)

    def unrecorded(self) -> list[RunningQuery]:
        with self._cond:
            return [e for e in self._running.values() if e.pending is not None and not e.recorded]

    def _loop(self) -> None:
        last_poll = time.monotonic()
        while True:
            with self._cond:
                now = time.monotonic()
                while self._deadlines and (
                    self._deadlines[0][2].done.is_set()
                    or self._running.get(self._deadlines[0][2].query_id)
                    is not self._deadlines[0][2]
                ):
                    heapq.heappop(self._deadlines)
                due: list[RunningQuery] = []
                while self._deadlines and self._deadlines[0][0] <= now:
                    due.append(heapq.heappop(self._deadlines)[2])
                to_record: list[RunningQuery] = []
                while self._records and self._records[0][0] <= now:
                    entry = heapq.heappop(self._records)[2]
                    if not entry.done.is_set():
                        to_record.append(entry)
                while self._records and self._records[0][2].done.is_set():
                    heapq.heappop(self._records)
                entries = list(self._running.values())
            for entry in to_record:
                _recorder().submit(entry.record_running)
            for entry in due:
                entry.control.stop(entry.timeout())
            for entry in entries:
                entry.control.interrupt_again()  # no-op unless stopped
            if now - last_poll >= POLL_S:
                last_poll = now
                self._poll_cancels([e for e in entries if now - e.started >= POLL_S / 2])
            with self._cond:
                nxt = min(
                    self._deadlines[0][0] if self._deadlines else float("inf"),
                    self._records[0][0] if self._records else float("inf"),
                )
                self._wake_at = min(nxt, time.monotonic() + POLL_S)
                self._cond.wait(max(0.0, self._wake_at - time.monotonic()))

    @staticmethod
    def _poll_cancels(entries: list[RunningQuery]) -> None:
        by_store: dict[int, list[RunningQuery]] = {}
        for entry in entries:
            by_store.setdefault(id(entry.store), []).append(entry)
        for group in by_store.values():
            ids = {e.query_id: e for e in group}
            try:
                with group[0].store.read() as session:
                    rows = session.execute(
                        select(QueryExecutionRow.id, QueryExecutionRow.cancel_requested_by).where(
                            QueryExecutionRow.id.in_(list(ids)),
                            QueryExecutionRow.cancel_requested_by.is_not(None),
                        )
                    ).all()
            except Exception:  # a store hiccup must not kill the watchdog
                continue
            for query_id, by in rows:
                ids[query_id].control.stop(cancelled(query_id, by or "another principal"))


def cancelled(query_id: str, by: str) -> QueryCancelledError:
    """The error a cancelled query ends with."""
    return QueryCancelledError(f"query {query_id} was cancelled by {by}", cancelled_by=by)


_WATCHDOG = _Watchdog()
_RECORDER: ThreadPoolExecutor | None = None
_RECORDER_LOCK = threading.Lock()


def _recorder() -> ThreadPoolExecutor:
    """The thread that writes lazily recorded queries' RUNNING rows (never the watchdog's
    own: a write waiting for the store's lock must not delay a timeout)."""
    global _RECORDER
    with _RECORDER_LOCK:
        if _RECORDER is None:
            _RECORDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meshlake-record")
        return _RECORDER


def register(entry: RunningQuery) -> None:
    """Track a starting query (its deadline armed)."""
    _WATCHDOG.register(entry)


def unregister(entry: RunningQuery) -> None:
    """Forget a finished query (its execution row is final) and wake its waiters."""
    _WATCHDOG.unregister(entry)


def running(query_id: str) -> RunningQuery | None:
    """The query if it runs in this process."""
    return _WATCHDOG.get(query_id)


def unrecorded() -> list[RunningQuery]:
    """Queries running in this process whose rows are not written yet."""
    return _WATCHDOG.unrecorded()
