"""Crawl state: the files each table already ingested, deprecated tables, and crawl runs.

:class:`CrawlStateStore` is the protocol the crawler uses; :class:`MemoryCrawlState` keeps
everything in dictionaries (tests, one-off crawls) and :class:`SqlCrawlState` in three
SQLAlchemy Core tables on :data:`CRAWLER_METADATA` (the catalog store creates them through
its alembic migrations):

* ``crawl_runs``: one row per run (state, tables created / updated / deprecated / deleted,
  rows, files, errors and schema changes as JSON, principal);
* ``crawl_files``: one row per ingested file (location, table, path, size, mtime, sha256,
  rows, run id), the key that keeps a re-crawl from ingesting a file twice;
* ``crawl_tables``: tables a crawl deprecated because all their files disappeared.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meshlake.errors import NotFoundError
from meshlake.storage.crawler.model import (
    CrawlRun,
    FileError,
    FileRecord,
    RunState,
    SchemaChange,
)

__all__ = [
    "CRAWLER_METADATA",
    "CrawlStateStore",
    "MemoryCrawlState",
    "SqlCrawlState",
    "crawl_files",
    "crawl_runs",
    "crawl_tables",
]

#: The crawler's tables; the catalog store's migrations create them from this metadata.
CRAWLER_METADATA = sa.MetaData()

crawl_runs = sa.Table(
    "crawl_runs",
    CRAWLER_METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("location", sa.Text, nullable=False, index=True),
    sa.Column("database", sa.String(128)),
    sa.Column("principal", sa.String(256)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("tables_created", sa.JSON, nullable=False),
    sa.Column("tables_updated", sa.JSON, nullable=False),
    sa.Column("tables_deprecated", sa.JSON, nullable=False),
    sa.Column("tables_deleted", sa.JSON, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("files_skipped", sa.Integer, nullable=False),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("schema_changes", sa.JSON, nullable=False),
    sa.Column("timings", sa.JSON, nullable=False),
)

crawl_files = sa.Table(
    "crawl_files",
    CRAWLER_METADATA,
    sa.Column("location", sa.Text, primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("table", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", sa.BigInteger, nullable=False),  # nanoseconds since the epoch
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Index("ix_crawl_files_location_table", "location", "table"),
)

crawl_tables = sa.Table(
    "crawl_tables",
    CRAWLER_METADATA,
    sa.Column("location", sa.Text, primary_key=True),
    sa.Column("table", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # DEPRECATED
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(64)),
)

_DEPRECATED = "DEPRECATED"


class CrawlStateStore(Protocol):
    """What the crawler remembers between runs, per location (a canonical URI)."""

    def files(self, location: str) -> dict[str, FileRecord]:
        """The ingested files of ``location``, by relative path."""
        ...

    def save_files(self, location: str, records: Sequence[FileRecord]) -> None:
        """Insert or replace file records (keyed by path)."""
        ...

    def remove_files(self, location: str, paths: Sequence[str]) -> None:
        """Forget file records (a file that moved to another path)."""
        ...

    def remove_table(self, location: str, table: str) -> None:
        """Forget a table: its file records and its deprecation (the table was dropped)."""
        ...

    def deprecated_tables(self, location: str) -> set[str]:
        """Tables of ``location`` a crawl deprecated."""
        ...

    def set_deprecated(self, location: str, table: str, deprecated: bool, run_id: str) -> None:
        """Mark or unmark ``table`` as deprecated."""
        ...

    def save_run(self, run: CrawlRun) -> None:
        """Insert or replace a run (by id)."""
        ...

    def get_run(self, run_id: str) -> CrawlRun:
        """One run. Raises ``NotFoundError`` when it does not exist."""
        ...

    def list_runs(self, location: str | None = None) -> list[CrawlRun]:
        """Runs, newest first (of one location when given)."""
        ...


class MemoryCrawlState:
    """A :class:`CrawlStateStore` in memory."""

    def __init__(self) -> None:
        self._files: dict[str, dict[str, FileRecord]] = {}
        self._deprecated: dict[str, set[str]] = {}
        self._runs: dict[str, CrawlRun] = {}

    def files(self, location: str) -> dict[str, FileRecord]:
        """See :meth:`CrawlStateStore.files`."""
        return dict(self._files.get(location, {}))

    def save_files(self, location: str, records: Sequence[FileRecord]) -> None:
        """See :meth:`CrawlStateStore.save_files`."""
        self._files.setdefault(location, {}).update({r.path: r for r in records})

    def remove_files(self, location: str, paths: Sequence[str]) -> None:
        """See :meth:`CrawlStateStore.remove_files`."""
        for path in paths:
            self._files.get(location, {}).pop(path, None)

    def remove_table(self, location: str, table: str) -> None:
        """See :meth:`CrawlStateStore.remove_table`."""
        files = self._files.get(location, {})
        for path in [p for p, r in files.items() if r.table == table]:
            del files[path]
        self._deprecated.get(location, set()).discard(table)

    def deprecated_tables(self, location: str) -> set[str]:
        """See :meth:`CrawlStateStore.deprecated_tables`."""
        return set(self._deprecated.get(location, set()))

    def set_deprecated(self, location: str, table: str, deprecated: bool, run_id: str) -> None:
        """See :meth:`CrawlStateStore.set_deprecated`."""
        tables = self._deprecated.setdefault(location, set())
        if deprecated:
            tables.add(table)
        else:
            tables.discard(table)

    def save_run(self, run: CrawlRun) -> None:
        """See :meth:`CrawlStateStore.save_run`."""
        self._runs[run.id] = copy.copy(run)

    def get_run(self, run_id: str) -> CrawlRun:
        """See :meth:`CrawlStateStore.get_run`."""
        if run_id not in self._runs:
            raise NotFoundError(f"crawl run {run_id!r} not found")
        return self._runs[run_id]

    def list_runs(self, location: str | None = None) -> list[CrawlRun]:
        """See :meth:`CrawlStateStore.list_runs`."""
        runs = [r for r in self._runs.values() if location is None or r.location == location]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)


class SqlCrawlState:
    """A :class:`CrawlStateStore` on the catalog database (SQLite or PostgreSQL).

    Args:
        engine: the catalog store's engine; the tables of :data:`CRAWLER_METADATA` must exist.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def files(self, location: str) -> dict[str, FileRecord]:
        """See :meth:`CrawlStateStore.files`."""
        query = sa.select(crawl_files).where(crawl_files.c.location == location)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {
            r["path"]: FileRecord(
                table=r["table"], path=r["path"], size=r["size"], mtime_ns=r["mtime"],
                sha256=r["sha256"], rows=r["rows"], run_id=r["run_id"],
            )
            for r in rows
        }  # fmt: skip

    def save_files(self, location: str, records: Sequence[FileRecord]) -> None:
        """See :meth:`CrawlStateStore.save_files`."""
        if not records:
            return
        paths = [r.path for r in records]
        values = [
            {"location": location, "path": r.path, "table": r.table, "size": r.size,
             "mtime": r.mtime_ns, "sha256": r.sha256, "rows": r.rows, "run_id": r.run_id}
            for r in records
        ]  # fmt: skip
        with self.engine.begin() as conn:
            for start in range(0, len(paths), 500):
                chunk = paths[start : start + 500]
                conn.execute(
                    sa.delete(crawl_files).where(
                        crawl_files.c.location == location, crawl_files.c.path.in_(chunk)
                    )
                )
            conn.execute(sa.insert(crawl_files), values)

    def remove_files(self, location: str, paths: Sequence[str]) -> None:
        """See :meth:`CrawlStateStore.remove_files`."""
        with self.engine.begin() as conn:
            for start in range(0, len(paths), 500):
                chunk = list(paths[start : start + 500])
                conn.execute(
                    sa.delete(crawl_files).where(
                        crawl_files.c.location == location, crawl_files.c.path.in_(chunk)
                    )
                )

    def remove_table(self, location: str, table: str) -> None:
        """See :meth:`CrawlStateStore.remove_table`."""
        with self.engine.begin() as conn:
            for t in (crawl_files, crawl_tables):
                conn.execute(sa.delete(t).where(t.c.location == location, t.c.table == table))

    def deprecated_tables(self, location: str) -> set[str]:
        """See :meth:`CrawlStateStore.deprecated_tables`."""
        query = sa.select(crawl_tables.c.table).where(
            crawl_tables.c.location == location, crawl_tables.c.status == _DEPRECATED
        )
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def set_deprecated(self, location: str, table: str, deprecated: bool, run_id: str) -> None:
        """See :meth:`CrawlStateStore.set_deprecated`."""
        key = (crawl_tables.c.location == location, crawl_tables.c.table == table)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(crawl_tables).where(*key))
            if deprecated:
                conn.execute(
                    sa.insert(crawl_tables).values(
                        location=location, table=table, status=_DEPRECATED,
                        updated_at=datetime.now(UTC), run_id=run_id,
                    )
                )  # fmt: skip

    def save_run(self, run: CrawlRun) -> None:
        """See :meth:`CrawlStateStore.save_run`."""
        values = _run_row(run)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(crawl_runs).where(crawl_runs.c.id == run.id))
            conn.execute(sa.insert(crawl_runs).values(**values))

    def get_run(self, run_id: str) -> CrawlRun:
        """See :meth:`CrawlStateStore.get_run`."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(crawl_runs).where(crawl_runs.c.id == run_id)).mappings()
            found = row.first()
        if found is None:
            raise NotFoundError(f"crawl run {run_id!r} not found")
        return _run_from_row(found)

    def list_runs(self, location: str | None = None) -> list[CrawlRun]:
        """See :meth:`CrawlStateStore.list_runs`."""
        query = sa.select(crawl_runs).order_by(crawl_runs.c.started_at.desc())
        if location is not None:
            query = query.where(crawl_runs.c.location == location)
        with self.engine.connect() as conn:
            return [_run_from_row(r) for r in conn.execute(query).mappings()]


def _run_row(run: CrawlRun) -> dict[str, Any]:
    return {
        "id": run.id, "location": run.location, "database": run.database,
        "principal": run.principal, "state": run.state.value, "started_at": run.started_at,
        "finished_at": run.finished_at, "tables_created": list(run.tables_created),
        "tables_updated": list(run.tables_updated),
        "tables_deprecated": list(run.tables_deprecated),
        "tables_deleted": list(run.tables_deleted), "rows": run.rows_added,
        "files": run.files_read, "files_skipped": run.files_skipped,
        "errors": [e.to_dict() for e in run.errors],
        "schema_changes": [c.to_dict() for c in run.schema_changes],
        "timings": dict(run.timings),
    }  # fmt: skip


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def _run_from_row(row: Any) -> CrawlRun:
    started = _aware(row["started_at"])
    assert started is not None
    return CrawlRun(
        id=row["id"], location=row["location"], state=RunState(row["state"]),
        started_at=started, finished_at=_aware(row["finished_at"]),
        database=row["database"], principal=row["principal"],
        tables_created=tuple(row["tables_created"]), tables_updated=tuple(row["tables_updated"]),
        tables_deprecated=tuple(row["tables_deprecated"]),
        tables_deleted=tuple(row["tables_deleted"]), rows_added=row["rows"],
        files_read=row["files"], files_skipped=row["files_skipped"],
        errors=tuple(FileError(**e) for e in row["errors"]),
        schema_changes=tuple(SchemaChange(**c) for c in row["schema_changes"]),
        timings=dict(row["timings"]),
    )  # fmt: skip
