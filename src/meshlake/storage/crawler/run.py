"""Run a crawl: list, compare with the crawl state, sniff, group, ingest, handle deletions.

A re-crawl reads only what changed since the last run:

* a file with the same size and modification time as when it was ingested is skipped;
  one whose time changed but whose sha256 did not is skipped too (it was only touched);
* a file that grew and still starts with the bytes ingested before (an appended log) adds
  only its new rows; a file rewritten in place is reported as an error (its old rows are
  already in the table and cannot be replaced by appending);
* a new file with the same size and sha256 as an ingested file that disappeared was moved:
  the state follows it, nothing is ingested;
* new files are sniffed, grouped into tables, merged into the table's schema (new columns
  are a new Iceberg schema under ``UPDATE_IN_DATABASE``; under ``LOG`` the change is logged
  and the files that need it are held back) and appended in batches, one commit per batch;
* a table name derived from a folder that an unrelated table already has gets a hash
  suffix (Glue's rule); a name given with ``table=`` is appended to as is;
* tables whose files all disappeared are deprecated, dropped or only logged (delete
  behaviour); a deprecated table whose files come back is restored.

A file that cannot be read is an error of the run, never fatal to it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pyarrow as pa

from meshlake.errors import AccessDeniedError, MeshError, NotFoundError
from meshlake.storage.crawler.classify import (
    FileGroup,
    cluster_files,
    group_files,
    partition_types,
    partition_values,
)
from meshlake.storage.crawler.ingest import Pending, TableIngest
from meshlake.storage.crawler.location import DataFile, Location, open_location
from meshlake.storage.crawler.model import (
    CrawlRun,
    DeleteBehavior,
    FileError,
    FileRecord,
    RunState,
    SchemaChange,
    SchemaChangePolicy,
)
from meshlake.storage.crawler.readers import sniff_file
from meshlake.storage.crawler.state import CrawlStateStore
from meshlake.storage.crawler.target import PROP_DEPRECATED, CrawlTarget

__all__ = ["BATCH_BYTES", "ProgressCallback", "crawl"]

#: ``progress(path, done, total)``: called after each file is handled.
ProgressCallback = Callable[[str, int, int], None]

#: Rows of several files are appended in one commit until they reach this many bytes.
BATCH_BYTES = 256 * 1024 * 1024


@dataclass
class _Outcome:
    """The mutable tally of a run, frozen into a :class:`CrawlRun` at the end."""

    created: list[str]
    updated: list[str]
    deprecated: list[str]
    deleted: list[str]
    errors: list[FileError]
    changes: list[SchemaChange]
    rows: int = 0
    files_read: int = 0
    files_skipped: int = 0


def crawl(
    target: CrawlTarget,
    location: str,
    *,
    table: str | None = None,
    policy: SchemaChangePolicy | None = None,
    state: CrawlStateStore,
    progress: ProgressCallback | None = None,
    database: str | None = None,
    principal: str | None = None,
    run_id: str | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> CrawlRun:
    """Crawl a location into tables of ``target`` and record the run in ``state``.

    Args:
        target: where tables are created and updated (a database, as the crawling principal).
        location: a folder, a file or a URI (``file://``, ``s3://``, ``memory://``).
        table: put every file into this one table (else tables are named after folders).
        policy: the schema change policy (default: update in database, deprecate).
        state: the crawl state (files ingested before, runs).
        progress: ``progress(path, done, total)`` after each file.
        database: recorded on the run.
        principal: recorded on the run.
        run_id: the run's id (default: a new random id).
        batch_bytes: append at most about this many bytes of rows per commit.

    Returns:
        The finished run (SUCCEEDED, PARTIAL or FAILED; errors per file inside).

    Raises:
        NotFoundError: the location does not exist and was never crawled.
        AccessDeniedError: the target refused a write (the run is recorded as FAILED).
        InvalidInputError: the location or table name is malformed.
    """
    policy = policy or SchemaChangePolicy()
    run = CrawlRun(
        id=run_id or uuid.uuid4().hex, location=location, state=RunState.RUNNING,
        started_at=datetime.now(UTC), database=database, principal=principal,
    )  # fmt: skip
    loc = open_location(location, must_exist=False)
    run = replace(run, location=loc.uri)
    if not loc.exists and not state.files(loc.uri):
        error = NotFoundError(f"crawl location {loc.uri!r} does not exist", location=loc.uri)
        state.save_run(_finish(run, _failed(loc.uri, error.message), {}))
        raise error
    state.save_run(run)
    crawler = _Crawler(target, loc, state, policy, progress, run.id, batch_bytes)
    try:
        crawler.run(table)
    except Exception as exc:
        message = exc.message if isinstance(exc, MeshError) else f"{type(exc).__name__}: {exc}"
        crawler.outcome.errors.append(FileError(path=loc.uri, message=message))
        state.save_run(_finish(run, crawler.outcome, crawler.timings, failed=True))
        raise
    final = _finish(run, crawler.outcome, crawler.timings)
    state.save_run(final)
    return final


def _failed(uri: str, message: str) -> _Outcome:
    return _Outcome([], [], [], [], [FileError(path=uri, message=message)], [])


def _finish(
    run: CrawlRun, out: _Outcome, timings: Mapping[str, float], *, failed: bool = False
) -> CrawlRun:
    did_something = out.files_read or out.files_skipped or out.created or out.deprecated
    if failed or (out.errors and not did_something):
        status = RunState.FAILED
    else:
        status = RunState.PARTIAL if out.errors else RunState.SUCCEEDED
    finished = datetime.now(UTC)
    total = (finished - run.started_at).total_seconds()
    return replace(
        run, state=status, finished_at=finished,
        tables_created=tuple(out.created), tables_updated=tuple(out.updated),
        tables_deprecated=tuple(out.deprecated), tables_deleted=tuple(out.deleted),
        rows_added=out.rows, files_read=out.files_read, files_skipped=out.files_skipped,
        errors=tuple(out.errors), schema_changes=tuple(out.changes),
        timings={**{k: round(v, 6) for k, v in timings.items()}, "total": round(total, 6)},
    )  # fmt: skip


class _Crawler:
    """One crawl's working state (see :func:`crawl`)."""

    def __init__(
        self,
        target: CrawlTarget,
        loc: Location,
        state: CrawlStateStore,
        policy: SchemaChangePolicy,
        progress: ProgressCallback | None,
        run_id: str,
        batch_bytes: int,
    ) -> None:
        self.target, self.loc, self.state, self.policy = target, loc, state, policy
        self.progress, self.run_id, self.batch_bytes = progress, run_id, batch_bytes
        self.outcome = _Outcome([], [], [], [], [], [])
        self.timings: dict[str, float] = defaultdict(float)
        self.known: dict[str, FileRecord] = {}
        self.done = self.total = 0

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] += time.perf_counter() - start

    def tick(self, path: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(path, self.done, self.total)

    def error(self, path: str, message: str, table: str | None = None) -> None:
        self.outcome.errors.append(FileError(path=path, message=message, table=table))

    def run(self, table: str | None) -> None:
        with self.timer("list"):
            files = self.loc.list_files()
            self.known = self.state.files(self.loc.uri)
        self.total = len(files)
        self._forget_dropped_tables()
        present = {f.path for f in files}
        gone = {p: r for p, r in self.known.items() if p not in present}
        groups = group_files(
            files, location_name=self.loc.name, table=table, is_file=self.loc.is_file
        )
        for group in groups:
            self._crawl_group(group, gone, single_table=table is not None)
        self._handle_missing(present)

    def _forget_dropped_tables(self) -> None:
        """Tables dropped outside the crawler are rebuilt from their files."""
        for name in sorted({r.table for r in self.known.values()}):
            if self.target.table_schema(name) is None:
                self.state.remove_table(self.loc.uri, name)
                self.known = {p: r for p, r in self.known.items() if r.table != name}

    # -- one group of files -------------------------------------------------------------
    def _crawl_group(
        self, group: FileGroup, gone: dict[str, FileRecord], *, single_table: bool
    ) -> None:
        fixed: dict[str, list[Pending]] = defaultdict(list)
        free: list[Pending] = []
        all_partitions = [partition_values(f, group.prefix) for f in group.files]
        for file, partitions in zip(group.files, all_partitions, strict=True):
            pending = self._triage(file, gone)
            if pending is None:
                continue
            pending.partitions = partitions
            (fixed[pending.table] if pending.table else free).append(pending)
        types = partition_types(all_partitions)
        group = self._own_name(group, single_table=single_table)
        seeds = self._seeds(group)
        schemas = [(p.file, p.sniff.classification, p.schema(types)) for p in free]
        for cluster in cluster_files(group, schemas, seeds, single_table=single_table):
            by_path = {p.file.path: p for p in free}
            fixed[cluster.table].extend(by_path[f.path] for f in cluster.files)
        for name, pendings in fixed.items():
            TableIngest(self, name, pendings, types).run()

    def _own_name(self, group: FileGroup, *, single_table: bool) -> FileGroup:
        """Glue: a derived table name taken by a table of another location gets a hash suffix.

        A name the caller gave (``table=``) is used as is: appending to it is the point.
        """
        own = {r.table for r in self.known.values()}
        if single_table or group.name in own or self.target.table_schema(group.name) is None:
            return group
        digest = hashlib.sha256(f"{self.loc.uri}/{'/'.join(group.prefix)}".encode()).hexdigest()
        return replace(group, name=f"{group.name}_{digest[:8]}")

    def _seeds(self, group: FileGroup) -> dict[str, pa.Schema]:
        paths = {f.path for f in group.files}
        names = [group.name, *sorted({r.table for p, r in self.known.items() if p in paths})]
        seeds: dict[str, pa.Schema] = {}
        for name in names:
            schema = self.target.table_schema(name) if name not in seeds else None
            if schema is not None:
                seeds[name] = schema
        return seeds

    def _triage(self, file: DataFile, gone: dict[str, FileRecord]) -> Pending | None:
        """Decide what a listed file needs; None when nothing is to be read."""
        record = self.known.get(file.path)
        table, skip_rows = None, 0
        if record is not None:
            if record.size == file.size and record.mtime_ns == file.mtime_ns and file.mtime_ns:
                self._skip(file)
                return None
            with self.timer("hash"):
                digest = self.loc.sha256(file)
            if digest == record.sha256:
                self.save_records([replace(record, mtime_ns=file.mtime_ns, size=file.size)])
                self._skip(file)
                return None
            with self.timer("hash"):
                prefix = self.loc.sha256(file, limit=record.size) if file.size > record.size else ""
            if prefix != record.sha256:
                self.error(file.path, "the file changed since it was ingested; its earlier rows "
                           "are in the table and cannot be replaced: add new data as new files, "
                           "or drop the table and crawl again", record.table)  # fmt: skip
                self.tick(file.path)
                return None
            table, skip_rows = record.table, record.rows
        elif self._moved(file, gone):
            self._skip(file)
            return None
        try:
            with self.timer("sniff"):
                sniff = sniff_file(self.loc, file)
        except MeshError as exc:
            self.error(file.path, exc.message)
            self.tick(file.path)
            return None
        if sniff is None:  # an empty file: nothing to ingest yet
            self._skip(file)
            return None
        return Pending(file=file, sniff=sniff, table=table, skip_rows=skip_rows)

    def _moved(self, file: DataFile, gone: dict[str, FileRecord]) -> bool:
        candidates = [r for r in gone.values() if r.size == file.size]
        if not candidates:
            return False
        with self.timer("hash"):
            digest = self.loc.sha256(file)
        for old in candidates:
            if old.sha256 == digest:
                self.state.remove_files(self.loc.uri, [old.path])
                del gone[old.path]
                self.known.pop(old.path, None)
                self.save_records([replace(old, path=file.path, mtime_ns=file.mtime_ns)])
                return True
        return False

    def _skip(self, file: DataFile) -> None:
        self.outcome.files_skipped += 1
        self.tick(file.path)
        return None

    def save_records(self, records: Sequence[FileRecord]) -> None:
        with self.timer("state"):
            self.state.save_files(self.loc.uri, records)
        self.known.update({r.path: r for r in records})

    # -- tables whose files disappeared ---------------------------------------------------
    def _handle_missing(self, present: set[str]) -> None:
        by_table: dict[str, list[FileRecord]] = defaultdict(list)
        for record in self.known.values():
            by_table[record.table].append(record)
        deprecated = self.state.deprecated_tables(self.loc.uri)
        for name, records in sorted(by_table.items()):
            gone = [r for r in records if r.path not in present]
            try:
                if len(gone) < len(records):
                    if gone:
                        detail = f"{len(gone)} of {len(records)} files are gone; their rows stay"
                        self._change(name, "files_removed", detail, False)
                    if name in deprecated:
                        self._restore(name)
                elif name not in deprecated:
                    self._all_gone(name, len(records))
            except AccessDeniedError:
                raise
            except MeshError as exc:
                self.error("", f"table {name}: {exc.message}", name)

    def _change(self, table: str, kind: str, detail: str, applied: bool) -> None:
        self.outcome.changes.append(SchemaChange(table, kind, detail, applied))

    def _restore(self, name: str) -> None:
        self.target.set_properties(name, {PROP_DEPRECATED: "false"})
        self.state.set_deprecated(self.loc.uri, name, False, self.run_id)
        self._change(name, "restored", "files are back: the table is no longer deprecated", True)
        if name not in self.outcome.updated and name not in self.outcome.created:
            self.outcome.updated.append(name)

    def _all_gone(self, name: str, count: int) -> None:
        behavior = self.policy.delete_behavior
        detail = f"all {count} files of the table are gone ({behavior.value})"
        if behavior is DeleteBehavior.DEPRECATE_IN_DATABASE:
            self.target.set_properties(name, {PROP_DEPRECATED: "true"})
            self.state.set_deprecated(self.loc.uri, name, True, self.run_id)
            self.outcome.deprecated.append(name)
        elif behavior is DeleteBehavior.DELETE_FROM_DATABASE:
            self.target.drop_table(name)
            self.state.remove_table(self.loc.uri, name)
            self.outcome.deleted.append(name)
        self._change(name, "no_files", detail, behavior is not DeleteBehavior.LOG)
