"""Governed queries as a service: executions, workgroups, limits, stored results, read audit.

``session.query(sql)`` runs the query through :func:`meshlake.query.service.run_query` under
its workgroup's limits, stores the result (a small one with the execution record, a larger one
as Parquet under the workgroup's result location), then records the outcome and writes one
audit event per table read (rule 27), in one short store transaction, before returning the
rows. The execution is visible as RUNNING while it runs: at once when its id was given (or it
was started with ``start``), otherwise once it has run for a quarter of a second (a query that
finishes sooner is recorded once, with its outcome; see :mod:`meshlake.service.executions`).
``start`` runs a query in the background (QUEUED, then RUNNING); ``cancel`` stops one from
any thread or process (:mod:`meshlake.service.executions`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from meshlake.catalog.models import QueryExecutionRow, WorkgroupRow
from meshlake.errors import (
    AccessDeniedError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    InvalidQueryError,
    MeshError,
    NotFoundError,
    QueryCancelledError,
    QueryTimeoutError,
    StorageError,
)
from meshlake.events import EventScope
from meshlake.ids import ROOT
from meshlake.query.control import QueryControl
from meshlake.query.results import QueryResult
from meshlake.query.service import QueryOutcome, TableRead, run_query
from meshlake.service import executions
from meshlake.service.governed import MeshQueryCatalog
from meshlake.service.workgroups import (
    DEFAULT_MAX_RUNTIME_S,
    DEFAULT_RETENTION,
    DEFAULT_WORKGROUP,
    Workgroup,
    WorkgroupsAPI,
)
from meshlake.storage.iceberg import local_path

__all__ = [
    "DEFAULT_MAX_RUNTIME_S",
    "DEFAULT_RETENTION",
    "DEFAULT_WORKGROUP",
    "QueryAPI",
    "QueryExecution",
    "Workgroup",
    "active_executions",
]

ABANDONED_GRACE_S = 120  # past max_runtime_s, an active execution's process is gone
INLINE_RESULT_BYTES = 4 << 20  # smaller result files are written by the query's own thread
STORED_INLINE_BYTES = 32 << 10  # results up to this size (Arrow IPC) stay in the record
RESULT_BATCH_ROWS = 65_536  # rows per batch when a stored result file is streamed
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
)
ACTIVE_STATES = (QUEUED, RUNNING)
_QUERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,35}$")
_EXECUTIONS = cast(Table, QueryExecutionRow.__table__)
_INSERT_EXECUTION = insert(_EXECUTIONS)
_FINISH_EXECUTION = update(_EXECUTIONS).where(_EXECUTIONS.c.id == bindparam("query_id"))
_FINISH_SUCCESS = _FINISH_EXECUTION.values(
    {
        c: bindparam(c)
        for c in (
            "sql",
            "state",
            "tables",
            "rows",
            "bytes",
            "bytes_scanned",
            "timings",
            "result_path",
            "result_inline",
            "finished_at",
            "expires_at",
        )
    }
)


@dataclass(frozen=True)
class QueryExecution:
    """One query as recorded."""

    query_id: str
    principal: str
    workgroup: str
    sql: str
    state: str
    error: str | None
    tables: list[dict[str, Any]]
    rows: int
    bytes: int
    timings: dict[str, Any]
    submitted_at: str
    finished_at: str | None
    expires_at: str | None
    result_path: str | None
    bytes_scanned: int = 0
    cancel_requested_by: str | None = None

    @property
    def done(self) -> bool:
        """Whether the query finished (no longer QUEUED or RUNNING)."""
        return self.state not in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


_RESULT_WRITER: ThreadPoolExecutor | None = None
_RESULT_WRITER_LOCK = threading.Lock()


def _result_writer() -> ThreadPoolExecutor:
    """The threads that write result files (Parquet encoding and I/O release the GIL)."""
    global _RESULT_WRITER
    with _RESULT_WRITER_LOCK:
        if _RESULT_WRITER is None:
            _RESULT_WRITER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="meshlake-result")
        return _RESULT_WRITER


_FOLDERS: set[str] = set()


def _result_folder(location: str) -> Path:
    """A result location's folder, created on first use (checked once per process)."""
    folder = Path(local_path(location))
    if location not in _FOLDERS or not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        _FOLDERS.add(location)
    return folder


