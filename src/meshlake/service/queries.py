"""Governed queries as a service: executions, workgroups, stored results, read audit.

``session.query(sql)`` runs the query through :func:`meshlake.query.service.run_query`,
stores the result as Parquet under the workgroup's result location, records the execution
and writes one audit event per table read (rule 27), in one store transaction.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pyarrow.parquet as pq
from sqlalchemy import Table, insert, select

from meshlake.catalog.models import QueryExecutionRow, WorkgroupRow
from meshlake.errors import (
    AccessDeniedError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    InvalidQueryError,
    MeshError,
    NotFoundError,
    StorageError,
)
from meshlake.ids import ROOT, check_name
from meshlake.query.results import QueryResult
from meshlake.query.service import QueryOutcome, run_query
from meshlake.service.governed import MeshQueryCatalog
from meshlake.service.runtime import ServiceBase
from meshlake.service.unit import in_unit
from meshlake.storage.iceberg import local_path

__all__ = ["DEFAULT_RETENTION", "DEFAULT_WORKGROUP", "QueryAPI", "QueryExecution", "Workgroup"]

DEFAULT_WORKGROUP = "primary"
DEFAULT_RETENTION = timedelta(days=7)
WORKGROUP_CACHE = "query.workgroups"
WORKGROUP_TTL = 5.0  # seconds a looked-up workgroup is reused
_INSERT_EXECUTION = insert(cast(Table, QueryExecutionRow.__table__))


@dataclass(frozen=True)
class Workgroup:
    """Where a workgroup's results go and how long they stay."""

    name: str
    account: str
    result_location: str
    retention_seconds: int


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
    )


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

    def _load_workgroup(self, name: str) -> Workgroup:
        with self.rt.store.read() as session:
            row = session.scalars(
                select(WorkgroupRow).where(
                    WorkgroupRow.account == self.account, WorkgroupRow.name == name
                )
            ).first()
        if row is not None:
            return Workgroup(row.name, row.account, row.result_location, row.retention_seconds)
        if name == DEFAULT_WORKGROUP:
            return Workgroup(
                name,
                self.account,
                self._default_location(name),
                int(DEFAULT_RETENTION.total_seconds()),
            )
        raise NotFoundError(f"workgroup {name} not found in account {self.account}")

    @in_unit
    def create_workgroup(
        self,
        name: str,
        *,
        result_location: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> Workgroup:
        """Create a workgroup (admins of the account)."""
        check_name("workgroup", name)
        if retention.total_seconds() <= 0:
            raise InvalidInputError("retention must be positive")
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
        with self.change(
            "create_workgroup",
            f"workgroup:{self.account}.{name}",
            [self.account],
            after={"result_location": loc, "retention_seconds": int(retention.total_seconds())},
            bump=False,
        ) as (session, _):
            session.add(
                WorkgroupRow(
                    account=self.account,
                    name=name,
                    result_location=loc,
                    retention_seconds=int(retention.total_seconds()),
                    created_by=self.principal,
                    created_at=datetime.now(UTC),
                )
            )
        self.rt.extras.get(WORKGROUP_CACHE, {}).pop((self.account, name), None)
        return Workgroup(name, self.account, loc, int(retention.total_seconds()))

    # ------------------------------------------------------------ running
    def run(
        self,
        sql: str,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        service: str = "query",
        job_id: str | None = None,
    ) -> QueryResult:
        """Run one governed SELECT; record it; store its result; audit every table read.

        ``service`` and ``job_id`` name the service and job a read is made for (rule 27).

        Raises:
            InvalidQueryError, NotFoundError, AccessDeniedError: see the query layer.
        """
        if not isinstance(sql, str):
            raise InvalidQueryError(f"the query must be SQL text, not {type(sql).__name__}")
        if self.principal == ROOT:
            raise AccessDeniedError("the mesh root reads no data: act as a principal")
        wg = self.workgroup(workgroup)
        query_id = str(uuid.uuid4())
        submitted = datetime.now(UTC)
        catalog = MeshQueryCatalog(self.rt, self.principal)
        try:
            outcome = run_query(catalog, sql, database=database)
        except MeshError as exc:
            self._record_failure(query_id, wg, sql, submitted, exc)
            raise
        assert outcome.result is not None
        result = outcome.result
        folder = Path(local_path(wg.result_location))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{query_id}.parquet"
        # The result file is written while the execution record and audit events are
        # prepared; the record commits only once the file is complete.
        written = _result_writer().submit(pq.write_table, result.to_arrow(), path)
        try:
            self._record_success(
                query_id, wg, outcome, submitted, str(path), service, written, job_id
            )
        except BaseException:
            with contextlib.suppress(Exception):
                written.result()
            path.unlink(missing_ok=True)
            raise
        result.query_id = query_id
        return result

    def _record_failure(
        self, query_id: str, wg: Workgroup, sql: str, submitted: datetime, exc: MeshError
    ) -> None:
        with self.rt.store.transaction(bump=False) as session:
            session.connection().execute(
                _INSERT_EXECUTION,
                {
                    "id": query_id,
                    "principal": self.principal,
                    "account": self.account,
                    "workgroup": wg.name,
                    "sql": sql,
                    "state": "FAILED",
                    "error": f"{exc.kind}: {exc.message}",
                    "tables": [],
                    "rows": 0,
                    "bytes": 0,
                    "timings": {},
                    "result_path": None,
                    "submitted_at": submitted,
                    "finished_at": datetime.now(UTC),
                    "expires_at": None,
                },
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
        tables = [
            {
                "table": r.ref.qualified,
                "account": r.ref.account,
                "link": r.link,
                "columns": list(r.columns),
                "filters": list(r.filters),
                "snapshot_id": r.snapshot_id,
                "time_travel": r.time_travel,
            }
            for r in outcome.tables
        ]
        t = outcome.timings
        with self.rt.store.transaction(bump=False) as session:
            session.connection().execute(  # prebuilt Core insert: runs on every query
                _INSERT_EXECUTION,
                {
                    "id": query_id,
                    "principal": self.principal,
                    "account": self.account,
                    "workgroup": wg.name,
                    "sql": outcome.sql,
                    "state": "SUCCEEDED",
                    "error": None,
                    "tables": tables,
                    "rows": outcome.rows or 0,
                    "bytes": outcome.bytes or 0,
                    "timings": {
                        "parse_ms": t.parse_ms,
                        "plan_ms": t.plan_ms,
                        "execute_ms": t.execute_ms,
                        "total_ms": t.total_ms,
                    },
                    "result_path": path,
                    "submitted_at": submitted,
                    "finished_at": finished,
                    "expires_at": finished + timedelta(seconds=wg.retention_seconds),
                },
            )
            for r in outcome.tables:
                self.rt.audit.append(
                    session,
                    category="read",
                    principal=self.principal,
                    action="SELECT",
                    resource=f"table:{r.ref.account}.{r.ref.qualified}",
                    accounts=[self.account, r.ref.account],
                    data={
                        "account": self.account,
                        "table": r.ref.qualified,
                        "owner_account": r.ref.account,
                        "link": r.link,
                        "columns": list(r.columns),
                        "filters": list(r.filters),
                        "query_id": query_id,
                        "snapshot_id": r.snapshot_id,
                        "rows": outcome.rows or 0,
                        "service": service,
                        **({"job_id": job_id} if job_id else {}),
                    },
                )
            try:
                written.result()  # commit only a record whose result file exists
            except Exception as exc:
                raise StorageError(
                    f"could not store the result of query {query_id} under "
                    f"{wg.result_location}: {exc}; check that the workgroup's result location "
                    "is writable and has room, then run the query again"
                ) from exc

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
        return QueryResult(pq.read_table(ex.result_path), query_id=query_id)

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
