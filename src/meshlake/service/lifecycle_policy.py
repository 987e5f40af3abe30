"""The storage lifecycle's policy and reports (values; the facade is ``service/lifecycle.py``).

The policy's defaults, and the ``MESHLAKE_*`` variables that change them, are documented in
docs/lifecycle.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from meshlake.errors import InvalidInputError
from meshlake.storage import maintenance as mt

__all__ = [
    "DEFAULT_JOB_RETENTION",
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
    """The policy in force, the last runs, and what a run would do now.

    Attributes:
        last_run: the last run started in the caller's scope (its report).
        last_mesh_run: when the mesh root (``meshlake worker``) last ran it for every
            account (``run_id``, ``finished_at`` only).
    """

    policy: dict[str, Any]
    last_run: dict[str, Any] | None
    due: LifecycleReport
    last_mesh_run: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "policy": self.policy,
            "last_run": self.last_run,
            "last_mesh_run": self.last_mesh_run,
            "due": self.due.to_dict(),
        }
