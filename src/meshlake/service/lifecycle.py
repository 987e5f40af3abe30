"""Storage lifecycle: what the mesh deletes on its own, and what it never deletes.

The reference architecture's S3 lifecycle rule and Iceberg table maintenance, as one facade
(``session.lifecycle``, ``meshlake lifecycle run``, and ``meshlake worker`` periodically):

1. **query results** past their workgroup's retention are deleted (state ``EXPIRED``);
2. **job intermediates** (a processing or training job's folder under ``<home>/jobs``) past
   the job retention are deleted; the job becomes ``EXPIRED``, so a pipeline no longer reuses
   it as a cached step;
3. **compaction**: a table with more small data files than the policy allows has them
   rewritten into larger files, one Iceberg overwrite commit holding exactly the same rows;
4. **snapshot expiry**: snapshots beyond the newest ``keep_last`` and older than
   ``max_snapshot_age`` are expired, *never* one that a product version pins, that a model's
   lineage read (or a job that may still be registered), or that a running query may read;
   the files only expired snapshots reached are deleted;
5. **orphan files**: files in a table's managed folder that no retained snapshot reaches and
   older than ``orphan_age`` (a writer's files in flight are younger) are deleted.

Each Iceberg commit runs under an intent (``service/intents.py``), so a process killed in
the middle leaves a table that repair finishes or rolls back; each change is audited, the
run as a whole too, and a ``lifecycle.finished`` event is emitted. A dry run plans the same
steps and changes nothing (no file, no row, no audit event).

Who may run it: the mesh root (every account), or an admin of an account (that account's
tables, results and jobs). Reports name tables, snapshot ids, job and query ids, counts and
bytes, never a storage path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from meshlake.catalog.ml_models import MLJobRow, ModelVersionRow
from meshlake.catalog.models import IntentRow, MetaRow, QueryExecutionRow, WorkgroupRow
from meshlake.catalog.product_models import ProductVersionRow
from meshlake.catalog.storage_models import RecipeRunRow
from meshlake.errors import AccessDeniedError, InvalidInputError, InvalidQueryError, MeshError
from meshlake.events import EventScope
from meshlake.ids import ROOT
from meshlake.query.analyze import parse_query
from meshlake.resources import Table
from meshlake.service.intents import INTENT_PROPERTY, close_intent, open_intent
from meshlake.service.queries import ACTIVE_STATES, DEFAULT_MAX_RUNTIME_S
from meshlake.service.runtime import ServiceBase
from meshlake.storage import maintenance as mt

__all__ = [
    "DEFAULT_JOB_RETENTION",
    "LifecycleAPI",
    "LifecyclePolicy",
    "LifecycleReport",
    "LifecycleStatus",
    "TableReport",
    "parse_duration",
]

DEFAULT_JOB_RETENTION = timedelta(days=30)
#: Environment variables of the policy (``meshlake worker`` runs with them).
ENV_JOB_RETENTION = "MESHLAKE_JOB_RETENTION"
ENV_KEEP_SNAPSHOTS = "MESHLAKE_KEEP_SNAPSHOTS"
ENV_SNAPSHOT_AGE = "MESHLAKE_SNAPSHOT_MAX_AGE"
ENV_ORPHAN_AGE = "MESHLAKE_ORPHAN_AGE"
ENV_SMALL_FILE = "MESHLAKE_SMALL_FILE_BYTES"
ENV_COMPACT_FILES = "MESHLAKE_COMPACT_MIN_FILES"
#: A running query is taken as dead this long after its workgroup's runtime limit.
RUNNING_GRACE = timedelta(minutes=5)
EXPIRED = "EXPIRED"
LAST_RUN_KEY = "lifecycle.last"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """A duration: ``30d``, ``12h``, ``15m``, ``90s``, ``2w``, ``0``, seconds, or a timedelta.

    Raises:
        InvalidInputError: not a duration, or negative.

    >>> parse_duration("12h")
    datetime.timedelta(seconds=43200)
    """
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out = timedelta(seconds=value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        out = timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"])
    else:
        raise InvalidInputError(f"{value!r} is not a duration: write e.g. 30d, 12h, 15m or 90s")
    if out < timedelta(0):
        raise InvalidInputError(f"a duration must not be negative, got {value!r}")
    return out


@dataclass(frozen=True)
class LifecyclePolicy:
    """What the lifecycle removes, and when (query results follow their workgroup's
    retention).

    Attributes:
        job_retention: a finished job's folder is deleted this long after it finished.
        tables: the Iceberg maintenance policy (a table's own ``history.expire.*``
            properties override its snapshot part).
        compact, expire_snapshots, remove_orphans: which table steps run.
    """

    job_retention: timedelta = DEFAULT_JOB_RETENTION
    tables: mt.MaintenancePolicy = field(default_factory=mt.MaintenancePolicy)
    compact: bool = True
    expire_snapshots: bool = True
    remove_orphans: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LifecyclePolicy:
        """The defaults, with the ``MESHLAKE_*`` lifecycle variables applied.

        Raises:
            InvalidInputError: a variable that is not a duration or a number.
        """
        env = os.environ if env is None else env
        tables = mt.MaintenancePolicy()
        try:
            if ENV_KEEP_SNAPSHOTS in env:
                tables = replace(tables, keep_last=int(env[ENV_KEEP_SNAPSHOTS]))
            if ENV_SMALL_FILE in env:
                tables = replace(tables, small_file_bytes=int(env[ENV_SMALL_FILE]))
            if ENV_COMPACT_FILES in env:
                tables = replace(tables, compact_min_files=int(env[ENV_COMPACT_FILES]))
        except ValueError as exc:
            raise InvalidInputError(f"a lifecycle variable is not a whole number: {exc}") from exc
        if ENV_SNAPSHOT_AGE in env:
            tables = replace(tables, max_snapshot_age=parse_duration(env[ENV_SNAPSHOT_AGE]))
        if ENV_ORPHAN_AGE in env:
            tables = replace(tables, orphan_age=parse_duration(env[ENV_ORPHAN_AGE]))
        jobs = parse_duration(env.get(ENV_JOB_RETENTION, DEFAULT_JOB_RETENTION))
        return cls(job_retention=jobs, tables=tables)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (durations in seconds)."""
        t = self.tables
        return {
            "job_retention_s": self.job_retention.total_seconds(),
            "keep_last": t.keep_last,
            "max_snapshot_age_s": t.max_snapshot_age.total_seconds(),
            "small_file_bytes": t.small_file_bytes,
            "compact_min_files": t.compact_min_files,
            "orphan_age_s": t.orphan_age.total_seconds(),
            "compact": self.compact,
            "expire_snapshots": self.expire_snapshots,
            "remove_orphans": self.remove_orphans,
        }


