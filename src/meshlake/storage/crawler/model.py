"""Values a crawl produces: schema change policy, per-file errors, schema changes, the run.

All of them are frozen dataclasses with a JSON form (``to_dict``), so the catalog store, the
CLI and the server can show a crawl run without knowing how it was computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "CrawlRun",
    "DeleteBehavior",
    "FileError",
    "FileRecord",
    "RunState",
    "SchemaChange",
    "SchemaChangePolicy",
    "UpdateBehavior",
]


class UpdateBehavior(StrEnum):
    """What to do when new files change a table's schema (Glue ``UpdateBehavior``)."""

    UPDATE_IN_DATABASE = "UPDATE_IN_DATABASE"  # add the new columns: a new Iceberg schema
    LOG = "LOG"  # leave the table alone; log the change and hold the files back


class DeleteBehavior(StrEnum):
    """What to do with a table whose files all disappeared (Glue ``DeleteBehavior``)."""

    DEPRECATE_IN_DATABASE = "DEPRECATE_IN_DATABASE"  # property ``crawler.deprecated=true``
    DELETE_FROM_DATABASE = "DELETE_FROM_DATABASE"  # drop the table
    LOG = "LOG"  # only log it


class RunState(StrEnum):
    """The state of a crawl run."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # every file was read or skipped as unchanged
    PARTIAL = "PARTIAL"  # some files or tables failed; the others were ingested
    FAILED = "FAILED"  # nothing could be done (location missing, every file failed, ...)


@dataclass(frozen=True)
class SchemaChangePolicy:
    """Glue's schema change policy: how updates and deletions reach the catalog."""

    update_behavior: UpdateBehavior = UpdateBehavior.UPDATE_IN_DATABASE
    delete_behavior: DeleteBehavior = DeleteBehavior.DEPRECATE_IN_DATABASE

    def __post_init__(self) -> None:
        # accept plain strings ("LOG") from configuration files and the CLI
        object.__setattr__(self, "update_behavior", UpdateBehavior(self.update_behavior))
        object.__setattr__(self, "delete_behavior", DeleteBehavior(self.delete_behavior))


@dataclass(frozen=True)
class FileError:
    """A file (or a table's batch of files) that could not be ingested, and why."""

    path: str
    message: str
    table: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"path": self.path, "message": self.message, "table": self.table}


@dataclass(frozen=True)
class SchemaChange:
    """A change the crawler saw in a table, applied or only logged.

    ``kind`` is one of ``add_column`` (a new column), ``files_removed`` (some of the table's
    files disappeared; their rows stay), ``no_files`` (every file disappeared) or
    ``restored`` (files came back to a deprecated table).
    """

    table: str
    kind: str
    detail: str
    applied: bool
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "table": self.table,
            "kind": self.kind,
            "column": self.column,
            "detail": self.detail,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class FileRecord:
    """What the crawler remembers of one ingested file (the crawl state).

    ``path`` is relative to the crawled location (``/``-separated); ``mtime_ns`` is the
    modification time in nanoseconds (0 when the file system does not report one).
    """

    table: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    rows: int
    run_id: str | None = None


@dataclass(frozen=True)
class CrawlRun:
    """The record of one crawl: what it created, changed and could not read."""

    id: str
    location: str
    state: RunState
    started_at: datetime
    finished_at: datetime | None = None
    database: str | None = None
    principal: str | None = None
    tables_created: tuple[str, ...] = ()
    tables_updated: tuple[str, ...] = ()
    tables_deprecated: tuple[str, ...] = ()
    tables_deleted: tuple[str, ...] = ()
    rows_added: int = 0
    files_read: int = 0
    files_skipped: int = 0
    errors: tuple[FileError, ...] = ()
    schema_changes: tuple[SchemaChange, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times as ISO 8601 strings)."""
        return {
            "id": self.id,
            "location": self.location,
            "database": self.database,
            "principal": self.principal,
            "state": self.state.value,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "tables_created": list(self.tables_created),
            "tables_updated": list(self.tables_updated),
            "tables_deprecated": list(self.tables_deprecated),
            "tables_deleted": list(self.tables_deleted),
            "rows_added": self.rows_added,
            "files_read": self.files_read,
            "files_skipped": self.files_skipped,
            "errors": [e.to_dict() for e in self.errors],
            "schema_changes": [c.to_dict() for c in self.schema_changes],
            "timings": dict(self.timings),
        }