_UPSERTS: dict[tuple[bool, tuple[str, ...]], Any] = {}


def _upsert(sqlite: bool, columns: tuple[str, ...]) -> Any:
    """INSERT of an execution row that, when the row exists, sets ``columns`` (none: keeps
    the row as it is). Built once per dialect and column set."""
    key = (sqlite, columns)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        from sqlalchemy.dialects import postgresql
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        ins = (sqlite_dialect.insert if sqlite else postgresql.insert)(_EXECUTIONS)
        if columns:
            stmt = ins.on_conflict_do_update(
                index_elements=[_EXECUTIONS.c.id], set_={c: ins.excluded[c] for c in columns}
            )
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=[_EXECUTIONS.c.id])
        _UPSERTS[key] = stmt
    return stmt


def _inline_result(result: QueryResult) -> bytes | None:
    """A small result as Arrow IPC stream bytes, to keep with its record (None: too large,
    it goes to a file)."""
    if result.nbytes > STORED_INLINE_BYTES:
        return None
    sink = pa.BufferOutputStream()
    table = result.to_arrow()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue()
    return data.to_pybytes() if data.size <= STORED_INLINE_BYTES else None


_QUERY_RUNNER: ThreadPoolExecutor | None = None
QUERY_RUNNER_THREADS = 4


def _query_runner() -> ThreadPoolExecutor:
    """The threads that run queries started with :meth:`QueryAPI.start`."""
    global _QUERY_RUNNER
    with _RESULT_WRITER_LOCK:
        if _QUERY_RUNNER is None:
            _QUERY_RUNNER = ThreadPoolExecutor(
                max_workers=QUERY_RUNNER_THREADS, thread_name_prefix="meshlake-query"
            )
        return _QUERY_RUNNER


def _execution(row: QueryExecutionRow) -> QueryExecution:
    def iso(t: datetime | None) -> str | None:
        return None if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()

    return QueryExecution(
        row.id,
        row.principal,
        row.workgroup,
        row.sql,
        row.state,
        row.error,
        list(row.tables or []),
        row.rows,
        row.bytes,
        dict(row.timings or {}),
        iso(row.submitted_at) or "",
        iso(row.finished_at),
        iso(row.expires_at),
        row.result_path,
        row.bytes_scanned or 0,
        row.cancel_requested_by,
    )


def _table_reads(reads: tuple[TableRead, ...]) -> list[dict[str, Any]]:
    return [
        {
            "table": r.ref.qualified,
            "account": r.ref.account,
            "link": r.link,
            "columns": list(r.columns),
            "filters": list(r.filters),
            "snapshot_id": r.snapshot_id,
            "time_travel": r.time_travel,
        }
        for r in reads
    ]