@dataclass(frozen=True)
class TableReport:
    """What the run did (or, dry, would do) to one table.

    Attributes:
        table: ``account.database.table``.
        compacted: ``files_before``, ``files_after``, ``rows``, ``snapshot_id``.
        snapshots_expired: the expired snapshot ids.
        snapshots_pinned: snapshots kept only because something references them (id ->
            why).
        files_removed: files only expired snapshots reached, deleted.
        orphans_removed: unreferenced old files deleted.
        bytes_freed: bytes of the deleted files.
        skipped: why the table was left alone (a write in flight, ...).
        error: what failed (the other tables went on).
    """

    table: str
    compacted: dict[str, Any] | None = None
    snapshots_expired: tuple[int, ...] = ()
    snapshots_pinned: dict[str, str] = field(default_factory=dict)
    files_removed: int = 0
    orphans_removed: int = 0
    bytes_freed: int = 0
    skipped: str | None = None
    error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether anything was (or would be) done."""
        return bool(
            self.compacted or self.snapshots_expired or self.files_removed or self.orphans_removed
        )


@dataclass(frozen=True)
class LifecycleReport:
    """One lifecycle run."""

    run_id: str
    principal: str
    dry_run: bool
    started_at: str
    finished_at: str
    policy: dict[str, Any]
    results_expired: tuple[str, ...] = ()
    results_bytes: int = 0
    jobs_expired: tuple[str, ...] = ()
    jobs_bytes: int = 0
    tables: tuple[TableReport, ...] = ()

    @property
    def bytes_freed(self) -> int:
        """Every byte deleted (or, dry, that would be)."""
        return self.results_bytes + self.jobs_bytes + sum(t.bytes_freed for t in self.tables)

    def table(self, name: str) -> TableReport:
        """The report of one table (``account.database.table``).

        Raises:
            InvalidInputError: the run did not look at that table.
        """
        for t in self.tables:
            if t.table == name:
                return t
        raise InvalidInputError(f"the run did not look at table {name}")

    def summary(self) -> dict[str, Any]:
        """The counts (the audit event's and the ``lifecycle.finished`` event's data)."""
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "results_expired": len(self.results_expired),
            "jobs_expired": len(self.jobs_expired),
            "tables_compacted": sum(1 for t in self.tables if t.compacted),
            "snapshots_expired": sum(len(t.snapshots_expired) for t in self.tables),
            "files_removed": sum(t.files_removed for t in self.tables),
            "orphans_removed": sum(t.orphans_removed for t in self.tables),
            "bytes_freed": self.bytes_freed,
            "errors": sum(1 for t in self.tables if t.error),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = asdict(self)
        data["bytes_freed"] = self.bytes_freed
        data["summary"] = self.summary()
        return data


@dataclass(frozen=True)
class LifecycleStatus:
    """The policy in force, the last run, and what a run would do now."""

    policy: dict[str, Any]
    last_run: dict[str, Any] | None
    due: LifecycleReport

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"policy": self.policy, "last_run": self.last_run, "due": self.due.to_dict()}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _file_bytes(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


def _job_snapshots(row: MLJobRow) -> Iterator[int]:
    for info in row.inputs or []:
        for t in info.get("tables", []) if isinstance(info, dict) else []:
            if t.get("snapshot_id") is not None:
                yield int(t["snapshot_id"])
    for t in ((row.outputs or {}).get("tables") or {}).values():
        if isinstance(t, dict) and t.get("snapshot_id") is not None:
            yield int(t["snapshot_id"])


class LifecycleAPI(ServiceBase):
    """Run the storage lifecycle (admins: their account's; the mesh root: every account's)."""

    # ------------------------------------------------------------ scope
    def _scope(self) -> set[str] | None:
        """The accounts the caller may run the lifecycle for (None: every account).

        Raises:
            AccessDeniedError: neither the mesh root nor an admin of its account.
        """
        if self.principal == ROOT:
            return None
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(
                f"only the mesh root or an admin of {self.account} may run the storage "
                "lifecycle: ask an admin"
            )
        return {self.account}

    # ------------------------------------------------------------ entry points
    def run(
        self,
        *,
        dry_run: bool = False,
        policy: LifecyclePolicy | None = None,
        now: datetime | None = None,
    ) -> LifecycleReport:
        """Expire results and job folders, compact tables, expire snapshots, remove orphan
        files (see the module docstring); every change is audited.

        Args:
            dry_run: plan only: nothing is deleted, committed or audited.
            policy: default :meth:`LifecyclePolicy.from_env`.
            now: the time retentions are measured against (default: now).

        Returns:
            What was (or would be) removed, per kind and per table, with the bytes freed.

        Raises:
            AccessDeniedError: neither the mesh root nor an admin of its account.
            InvalidInputError: a malformed policy.
        """
        scope = self._scope()
        policy = policy or LifecyclePolicy.from_env()
        if not isinstance(policy, LifecyclePolicy):
            raise InvalidInputError("policy must be a LifecyclePolicy")
        now = _aware(now or datetime.now(UTC))
        started = datetime.now(UTC)
        pins = self._pins(scope, policy)  # before any job expires: conservative
        results, results_bytes = self._expire_results(scope, now, dry_run)
        jobs, jobs_bytes = self._expire_jobs(scope, policy, now, dry_run)
        tables = tuple(self._maintain_tables(scope, policy, pins, now, dry_run))
        report = LifecycleReport(
            str(uuid.uuid4()),
            self.principal,
            dry_run,
            started.isoformat(),
            datetime.now(UTC).isoformat(),
            policy.to_dict(),
            results,
            results_bytes,
            jobs,
            jobs_bytes,
            tables,
        )
        if not dry_run:
            self._record(report, scope)
        return report

    def status(self, policy: LifecyclePolicy | None = None) -> LifecycleStatus:
        """The policy in force, the caller's scope's last run, and what a run would do now
        (a dry run).

        Raises:
            AccessDeniedError: neither the mesh root nor an admin of its account.
        """
        scope = self._scope()
        due = self.run(dry_run=True, policy=policy)
        with self.rt.store.read() as session:
            row = session.get(MetaRow, _last_key(scope))
        last = json.loads(row.value) if row is not None else None
        return LifecycleStatus(due.policy, last, due)

    # ------------------------------------------------------------ pins
    def _pins(self, scope: set[str] | None, policy: LifecyclePolicy) -> mt.Pins:
        """Every snapshot something references (all accounts: a product or a model of
        another account may pin a table of the caller's)."""
        ids: dict[int, str] = {}
        chains: set[int] = set()
        anchors: set[int] = set()
        since: datetime | None = None
        as_of: list[datetime] = []
        wall = datetime.now(UTC)
        with self.rt.store.read() as session:
            for sid in session.scalars(
                select(ProductVersionRow.snapshot_id).where(
                    ProductVersionRow.snapshot_id.is_not(None)
                )
            ):
                if sid is not None:
                    ids[int(sid)] = "a product version"
                    anchors.add(int(sid))
            anchors.update(int(s) for s in session.scalars(select(RecipeRunRow.target_snapshot)))
            registered: set[str] = set(session.scalars(select(ModelVersionRow.job_id)))
            jobs = list(session.scalars(select(MLJobRow)))
            by_id = {j.id: j for j in jobs}
            for job_id in list(registered):
                training = by_id.get(job_id)
                processing = (training.spec or {}).get("processing_job") if training else None
                if processing:
                    registered.add(str(processing))
            for job in jobs:
                if job.id in registered:
                    why = "a registered model's lineage"
                elif job.state != EXPIRED:
                    why = f"the reads of {job.kind} job {job.id}"
                else:
                    continue
                for sid in _job_snapshots(job):
                    ids.setdefault(sid, why)
                    chains.add(sid)
            limits = {
                (w.account, w.name): w.max_runtime_s for w in session.scalars(select(WorkgroupRow))
            }
            running = list(
                session.scalars(
                    select(QueryExecutionRow).where(QueryExecutionRow.state.in_(ACTIVE_STATES))
                )
            )
        for q in running:
            submitted = _aware(q.submitted_at)
            limit = limits.get((q.account, q.workgroup), DEFAULT_MAX_RUNTIME_S)
            if submitted + timedelta(seconds=limit) + RUNNING_GRACE < wall:
                continue  # its process died: the watchdog would have stopped it by now
            since = submitted if since is None else min(since, submitted)
            for t in q.tables or []:
                if t.get("snapshot_id") is not None:
                    ids.setdefault(int(t["snapshot_id"]), f"running query {q.id}")
            with contextlib.suppress(InvalidQueryError):
                for ref in parse_query(q.sql).tables:
                    if ref.travel is not None and ref.travel.snapshot_id is not None:
                        ids.setdefault(ref.travel.snapshot_id, f"running query {q.id}")
                    elif ref.travel is not None and ref.travel.as_of is not None:
                        as_of.append(ref.travel.as_of)
        return mt.Pins(
            frozenset(ids), since, tuple(as_of), ids, frozenset(chains), frozenset(anchors)
        )

    # ------------------------------------------------------------ results and jobs
    def _expire_results(
        self, scope: set[str] | None, now: datetime, dry_run: bool
    ) -> tuple[tuple[str, ...], int]:
        """Stored query results past their workgroup's retention."""
        stmt = select(QueryExecutionRow).where(
            QueryExecutionRow.result_path.is_not(None), QueryExecutionRow.expires_at <= now
        )
        if scope is not None:
            stmt = stmt.where(QueryExecutionRow.account.in_(scope))
        with self.rt.store.read() as session:
            due = {r.id: (r.result_path, r.account) for r in session.scalars(stmt)}
        if dry_run or not due:
            return tuple(due), sum(_file_bytes(p) for p, _ in due.values())
        ids: list[str] = []
        freed = 0
        accounts = sorted({a for _, a in due.values()})
        with self.change("expire_results", "lifecycle:results", accounts, bump=False) as (
            session,
            record,
        ):
            for row in session.scalars(stmt.where(QueryExecutionRow.id.in_(list(due)))):
                if row.result_path:
                    freed += _file_bytes(row.result_path)
                    Path(row.result_path).unlink(missing_ok=True)
                row.result_path = None
                row.state = EXPIRED if row.state == "SUCCEEDED" else row.state
                ids.append(row.id)
            record["after"] = {"queries": ids, "bytes": freed}
        return tuple(ids), freed

    def _expire_jobs(
        self, scope: set[str] | None, policy: LifecyclePolicy, now: datetime, dry_run: bool
    ) -> tuple[tuple[str, ...], int]:
        """Job folders of finished jobs past the job retention."""
        jobs_dir = self.rt.settings.jobs_dir
        stmt = select(MLJobRow).where(
            MLJobRow.state.in_(("SUCCEEDED", "FAILED")),
            MLJobRow.finished_at.is_not(None),
            MLJobRow.finished_at <= now - policy.job_retention,
        )
        if scope is not None:
            stmt = stmt.where(MLJobRow.account.in_(scope))
        with self.rt.store.read() as session:
            due = {r.id: r.account for r in session.scalars(stmt) if (jobs_dir / r.id).is_dir()}
        if dry_run or not due:
            return tuple(due), sum(_folder_bytes(jobs_dir / j) for j in due)
        freed = 0
        done: list[str] = []
        accounts = sorted(set(due.values()))
        with self.change("expire_job_files", "lifecycle:jobs", accounts, bump=False) as (
            session,
            record,
        ):
            for row in session.scalars(select(MLJobRow).where(MLJobRow.id.in_(list(due)))):
                folder = jobs_dir / row.id
                freed += _folder_bytes(folder)
                shutil.rmtree(folder, ignore_errors=True)
                if row.state == "SUCCEEDED":
                    row.state = EXPIRED  # no longer a cached step, nor trainable
                done.append(row.id)
            record["after"] = {"jobs": done, "bytes": freed}
        return tuple(done), freed

    # ------------------------------------------------------------ tables
    def _maintain_tables(
        self,
        scope: set[str] | None,
        policy: LifecyclePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
    ) -> Iterator[TableReport]:
        st = self.state()
        with self.rt.store.read() as session:
            busy = set(
                session.scalars(select(IntentRow.iceberg_id).where(IntentRow.state == "pending"))
            )
        for t in sorted(st.tables.values(), key=lambda t: t.id):
            db = st.databases.get(t.database_id)
            if db is None or db.is_link or (scope is not None and db.account not in scope):
                continue
            name = f"{db.account}.{db.name}.{t.name}"
            if self.principal != ROOT:
                self.ensure("ALTER", Table(db.name, t.name, account=db.account))
            if t.iceberg_id in busy:
                yield TableReport(name, skipped="a write to the table is in flight")
                continue
            try:
                yield self._maintain(name, db.account, t.iceberg_id, policy, pins, now, dry_run)
            except MeshError as exc:
                yield TableReport(name, error=f"{exc.kind}: {exc.message}")
            except Exception as exc:  # the other tables go on; no third-party text (paths)
                yield TableReport(name, error=f"unexpected {type(exc).__name__}")

    def _maintain(
        self,
        name: str,
        account: str,
        iceberg_id: str,
        policy: LifecyclePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
    ) -> TableReport:
        table = self.rt.tables.load(iceberg_id)
        tpolicy = policy.tables.for_table(table.properties)
        managed = table.location().startswith("file://") and self.rt.managed.is_managed(
            table.location()
        )
        report = TableReport(name)
        label = f"table:{name}"
        if policy.compact:
            report = self._compact(report, label, account, iceberg_id, tpolicy, dry_run)
        if policy.expire_snapshots:
            report = self._expire(
                report, label, account, iceberg_id, tpolicy, pins, now, dry_run, managed
            )
        if policy.remove_orphans and managed:
            report = self._orphans(report, label, account, iceberg_id, tpolicy, now, dry_run)
        return report

    def _compact(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        dry_run: bool,
    ) -> TableReport:
        planned = mt.plan_compaction(self.rt.tables.load(iceberg_id), policy)
        if planned is None:
            return report
        if dry_run:
            return replace(report, compacted=_compaction(planned))
        with self.unit(bump=False) as unit:
            intent = open_intent(
                unit.session,
                "compact_table",
                iceberg_id,
                self.principal,
                {"label": label, "accounts": [account], "rows": planned.rows},
            )
        try:
            done = mt.compact(self.rt.tables, iceberg_id, policy, {INTENT_PROPERTY: intent})
        except BaseException:
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            raise
        if done is None:  # a concurrent writer changed the table: nothing left to compact
            with self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            return report
        summary = _compaction(done)
        with self.change("compact_table", label, [account], after=summary, bump=False) as (
            session,
            _,
        ):
            close_intent(session, intent)
        return replace(report, compacted=summary)

    def _expire(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
        managed: bool,
    ) -> TableReport:
        planned = mt.plan_expiry(self.rt.tables.load(iceberg_id), policy, pins, now)
        pinned = {str(k): v for k, v in planned.pinned.items()}
        if not planned.expire:
            return replace(report, snapshots_pinned=pinned)
        if dry_run:
            return replace(
                report,
                snapshots_expired=planned.expire,
                snapshots_pinned=pinned,
                files_removed=report.files_removed + (len(planned.files) if managed else 0),
                bytes_freed=report.bytes_freed + (planned.bytes if managed else 0),
            )
        with self.unit(bump=False) as unit:
            intent = open_intent(
                unit.session,
                "expire_snapshots",
                iceberg_id,
                self.principal,
                {"label": label, "accounts": [account], "snapshot_ids": list(planned.expire)},
            )
        allowed = set(planned.expire)

        def replan(table: Any) -> mt.Expiry:
            again = mt.plan_expiry(table, policy, pins, now)
            expire = tuple(s for s in again.expire if s in allowed)
            if expire == again.expire:
                return again
            retain = tuple(sorted({s.snapshot_id for s in table.snapshots()} - set(expire)))
            kept = mt.reachable_files(table, retain).paths
            files = {p: n for p, n in again.files.items() if p not in kept}
            return mt.Expiry(expire, retain, again.pinned, files)

        try:
            done = mt.expire_snapshots(self.rt.tables, iceberg_id, replan)
        except BaseException:
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            raise
        if not done.expire:  # a concurrent change pinned them all: nothing committed
            with self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            return replace(report, snapshots_pinned=pinned)
        removed = freed = 0
        if managed:
            root = self.rt.tables.load(iceberg_id).location()
            removed, freed = mt.delete_files(done.files, root)
        after = {"snapshot_ids": list(done.expire), "files_removed": removed, "bytes": freed}
        with self.change("expire_snapshots", label, [account], after=after, bump=False) as (
            session,
            _,
        ):
            close_intent(session, intent)
        return replace(
            report,
            snapshots_expired=done.expire,
            snapshots_pinned={str(k): v for k, v in done.pinned.items()},
            files_removed=report.files_removed + removed,
            bytes_freed=report.bytes_freed + freed,
        )

    def _orphans(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        now: datetime,
        dry_run: bool,
    ) -> TableReport:
        table = self.rt.tables.load(iceberg_id)
        reachable = mt.reachable_files(table, [s.snapshot_id for s in table.snapshots()])
        found = mt.orphan_files(table, reachable, now - policy.orphan_age)
        if not found:
            return report
        if dry_run:
            return replace(
                report,
                orphans_removed=len(found),
                bytes_freed=report.bytes_freed + sum(found.values()),
            )
        removed, freed = mt.delete_files(found, table.location())
        if removed:
            with self.change(
                "remove_orphan_files",
                label,
                [account],
                after={"files_removed": removed, "bytes": freed},
                bump=False,
            ):
                pass
        return replace(report, orphans_removed=removed, bytes_freed=report.bytes_freed + freed)

    # ------------------------------------------------------------ the run's record
    def _record(self, report: LifecycleReport, scope: set[str] | None) -> None:
        """Audit the run, remember it as the scope's last, emit ``lifecycle.finished``."""
        accounts = (
            sorted(scope)
            if scope is not None
            else sorted({t.table.split(".", 1)[0] for t in report.tables})
        )
        summary = report.summary()
        with self.change("lifecycle.run", "lifecycle", accounts, after=summary, bump=False) as (
            session,
            _,
        ):
            key = _last_key(scope)
            text = json.dumps(report.to_dict(), default=str)
            row = session.get(MetaRow, key)
            if row is None:
                session.add(MetaRow(key=key, value=text))
            else:
                row.value = text
            self.emit(
                "lifecycle.finished",
                "/lifecycle",
                f"lifecycle:{report.run_id}",
                summary,
                EventScope(accounts=tuple(accounts)),
            )


def _compaction(c: mt.Compaction) -> dict[str, Any]:
    return {
        "files_before": c.files_before,
        "files_after": c.files_after,
        "bytes_before": c.bytes_before,
        "bytes_after": c.bytes_after,
        "rows": c.rows,
        "snapshot_id": c.snapshot_id,
    }


def _last_key(scope: set[str] | None) -> str:
    name = "*" if scope is None else ",".join(sorted(scope))
    key = f"{LAST_RUN_KEY}.{name}"
    if len(key) > 64:
        key = f"{LAST_RUN_KEY}.{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return key
