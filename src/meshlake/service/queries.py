"""Governed queries as a service: executions, workgroups, limits, stored results, read audit.

``session.query(sql)`` records the execution as RUNNING, runs the query through
:func:`meshlake.query.service.run_query` under its workgroup's limits, stores the result as
Parquet under the workgroup's result location, then records the outcome and writes one audit
event per table read (rule 27), in one short store transaction, before returning the rows.
``start`` runs a query in the background (QUEUED, then RUNNING); ``cancel`` stops one from
any thread or process (:mod:`meshlake.service.executions`).
"""

from __future__ import annotations

import builtins
import contextlib
import re
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
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
from meshlake.ids import ROOT, check_name
from meshlake.query.control import QueryControl, QueryLimits
from meshlake.query.results import QueryResult
from meshlake.query.service import QueryOutcome, TableRead, run_query
from meshlake.service import executions
from meshlake.service.governed import MeshQueryCatalog
from meshlake.service.runtime import ServiceBase
from meshlake.storage.iceberg import local_path

__all__ = [
    "DEFAULT_MAX_RUNTIME_S",
    "DEFAULT_RETENTION",
    "DEFAULT_WORKGROUP",
    "QueryAPI",
    "QueryExecution",
    "Workgroup",
]

DEFAULT_WORKGROUP = "primary"
DEFAULT_RETENTION = timedelta(days=7)
WORKGROUP_CACHE = "query.workgroups"
WORKGROUP_TTL = 5.0  # seconds a looked-up workgroup is reused
DEFAULT_MAX_RUNTIME_S = 300
MAX_RUNTIME_CAP_S = 7 * 86_400
RESULT_BATCH_ROWS = 65_536  # rows per batch when a stored result is streamed
INLINE_RESULT_BYTES = 4 << 20  # smaller results are written by the query's own thread
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
)
ACTIVE_STATES = (QUEUED, RUNNING)
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
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
            "finished_at",
            "expires_at",
        )
    }
)
_UNSET: Any = object()


@dataclass(frozen=True)
class Workgroup:
    """Where a workgroup's results go, how long they stay, and its queries' limits.

    Attributes:
        max_runtime_s: a query running longer is stopped (FAILED, ``QueryTimeoutError``).
        memory_limit: the engine's memory limit per query (DuckDB spelling, e.g. ``"2GB"``;
            None: the engine's default).
        max_bytes_scanned: a query whose planned files are larger is refused before it runs
            (None: no limit).
    """

    name: str
    account: str
    result_location: str
    retention_seconds: int
    max_runtime_s: int = DEFAULT_MAX_RUNTIME_S
    memory_limit: str | None = None
    max_bytes_scanned: int | None = None

    @property
    def limits(self) -> QueryLimits:
        """The engine-side limits of the workgroup's queries."""
        return QueryLimits(self.max_bytes_scanned, self.memory_limit)


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


def _workgroup(row: WorkgroupRow) -> Workgroup:
    return Workgroup(
        row.name,
        row.account,
        row.result_location,
        row.retention_seconds,
        row.max_runtime_s,
        row.memory_limit,
        row.max_bytes_scanned,
    )


def _check_limits(
    max_runtime_s: int | None, memory_limit: str | None, max_bytes_scanned: int | None
) -> None:
    if max_runtime_s is not None and (
        isinstance(max_runtime_s, bool)
        or not isinstance(max_runtime_s, int)
        or not 0 < max_runtime_s <= MAX_RUNTIME_CAP_S
    ):
        raise InvalidInputError(
            f"max_runtime_s must be a whole number of seconds from 1 to {MAX_RUNTIME_CAP_S}"
        )
    if memory_limit is not None and (
        not isinstance(memory_limit, str) or not _MEMORY.match(memory_limit)
    ):
        raise InvalidInputError(
            f"memory_limit {memory_limit!r} is not a size: write e.g. '512MB' or '2GB'"
        )
    if max_bytes_scanned is not None and (
        isinstance(max_bytes_scanned, bool)
        or not isinstance(max_bytes_scanned, int)
        or max_bytes_scanned <= 0
    ):
        raise InvalidInputError("max_bytes_scanned must be a positive number of bytes")


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