class QueryAPI(WorkgroupsAPI):
    """Run governed SQL and manage what it leaves behind (and the account's workgroups:
    :class:`~meshlake.service.workgroups.WorkgroupsAPI`)."""

    # ------------------------------------------------------------ running
    def _begin(
        self, sql: object, workgroup: str | None, query_id: str | None, state: str
    ) -> tuple[str, Workgroup, executions.RunningQuery]:
        """Check the request, record the execution (QUEUED or RUNNING) and track it.

        A RUNNING query without a caller-given id is recorded lazily (see the module's text).
        """
        # time travel is recorded up front: the lifecycle must see which snapshot it reads
        lazy = state == RUNNING and query_id is None and "AS OF" not in str(sql).upper()
        if not isinstance(sql, str):
            raise InvalidQueryError(f"the query must be SQL text, not {type(sql).__name__}")
        if self.principal == ROOT:
            raise AccessDeniedError("the mesh root reads no data: act as a principal")
        if query_id is not None and (
            not isinstance(query_id, str) or not _QUERY_ID.match(query_id)
        ):
            raise InvalidInputError(
                "query_id must be 1-36 letters, digits, '-' or '_' (a UUID fits)"
            )
        wg = self.workgroup(workgroup)
        query_id = query_id or str(uuid.uuid4())
        submitted = datetime.now(UTC)
        entry = executions.RunningQuery(
            query_id,
            QueryControl(),
            self.rt.store,
            time.monotonic() + wg.max_runtime_s,
            lambda: QueryTimeoutError(
                f"query {query_id} ran longer than its workgroup's limit of "
                f"{wg.max_runtime_s} s (max_runtime_s) and was stopped: make it cheaper, "
                f"or ask an admin to raise the limit of workgroup {wg.name}",
                limit="max_runtime_s",
            ),
        )
        if executions.running(query_id) is not None:
            raise ConflictError(f"query {query_id} is already running: give a new query_id")
        values: dict[str, Any] = {
            "id": query_id,
            "principal": self.principal,
            "account": self.account,
            "workgroup": wg.name,
            "sql": sql,
            "state": state,
            "error": None,
            "tables": [],
            "rows": 0,
            "bytes": 0,
            "bytes_scanned": 0,
            "timings": {},
            "result_path": None,
            "submitted_at": submitted,
            "finished_at": None,
            "expires_at": None,
        }
        if lazy:  # nobody can name it yet: its row is written with the outcome, or later
            entry.pending, entry.record = values, self._record_running
        else:
            self._insert_execution(values)
        executions.register(entry)
        return query_id, wg, entry

    def _insert_execution(self, values: dict[str, Any]) -> None:
        """Record an execution in its own transaction (QUEUED or RUNNING)."""
        try:
            with self.rt.store.transaction(bump=False) as session:
                session.connection().execute(_INSERT_EXECUTION, values)
        except IntegrityError as exc:
            raise ConflictError(f"query {values['id']} exists: give a new query_id") from exc

    def _record_running(self, values: dict[str, Any]) -> None:
        """The RUNNING row of a lazily recorded query, unless its outcome is there already."""
        with self.rt.store.transaction(bump=False) as session:
            session.connection().execute(_upsert(self.rt.store.is_sqlite, ()), values)

    def _write_outcome(
        self, session: Any, entry: executions.RunningQuery, values: dict[str, Any]
    ) -> None:
        """Write a query's outcome: update its row when it was recorded up front, else
        upsert the whole row (a lazily recorded query's RUNNING row may or may not exist;
        the background write of that row never overwrites an outcome)."""
        conn = session.connection()
        if entry.finishing():
            stmt = _FINISH_SUCCESS if values.get("state") == SUCCEEDED else None
            if stmt is not None:
                conn.execute(stmt, {"query_id": entry.query_id, **values})
            else:
                conn.execute(_FINISH_EXECUTION.values(**values), {"query_id": entry.query_id})
        else:  # lazily recorded: its RUNNING row may or may not have been written
            assert entry.pending is not None
            stmt = _upsert(self.rt.store.is_sqlite, tuple(sorted(values)))
            conn.execute(stmt, {**entry.pending, **values})

    def run(
        self,
        sql: str,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        service: str = "query",
        query_id: str | None = None,
        job_id: str | None = None,
    ) -> QueryResult:
        """Run one governed SELECT; record it; store its result; audit every table read.

        The execution is recorded as RUNNING before the query starts, so another thread or
        process can see it (:meth:`get`) and stop it (:meth:`cancel`) by its id: pass
        ``query_id`` to know the id beforehand, or use :meth:`start`.

        Args:
            sql: one SELECT.
            database: the default database.
            workgroup: whose limits apply and where the result goes (default ``primary``).
            service: recorded in the read audit events (``query``, ``processing``,
                ``training``; rule 27).
            query_id: the id to record the execution under (default: a new UUID).
            job_id: the processing or training job the read is made for (audited).

        Raises:
            InvalidQueryError, NotFoundError, AccessDeniedError: see the query layer.
            QueryLimitError: refused by the workgroup's ``max_bytes_scanned``.
            QueryTimeoutError: ran longer than the workgroup's ``max_runtime_s``.
            QueryCancelledError: stopped by :meth:`cancel`.
            ConflictError: ``query_id`` is taken.
        """
        query_id, wg, entry = self._begin(sql, workgroup, query_id, RUNNING)
        try:
            return self._execute(entry, wg, sql, database, service, job_id=job_id)
        finally:
            executions.unregister(entry)

    def start(
        self,
        sql: str,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        query_id: str | None = None,
    ) -> QueryExecution:
        """Start a query in the background (Athena's StartQueryExecution).

        Returns at once with the execution recorded as QUEUED; follow it with :meth:`get`
        or :meth:`wait`, stop it with :meth:`cancel`, read its rows with :meth:`result`.

        Raises:
            InvalidQueryError: not SQL text. AccessDeniedError: the mesh root.
            NotFoundError: no such workgroup. ConflictError: ``query_id`` is taken.
        """
        query_id, wg, entry = self._begin(sql, workgroup, query_id, QUEUED)

        def work() -> None:
            try:
                self._execute(entry, wg, sql, database, "query", queued=True)
            except MeshError:
                pass  # recorded in the execution
            finally:
                executions.unregister(entry)

        try:
            _query_runner().submit(work)
        except BaseException:
            executions.unregister(entry)
            raise
        return self.get(query_id)

    def _execute(
        self,
        entry: executions.RunningQuery,
        wg: Workgroup,
        sql: str,
        database: str | None,
        service: str,
        job_id: str | None = None,
        *,
        queued: bool = False,
    ) -> QueryResult:
        query_id, control = entry.query_id, entry.control
        catalog = MeshQueryCatalog(self.rt, self.principal)
        try:
            control.check()  # cancelled while queued
            if queued:
                with self.rt.store.transaction(bump=False) as session:
                    session.connection().execute(
                        _FINISH_EXECUTION.values(state=RUNNING), {"query_id": query_id}
                    )
            outcome = run_query(catalog, sql, database=database, limits=wg.limits, control=control)
        except MeshError as exc:
            self._record_failure(entry, exc, service, job_id=job_id)
            raise
        except BaseException as exc:
            failure = StorageError(f"the query failed unexpectedly: {type(exc).__name__}")
            with contextlib.suppress(Exception):
                self._record_failure(entry, failure, service, job_id=job_id)
            raise
        assert outcome.result is not None
        result = outcome.result
        # A small result stays with the record (no file); a larger one becomes a Parquet
        # file, written here when it is small enough that a thread's hand-off costs more
        # than the write, else by another thread while the record and audit events are
        # prepared. Either way the record commits only once the result is complete.
        inline = _inline_result(result)
        path: Path | None = None
        if inline is None:
            path = _result_folder(wg.result_location) / f"{query_id}.parquet"
            written = self._write_result(result, path)
        else:
            written = Future()
            written.set_result(None)
        if not control.finish():  # stopped after the engine finished: the stop wins
            with contextlib.suppress(Exception):
                written.result()
            if path is not None:
                path.unlink(missing_ok=True)
            error = control.error
            assert error is not None
            self._record_failure(entry, error, service, job_id=job_id)
            raise error
        try:
            self._record_success(
                entry,
                wg,
                outcome,
                None if path is None else str(path),
                inline,
                service,
                written,
                job_id=job_id,
            )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                written.result()
            if path is not None:
                path.unlink(missing_ok=True)
            if isinstance(exc, MeshError):
                with contextlib.suppress(Exception):
                    self._record_failure(entry, exc, service, job_id=job_id)
            raise
        result.query_id = query_id
        return result

    @staticmethod
    def _write_result(result: QueryResult, path: Path) -> Future[None]:
        """Write a small result here (a thread's hand-off costs more than the write), a large
        one on another thread while the record is prepared; the future says when it is done."""
        if result.nbytes > INLINE_RESULT_BYTES:
            return _result_writer().submit(pq.write_table, result.to_arrow(), path)
        written: Future[None] = Future()
        try:
            pq.write_table(result.to_arrow(), path)
            written.set_result(None)
        except Exception as exc:
            written.set_exception(exc)
        return written

    def _record_failure(
        self,
        entry: executions.RunningQuery,
        exc: MeshError,
        service: str,
        job_id: str | None = None,
    ) -> None:
        """Record a failed, refused, timed-out or cancelled query.

        A query stopped while the engine ran (cancel, timeout) read data: one read audit
        event per table it read, with ``rows`` 0 (rule 27).
        """
        query_id, control = entry.query_id, entry.control
        control.finish()
        state = CANCELLED if isinstance(exc, QueryCancelledError) else FAILED
        stopped = isinstance(exc, QueryCancelledError | QueryTimeoutError)
        reads = control.reads
        with self.rt.store.transaction(bump=False) as session:
            self._write_outcome(
                session,
                entry,
                {
                    "state": state,
                    "error": f"{exc.kind}: {exc.message}",
                    "tables": _table_reads(reads),
                    "bytes_scanned": control.bytes_scanned,
                    "finished_at": datetime.now(UTC),
                },
            )
            if stopped and control.executing:
                self._audit_reads(session, query_id, reads, 0, service, state, job_id=job_id)
            self.emit(
                "query.failed",
                f"/queries/{self.account}",
                f"query:{query_id}",
                {
                    "query_id": query_id,
                    "state": state,
                    "error": {"type": exc.kind, "message": exc.message},
                    "tables": [r.ref.qualified for r in reads],
                    "service": service,
                    "job_id": job_id,
                },
                EventScope(accounts=(self.account,)),
            )

    def _audit_reads(
        self,
        session: Any,
        query_id: str,
        reads: tuple[TableRead, ...],
        rows: int,
        service: str,
        state: str,
        job_id: str | None = None,
    ) -> None:
        for r in reads:
            data = {
                "account": self.account,
                "table": r.ref.qualified,
                "owner_account": r.ref.account,
                "link": r.link,
                "columns": list(r.columns),
                "filters": list(r.filters),
                "query_id": query_id,
                "snapshot_id": r.snapshot_id,
                "rows": rows,
                "service": service,
                **({"job_id": job_id} if job_id else {}),
            }
            if state != SUCCEEDED:
                data["state"] = state
            self.rt.audit.append(
                session,
                category="read",
                principal=self.principal,
                action="SELECT",
                resource=f"table:{r.ref.account}.{r.ref.qualified}",
                accounts=[self.account, r.ref.account],
                data=data,
            )

    def _record_success(
        self,
        entry: executions.RunningQuery,
        wg: Workgroup,
        outcome: QueryOutcome,
        path: str | None,
        inline: bytes | None,
        service: str,
        written: Future[None],
        job_id: str | None = None,
    ) -> None:
        query_id = entry.query_id
        finished = datetime.now(UTC)
        tables = _table_reads(outcome.tables)
        t = outcome.timings
        values = {
            "sql": outcome.sql,
            "state": SUCCEEDED,
            "tables": tables,
            "rows": outcome.rows or 0,
            "bytes": outcome.bytes or 0,
            "bytes_scanned": outcome.bytes_scanned,
            "timings": {
                "parse_ms": t.parse_ms,
                "plan_ms": t.plan_ms,
                "execute_ms": t.execute_ms,
                "total_ms": t.total_ms,
            },
            "result_path": path,
            "result_inline": inline,
            "finished_at": finished,
            "expires_at": finished + timedelta(seconds=wg.retention_seconds),
        }
        with self.rt.store.transaction(bump=False) as session:
            self._write_outcome(session, entry, values)
            self._audit_reads(
                session,
                query_id,
                outcome.tables,
                outcome.rows or 0,
                service,
                SUCCEEDED,
                job_id=job_id,
            )
            try:
                written.result()  # commit only a record whose result file exists
            except Exception as exc:
                raise StorageError(
                    f"could not store the result of query {query_id} under "
                    f"{wg.result_location}: {exc}; check that the workgroup's result location "
                    "is writable and has room, then run the query again"
                ) from exc

    # ------------------------------------------------------------ control
    def wait(self, query_id: str, timeout: float | None = None) -> QueryExecution:
        """Wait until a query finishes (or ``timeout`` seconds pass); returns its execution.

        After a timeout the execution returned may still be QUEUED or RUNNING.

        Raises:
            NotFoundError: no such query visible to the caller.
        """
        ex = self.get(query_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        while not ex.done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            entry = executions.running(query_id)
            if entry is not None:  # runs in this process: wake when it finishes
                entry.done.wait(left)
            else:  # another process runs it: poll its row
                time.sleep(delay if left is None else min(delay, left))
                delay = min(delay * 2, 0.5)
            ex = self.get(query_id)
        return ex

    def cancel(self, query_id: str) -> QueryExecution:
        """Stop a QUEUED or RUNNING query (Athena's StopQueryExecution).

        The query ends CANCELLED, with no result file and a read audit event (``rows`` 0)
        per table it had started reading. A query that already finished is left as it is.
        A query running in this process is interrupted at once; one running in another
        process within about a second. Follow it with :meth:`wait`.

        Who may cancel: the query's principal, admins of its account, the mesh root.

        Returns:
            The execution as recorded now (see :meth:`wait` for its final state).

        Raises:
            NotFoundError: no such query, or one of another account the caller cannot see.
            AccessDeniedError: a query of the caller's account it may not cancel.
        """
        row = self._row(query_id)
        if row is None or not self._visible(row):
            if row is not None and row.account == self.account:
                raise AccessDeniedError(
                    f"only {row.principal} or an admin of {row.account} may cancel query {query_id}"
                )
            raise NotFoundError(f"query {query_id} not found")
        if row.state in ACTIVE_STATES:
            with self.change("cancel_query", f"query:{query_id}", [row.account], bump=False) as (
                session,
                record,
            ):
                done = session.connection().execute(
                    update(_EXECUTIONS)
                    .where(
                        _EXECUTIONS.c.id == query_id,
                        _EXECUTIONS.c.state.in_(ACTIVE_STATES),
                        _EXECUTIONS.c.cancel_requested_by.is_(None),
                    )
                    .values(cancel_requested_by=self.principal)
                )
                record["after"] = {"principal": row.principal, "requested": done.rowcount > 0}
            entry = executions.running(query_id)
            if entry is not None:
                entry.control.stop(executions.cancelled(query_id, self.principal))
        return self.get(query_id)

    # ------------------------------------------------------------ history
    def _visible(self, row: QueryExecutionRow) -> bool:
        return (
            row.principal == self.principal
            or self.principal == ROOT
            or self.state().is_admin(self.principal, row.account)
        )

    def _row(self, query_id: str) -> QueryExecutionRow | None:
        """The execution's row; for a query running in this process that is not recorded
        yet, its pending row (never added to a session)."""
        with self.rt.store.read() as session:
            row = session.get(QueryExecutionRow, query_id)
        if row is None:
            entry = executions.running(query_id)
            pending = None if entry is None else entry.pending
            if pending is not None:
                row = QueryExecutionRow(**pending)
        return row

    def get(self, query_id: str) -> QueryExecution:
        """One execution: the caller's own, or any of an account it administers."""
        row = self._row(query_id)
        if row is None or not self._visible(row):
            raise NotFoundError(f"query {query_id} not found")
        return _execution(row)

    def list(self, *, limit: int = 100, principal: str | None = None) -> list[QueryExecution]:
        """Executions the caller may see, newest first."""
        stmt = select(QueryExecutionRow).order_by(QueryExecutionRow.submitted_at.desc())
        if principal:
            stmt = stmt.where(QueryExecutionRow.principal == principal)
        out: list[QueryExecution] = []
        for entry in executions.unrecorded():  # running here, not recorded yet: the newest
            pending = QueryExecutionRow(**(entry.pending or {}))
            if (principal is None or pending.principal == principal) and self._visible(pending):
                out.append(_execution(pending))
        out.sort(key=lambda ex: ex.submitted_at, reverse=True)
        del out[limit:]
        seen = {ex.query_id for ex in out}  # one may have been recorded meanwhile
        with self.rt.store.read() as session:
            for row in session.scalars(stmt):
                if len(out) >= limit:
                    break
                if row.id not in seen and self._visible(row):
                    out.append(_execution(row))
        return out

    def result(self, query_id: str) -> QueryResult:
        """A stored result; ``ExpiredError`` once its retention has passed."""
        return QueryResult(self.result_reader(query_id).read_all(), query_id=query_id)

    def result_reader(self, query_id: str) -> pa.RecordBatchReader:
        """A stored result as a stream of record batches: a result file is read batch by
        batch (never the whole result in memory); the same checks as :meth:`result`."""
        source = self._result_source(query_id)
        if isinstance(source, bytes):  # a small result kept with the record
            return ipc.open_stream(source)
        parquet = pq.ParquetFile(source)
        return pa.RecordBatchReader.from_batches(
            parquet.schema_arrow, parquet.iter_batches(batch_size=RESULT_BATCH_ROWS)
        )

    def _result_source(self, query_id: str) -> bytes | str:
        """The stored result's Arrow IPC bytes (kept with the record) or its file's path.

        Raises:
            NotFoundError: no such query visible to the caller, or no result.
            ExpiredError: the result is past its retention.
        """
        ex = self.get(query_id)
        if ex.state == "EXPIRED":
            raise ExpiredError(
                f"the result of query {query_id} expired and was deleted: run the query again"
            )
        if ex.state != "SUCCEEDED":
            raise NotFoundError(f"query {query_id} has no result ({ex.state})")
        expired = ExpiredError(
            f"the result of query {query_id} expired (workgroup {ex.workgroup} keeps results "
            "for a limited time): run the query again"
        )
        expires = datetime.fromisoformat(ex.expires_at) if ex.expires_at else None
        if expires is not None and expires <= datetime.now(UTC):
            raise expired
        if ex.result_path is None:  # kept with the record
            with self.rt.store.read() as session:
                data = session.execute(
                    select(_EXECUTIONS.c.result_inline).where(_EXECUTIONS.c.id == query_id)
                ).scalar_one_or_none()
            if data is None:
                raise expired
            return bytes(data)
        if not Path(ex.result_path).exists():
            raise expired
        return ex.result_path

    def sweep(self, now: datetime | None = None) -> int:
        """Delete stored results past their retention (the lifecycle's results rule, as the
        mesh root: audited), and end the executions whose process is gone
        (:meth:`end_abandoned`); returns the number of results deleted."""
        from meshlake.service.lifecycle import LifecycleAPI

        now = now or datetime.now(UTC)
        self.end_abandoned(now)
        expired, _ = LifecycleAPI(self.rt, ROOT).expire_results(now=now)
        return len(expired)

    def end_abandoned(self, now: datetime | None = None) -> int:
        """Mark FAILED the QUEUED or RUNNING executions that cannot still be running
        (:func:`active_executions`; queries running in this process are never touched).
        Returns how many were ended."""
        now = now or datetime.now(UTC)
        ended = 0
        with self.rt.store.transaction(bump=False) as session:
            for row, alive in active_executions(session, now):
                if alive or executions.running(row.id) is not None:
                    continue
                row.state = FAILED
                row.error = (
                    "abandoned: the process running the query ended before it finished; "
                    "run the query again"
                )
                row.finished_at = now
                ended += 1
        return ended


def active_executions(session: Any, now: datetime) -> Iterator[tuple[QueryExecutionRow, bool]]:
    """The QUEUED and RUNNING executions, each with whether it may still be running.

    Every query is stopped by its workgroup's ``max_runtime_s`` counted from its submission,
    so a row still active ``ABANDONED_GRACE_S`` after that was left by a process that ended
    (killed, crashed) before recording its outcome.
    """
    limits = {(w.account, w.name): w.max_runtime_s for w in session.scalars(select(WorkgroupRow))}
    rows = session.scalars(
        select(QueryExecutionRow).where(QueryExecutionRow.state.in_(ACTIVE_STATES))
    ).all()
    for row in rows:
        limit = limits.get((row.account, row.workgroup), DEFAULT_MAX_RUNTIME_S)
        submitted = row.submitted_at
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=UTC)
        yield row, now < submitted + timedelta(seconds=limit + ABANDONED_GRACE_S)
