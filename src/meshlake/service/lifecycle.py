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
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, or_, select, true

from meshlake.catalog.ml_models import MLJobRow
from meshlake.catalog.models import MetaRow, QueryExecutionRow
from meshlake.errors import AccessDeniedError, InvalidInputError
from meshlake.events import EventScope
from meshlake.ids import ROOT
from meshlake.service.lifecycle_pins import EXPIRED, gather_pins
from meshlake.service.lifecycle_policy import (
    DEFAULT_JOB_RETENTION,
    LifecyclePolicy,
    LifecycleReport,
    LifecycleStatus,
    TableReport,
    parse_duration,
)
from meshlake.service.lifecycle_tables import TableLifecycleMixin

__all__ = [
    "DEFAULT_JOB_RETENTION",
    "LifecycleAPI",
    "LifecyclePolicy",
    "LifecycleReport",
    "LifecycleStatus",
    "TableReport",
    "parse_duration",
]

LAST_RUN_KEY = "lifecycle.last"


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


class LifecycleAPI(TableLifecycleMixin):
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
    ) -> LifecycleReport:
        """Expire results and job folders, compact tables, expire snapshots, remove orphan
        files (see the module docstring); every change is audited.

        Args:
            dry_run: plan only: nothing is deleted, committed or audited.
            policy: default :meth:`LifecyclePolicy.from_env`.

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
        now = started = datetime.now(UTC)  # never a later time: young files must look young
        pins = gather_pins(self.rt)  # before any job expires: conservative
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
            mesh_row = session.get(MetaRow, _last_key(None))
        last = json.loads(row.value) if row is not None else None
        mesh = json.loads(mesh_row.value) if mesh_row is not None else None
        mesh_run = {"run_id": mesh["run_id"], "finished_at": mesh["finished_at"]} if mesh else None
        return LifecycleStatus(due.policy, last, due, mesh_run)

    # ------------------------------------------------------------ results and jobs
    def expire_results(
        self, *, now: datetime | None = None, dry_run: bool = False
    ) -> tuple[tuple[str, ...], int]:
        """Only the results rule of :meth:`run` (every account for the root, the caller's
        administered accounts otherwise); returns the expired query ids and bytes freed."""
        return self._expire_results(self._scope(), now or datetime.now(UTC), dry_run)

    def _expire_results(
        self, scope: set[str] | None, now: datetime, dry_run: bool
    ) -> tuple[tuple[str, ...], int]:
        """Stored query results past their workgroup's retention (files, and the small
        results kept with their execution records)."""
        stmt = select(QueryExecutionRow).where(
            or_(
                QueryExecutionRow.result_path.is_not(None),
                QueryExecutionRow.result_inline.is_not(None),
            ),
            QueryExecutionRow.expires_at <= now,
        )
        if scope is not None:
            stmt = stmt.where(QueryExecutionRow.account.in_(scope))
        sizes = select(
            QueryExecutionRow.id,
            QueryExecutionRow.result_path,
            QueryExecutionRow.account,
            func.coalesce(func.length(QueryExecutionRow.result_inline), 0),
        ).where(stmt.whereclause if stmt.whereclause is not None else true())
        with self.rt.store.read() as session:
            due = {r[0]: (r[1], r[2], int(r[3])) for r in session.execute(sizes)}

        def size(path: str | None, inline: int) -> int:
            return _file_bytes(path) if path else inline

        if dry_run or not due:
            return tuple(due), sum(size(p, n) for p, _, n in due.values())
        ids: list[str] = []
        freed = 0
        accounts = sorted({a for _, a, _ in due.values()})
        with self.change("expire_results", "lifecycle:results", accounts, bump=False) as (
            session,
            record,
        ):
            for row in session.scalars(stmt.where(QueryExecutionRow.id.in_(list(due)))):
                freed += size(row.result_path, due[row.id][2])
                if row.result_path:
                    Path(row.result_path).unlink(missing_ok=True)
                row.result_path = None
                row.result_inline = None
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


def _last_key(scope: set[str] | None) -> str:
    name = "*" if scope is None else ",".join(sorted(scope))
    key = f"{LAST_RUN_KEY}.{name}"
    if len(key) > 64:
        key = f"{LAST_RUN_KEY}.{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return key