class QueryAPI(ServiceBase):
    """Run governed SQL and manage what it leaves behind."""

    # ------------------------------------------------------------ workgroups
    def _default_location(self, name: str) -> str:
        return (self.rt.settings.results_dir / self.account / name).as_uri()

    def workgroup(self, name: str | None = None) -> Workgroup:
        """A workgroup of the caller's account (``primary`` always exists).

        Looked up on every query, so found workgroups are kept for a few seconds.
        """
        name = name or DEFAULT_WORKGROUP
        cache: dict[tuple[str, str], tuple[float, Workgroup]] = self.rt.extras.setdefault(
            WORKGROUP_CACHE, {}
        )
        hit = cache.get((self.account, name))
        if hit is not None and time.monotonic() - hit[0] < WORKGROUP_TTL:
            return hit[1]
        found = self._load_workgroup(name)
        cache[(self.account, name)] = (time.monotonic(), found)
        return found

    def list_workgroups(self) -> builtins.list[Workgroup]:
        """The workgroups of the caller's account, by name (``primary`` always among them)."""
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(WorkgroupRow)
                .where(WorkgroupRow.account == self.account)
                .order_by(WorkgroupRow.name)
            ).all()
        found = {r.name: _workgroup(r) for r in rows}
        if DEFAULT_WORKGROUP not in found:
            found[DEFAULT_WORKGROUP] = self._load_workgroup(DEFAULT_WORKGROUP)
        return [found[name] for name in sorted(found)]

    def _load_workgroup(self, name: str) -> Workgroup:
        with self.rt.store.read() as session:
            row = session.scalars(
                select(WorkgroupRow).where(
                    WorkgroupRow.account == self.account, WorkgroupRow.name == name
                )
            ).first()
        if row is not None:
            return _workgroup(row)
        if name == DEFAULT_WORKGROUP:
            return Workgroup(
                name,
                self.account,
                self._default_location(name),
                int(DEFAULT_RETENTION.total_seconds()),
            )
        raise NotFoundError(f"workgroup {name} not found in account {self.account}")

    def create_workgroup(
        self,
        name: str,
        *,
        result_location: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        max_runtime_s: int = DEFAULT_MAX_RUNTIME_S,
        memory_limit: str | None = None,
        max_bytes_scanned: int | None = None,
    ) -> Workgroup:
        """Create a workgroup (admins of the account).

        Args:
            name: the workgroup's name in the caller's account.
            result_location: where results are stored (default: under the mesh's results).
            retention: how long results are kept.
            max_runtime_s: queries running longer are stopped (FAILED, timeout).
            memory_limit: the engine's memory limit per query, e.g. ``"2GB"``.
            max_bytes_scanned: queries whose planned files are larger are refused.

        Raises:
            AccessDeniedError: not an admin of the account.
            InvalidInputError: a bad location, retention or limit.
            ConflictError: the workgroup exists.
        """
        check_name("workgroup", name)
        if retention.total_seconds() <= 0:
            raise InvalidInputError("retention must be positive")
        _check_limits(max_runtime_s, memory_limit, max_bytes_scanned)
        loc = (
            self.checked_location(result_location, "a workgroup result location")
            if result_location
            else self._default_location(name)
        )
        if not loc.startswith("file://"):
            raise InvalidInputError(
                f"result location {loc} is not a local folder: results are stored as local "
                "Parquet files in this version; give an absolute path or a file:// URI"
            )
        st = self.state()
        if not st.is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may create workgroups")
        with self.rt.store.read() as session:
            exists = session.scalars(
                select(WorkgroupRow.id).where(
                    WorkgroupRow.account == self.account, WorkgroupRow.name == name
                )
            ).first()
        if exists is not None:
            raise ConflictError(f"workgroup {name} already exists")
        wg = Workgroup(
            name,
            self.account,
            loc,
            int(retention.total_seconds()),
            max_runtime_s,
            memory_limit,
            max_bytes_scanned,
        )
        after = asdict(wg)
        with self.change(
            "create_workgroup",
            f"workgroup:{self.account}.{name}",
            [self.account],
            after=after,
            bump=False,
        ) as (session, _):
            session.add(self._new_row(wg))
        self.rt.extras.get(WORKGROUP_CACHE, {}).pop((self.account, name), None)
        return wg

    def _new_row(self, wg: Workgroup) -> WorkgroupRow:
        return WorkgroupRow(
            account=wg.account,
            name=wg.name,
            result_location=wg.result_location,
            retention_seconds=wg.retention_seconds,
            max_runtime_s=wg.max_runtime_s,
            memory_limit=wg.memory_limit,
            max_bytes_scanned=wg.max_bytes_scanned,
            created_by=self.principal,
            created_at=datetime.now(UTC),
        )

    def update_workgroup(
        self,
        name: str,
        *,
        retention: timedelta | None = None,
        max_runtime_s: int | None = None,
        memory_limit: str | None = _UNSET,
        max_bytes_scanned: int | None = _UNSET,
    ) -> Workgroup:
        """Change a workgroup's retention or query limits (admins of the account).

        Arguments left out keep their value; ``memory_limit=None`` or
        ``max_bytes_scanned=None`` removes that limit. Queries already running keep the
        limits they started with.

        Raises:
            AccessDeniedError: not an admin of the account.
            NotFoundError: no such workgroup.
            InvalidInputError: a bad retention or limit.
        """
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may change workgroups")
        current = self._load_workgroup(name)
        if retention is not None and retention.total_seconds() <= 0:
            raise InvalidInputError("retention must be positive")
        changed = Workgroup(
            current.name,
            current.account,
            current.result_location,
            int(retention.total_seconds()) if retention is not None else current.retention_seconds,
            max_runtime_s if max_runtime_s is not None else current.max_runtime_s,
            current.memory_limit if memory_limit is _UNSET else memory_limit,
            current.max_bytes_scanned if max_bytes_scanned is _UNSET else max_bytes_scanned,
        )
        _check_limits(changed.max_runtime_s, changed.memory_limit, changed.max_bytes_scanned)
        with self.change(
            "update_workgroup",
            f"workgroup:{self.account}.{name}",
            [self.account],
            before=asdict(current),
            after=asdict(changed),
            bump=False,
        ) as (session, _):
            row = session.scalars(
                select(WorkgroupRow)
                .where(WorkgroupRow.account == self.account, WorkgroupRow.name == name)
                .with_for_update()
            ).first()
            if row is None:  # the default workgroup, never stored until now
                session.add(self._new_row(changed))
            else:
                row.retention_seconds = changed.retention_seconds
                row.max_runtime_s = changed.max_runtime_s
                row.memory_limit = changed.memory_limit
                row.max_bytes_scanned = changed.max_bytes_scanned
        self.rt.extras.get(WORKGROUP_CACHE, {}).pop((self.account, name), None)
        return changed

    # ------------------------------------------------------------ running
    def _begin(
        self, sql: object, workgroup: str | None, query_id: str | None, state: str
    ) -> tuple[str, Workgroup, datetime, executions.RunningQuery]:
        """Check the request, record the execution (QUEUED or RUNNING) and track it."""
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
        try:
            with self.rt.store.transaction(bump=False) as session:
                session.connection().execute(
                    _INSERT_EXECUTION,
                    {
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
                    },
                )
        except IntegrityError as exc:
            raise ConflictError(f"query {query_id} exists: give a new query_id") from exc
        executions.register(entry)
        return query_id, wg, submitted, entry

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
        query_id, wg, submitted, entry = self._begin(sql, workgroup, query_id, RUNNING)
        try:
            return self._execute(entry, wg, sql, database, submitted, service, job_id=job_id)
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
        query_id, wg, submitted, entry = self._begin(sql, workgroup, query_id, QUEUED)

        def work() -> None:
            try:
                self._execute(entry, wg, sql, database, submitted, "query", queued=True)
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
        submitted: datetime,
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
            self._record_failure(query_id, wg, submitted, exc, control, service, job_id=job_id)
            raise
        except BaseException as exc:
            failure = StorageError(f"the query failed unexpectedly: {type(exc).__name__}")
            with contextlib.suppress(Exception):
                self._record_failure(
                    query_id, wg, submitted, failure, control, service, job_id=job_id
                )
            raise
        assert outcome.result is not None
        result = outcome.result
        folder = _result_folder(wg.result_location)
        path = folder / f"{query_id}.parquet"
        # A small result is written here (a thread's hand-off costs more than the write);
        # a large one by another thread while the record and audit events are prepared.
        # Either way the record commits only once the file is complete.
        written = self._write_result(result, path)
        if not control.finish():  # stopped after the engine finished: the stop wins
            with contextlib.suppress(Exception):
                written.result()
            path.unlink(missing_ok=True)
            error = control.error
            assert error is not None
            self._record_failure(query_id, wg, submitted, error, control, service, job_id=job_id)
            raise error
        try:
            self._record_success(
                query_id, wg, outcome, submitted, str(path), service, written, job_id=job_id
            )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                written.result()
            path.unlink(missing_ok=True)
            if isinstance(exc, MeshError):
                with contextlib.suppress(Exception):
                    self._record_failure(
                        query_id, wg, submitted, exc, control, service, job_id=job_id
                    )
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
        query_id: str,
        wg: Workgroup,
        submitted: datetime,
        exc: MeshError,
        control: QueryControl,
        service: str,
        job_id: str | None = None,
    ) -> None:
        """Record a failed, refused, timed-out or cancelled query.

        A query stopped while the engine ran (cancel, timeout) read data: one read audit
        event per table it read, with ``rows`` 0 (rule 27).
        """
        control.finish()
        state = CANCELLED if isinstance(exc, QueryCancelledError) else FAILED
        stopped = isinstance(exc, QueryCancelledError | QueryTimeoutError)
        reads = control.reads
        with self.rt.store.transaction(bump=False) as session:
            session.connection().execute(
                _FINISH_EXECUTION.values(
                    state=state,
                    error=f"{exc.kind}: {exc.message}",
                    tables=_table_reads(reads),
                    bytes_scanned=control.bytes_scanned,
                    finished_at=datetime.now(UTC),
                ),
                {"query_id": query_id},
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
        query_id: str,
        wg: Workgroup,
        outcome: QueryOutcome,
        submitted: datetime,
        path: str,
        service: str,
        written: Future[None],
        job_id: str | None = None,
    ) -> None:
        finished = datetime.now(UTC)
        tables = _table_reads(outcome.tables)
        t = outcome.timings
        values = {
            "query_id": query_id,
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
            "finished_at": finished,
            "expires_at": finished + timedelta(seconds=wg.retention_seconds),
        }
        with self.rt.store.transaction(bump=False) as session:
            session.connection().execute(_FINISH_SUCCESS, values)  # prebuilt: every query
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
        with self.rt.store.read() as session:
            row = session.get(QueryExecutionRow, query_id)
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

    def get(self, query_id: str) -> QueryExecution:
        """One execution: the caller's own, or any of an account it administers."""
        with self.rt.store.read() as session:
            row = session.get(QueryExecutionRow, query_id)
        if row is None or not self._visible(row):
            raise NotFoundError(f"query {query_id} not found")
        return _execution(row)

    def list(self, *, limit: int = 100, principal: str | None = None) -> list[QueryExecution]:
        """Executions the caller may see, newest first."""
        stmt = select(QueryExecutionRow).order_by(QueryExecutionRow.submitted_at.desc())
        if principal:
            stmt = stmt.where(QueryExecutionRow.principal == principal)
        out: list[QueryExecution] = []
        with self.rt.store.read() as session:
            for row in session.scalars(stmt):
                if self._visible(row):
                    out.append(_execution(row))
                    if len(out) >= limit:
                        break
        return out

    def result(self, query_id: str) -> QueryResult:
        """A stored result; ``ExpiredError`` once its retention has passed."""
        return QueryResult(pq.read_table(self._result_file(query_id)), query_id=query_id)

    def result_reader(self, query_id: str) -> pa.RecordBatchReader:
        """A stored result as a stream of record batches, read from its file batch by batch
        (never the whole result in memory); the same checks as :meth:`result`."""
        parquet = pq.ParquetFile(self._result_file(query_id))
        return pa.RecordBatchReader.from_batches(
            parquet.schema_arrow, parquet.iter_batches(batch_size=RESULT_BATCH_ROWS)
        )

    def _result_file(self, query_id: str) -> str:
        ex = self.get(query_id)
        if ex.state == "EXPIRED":
            raise ExpiredError(
                f"the result of query {query_id} expired and was deleted: run the query again"
            )
        if ex.state != "SUCCEEDED" or ex.result_path is None:
            raise NotFoundError(f"query {query_id} has no result ({ex.state})")
        expires = datetime.fromisoformat(ex.expires_at) if ex.expires_at else None
        if (expires is not None and expires <= datetime.now(UTC)) or not Path(
            ex.result_path
        ).exists():
            raise ExpiredError(
                f"the result of query {query_id} expired (workgroup {ex.workgroup} keeps results "
                "for a limited time): run the query again"
            )
        return ex.result_path

    def sweep(self, now: datetime | None = None) -> int:
        """Delete stored results past their retention (the lifecycle rule); returns count."""
        now = now or datetime.now(UTC)
        deleted = 0
        with self.rt.store.transaction(bump=False) as session:
            rows = session.scalars(
                select(QueryExecutionRow).where(
                    QueryExecutionRow.result_path.is_not(None), QueryExecutionRow.expires_at <= now
                )
            ).all()
            for row in rows:
                if row.result_path:
                    Path(row.result_path).unlink(missing_ok=True)
                row.result_path = None
                row.state = "EXPIRED" if row.state == "SUCCEEDED" else row.state
                deleted += 1
        return deleted
