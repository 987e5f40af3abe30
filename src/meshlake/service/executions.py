"""Queries running in this process: their stop switches, deadlines and cancel requests.

Every running query registers its :class:`~meshlake.query.control.QueryControl` here, so a
``queries.cancel`` from another thread stops it at once. One daemon thread (the watchdog)
stops queries past their workgroup's ``max_runtime_s`` and, about once a second, asks the
store whether another process asked to cancel one of this process's queries (the
``cancel_requested_by`` column of its execution row).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from meshlake.catalog.models import QueryExecutionRow
from meshlake.catalog.store import CatalogStore
from meshlake.errors import MeshError, QueryCancelledError
from meshlake.query.control import QueryControl

__all__ = ["RunningQuery", "register", "running", "unregister"]

POLL_S = 1.0  # how often the store is asked for other processes' cancel requests


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


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running: dict[str, RunningQuery] = {}
        self._deadlines: list[tuple[float, int, RunningQuery]] = []
        self._seq = 0
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None

    def register(self, entry: RunningQuery) -> None:
        with self._cond:
            self._running[entry.query_id] = entry
            self._seq += 1
            heapq.heappush(self._deadlines, (entry.deadline, self._seq, entry))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="meshlake-query-watchdog", daemon=True
                )
                self._thread.start()
            elif entry.deadline < self._wake_at:
                self._cond.notify()

    def unregister(self, entry: RunningQuery) -> None:
        with self._cond:
            if self._running.get(entry.query_id) is entry:
                del self._running[entry.query_id]
        entry.done.set()

    def get(self, query_id: str) -> RunningQuery | None:
        with self._cond:
            return self._running.get(query_id)

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
                entries = list(self._running.values())
            for entry in due:
                entry.control.stop(entry.timeout())
            for entry in entries:
                entry.control.interrupt_again()  # no-op unless stopped
            if now - last_poll >= POLL_S:
                last_poll = now
                self._poll_cancels([e for e in entries if now - e.started >= POLL_S / 2])
            with self._cond:
                nxt = self._deadlines[0][0] if self._deadlines else float("inf")
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


def register(entry: RunningQuery) -> None:
    """Track a starting query (its deadline armed)."""
    _WATCHDOG.register(entry)


def unregister(entry: RunningQuery) -> None:
    """Forget a finished query (its execution row is final) and wake its waiters."""
    _WATCHDOG.unregister(entry)


def running(query_id: str) -> RunningQuery | None:
    """The query if it runs in this process."""
    return _WATCHDOG.get(query_id)
