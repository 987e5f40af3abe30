"""Ingest new files into one table: merge schemas, apply the update policy, append in batches.

Rows of several files go into one commit until a batch reaches the crawl's ``batch_bytes``;
the crawl state records a batch's files right after its commit, so an interrupted crawl
resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from meshlake.errors import AccessDeniedError, InvalidInputError, MeshError
from meshlake.storage.crawler.detect import Classification
from meshlake.storage.crawler.infer import merge_schemas
from meshlake.storage.crawler.location import DataFile, Location
from meshlake.storage.crawler.model import (
    FileRecord,
    SchemaChange,
    SchemaChangePolicy,
    UpdateBehavior,
)
from meshlake.storage.crawler.readers import FileSniff, conform, read_file
from meshlake.storage.crawler.target import (
    PROP_CLASSIFICATION,
    PROP_COMPRESSION,
    PROP_DELIMITER,
    PROP_HEADER_LINES,
    PROP_LOCATION,
    PROP_OBJECT_COUNT,
    PROP_PARTITION_KEYS,
    PROP_RECORD_COUNT,
    CrawlTarget,
)

__all__ = ["CrawlContext", "Pending", "TableIngest"]


@dataclass
class Pending:
    """A file to read: its sniff, partition values, and (for a grown file) its table."""

    file: DataFile
    sniff: FileSniff
    table: str | None = None
    skip_rows: int = 0  # rows of a grown file that were ingested before
    partitions: dict[str, str | None] = field(default_factory=dict)

    def schema(self, partition_types: Mapping[str, pa.DataType]) -> pa.Schema:
        """The file's columns plus its partition columns."""
        fields = list(self.sniff.schema)
        names = set(self.sniff.schema.names)
        fields += [pa.field(k, partition_types[k]) for k in self.partitions if k not in names]
        return pa.schema(fields)


class _Outcome(Protocol):
    created: list[str]
    updated: list[str]
    changes: list[SchemaChange]
    rows: int
    files_read: int
    files_skipped: int


class CrawlContext(Protocol):
    """What a table ingest needs of the running crawl."""

    target: CrawlTarget
    loc: Location
    policy: SchemaChangePolicy
    run_id: str
    batch_bytes: int
    known: dict[str, FileRecord]

    @property
    def outcome(self) -> _Outcome: ...

    def timer(self, name: str) -> AbstractContextManager[None]: ...

    def tick(self, path: str) -> None: ...

    def error(self, path: str, message: str, table: str | None = None) -> None: ...

    def save_records(self, records: Sequence[FileRecord]) -> None: ...


@dataclass
class _Batch:
    files: list[tuple[Pending, pa.Table, str]] = field(default_factory=list)
    nbytes: int = 0

    def __iter__(self) -> Iterator[tuple[Pending, pa.Table, str]]:
        return iter(self.files)


class TableIngest:
    """Append a list of pending files to one table (created when it does not exist)."""

    def __init__(
        self,
        ctx: CrawlContext,
        table: str,
        pendings: Sequence[Pending],
        partition_types: Mapping[str, pa.DataType],
    ) -> None:
        self.ctx, self.table, self.pendings = ctx, table, list(pendings)
        existing = ctx.target.table_schema(table)
        self.current: pa.Schema | None = existing
        self.partition_types = {
            k: existing.field(k).type if existing is not None and k in existing.names else t
            for k, t in partition_types.items()
        }
        self.ingested: list[Pending] = []

    def run(self) -> None:
        """Merge, read, conform and append every pending file; record outcomes."""
        schemas = {p.file.path: p.schema(self.partition_types) for p in self.pendings}
        merged, added = merge_schemas(self.current, schemas.values())
        if self.current is not None and added:
            apply = self.ctx.policy.update_behavior is UpdateBehavior.UPDATE_IN_DATABASE
            for name in added:
                users = sum(name in s.names for s in schemas.values())
                self.ctx.outcome.changes.append(SchemaChange(
                    self.table, "add_column",
                    f"new column {name} ({merged.field(name).type}) in {users} file(s)",
                    apply, name,
                ))  # fmt: skip
            if not apply:
                merged = self.current
                self._hold_back(schemas, set(added))
        batch, failed = _Batch(), False
        hints = {f.name: f.type for f in merged}
        for pending in self.pendings:
            if failed:
                message = "not ingested: an earlier write failed"
                self.ctx.error(pending.file.path, message, self.table)
                self.ctx.tick(pending.file.path)
                continue
            rows_and_hash = self._read(pending, merged, hints)
            self.ctx.tick(pending.file.path)
            if rows_and_hash is None:
                continue
            batch.files.append((pending, *rows_and_hash))
            batch.nbytes += rows_and_hash[0].nbytes
            if batch.nbytes >= self.ctx.batch_bytes:
                failed = not self._flush(batch, merged)
                batch = _Batch()
        if batch.files and not failed:
            self._flush(batch, merged)
        if self.ingested:
            self._set_properties()

    def _hold_back(self, schemas: Mapping[str, pa.Schema], added: set[str]) -> None:
        """Under ``LOG``, files that need the new columns wait for a policy that allows them."""
        kept = []
        for pending in self.pendings:
            if added & set(schemas[pending.file.path].names):
                self.ctx.outcome.files_skipped += 1
                self.ctx.tick(pending.file.path)
            else:
                kept.append(pending)
        self.pendings = kept

    def _read(
        self, pending: Pending, merged: pa.Schema, hints: Mapping[str, pa.DataType]
    ) -> tuple[pa.Table, str] | None:
        try:
            with self.ctx.timer("read"):
                data = read_file(self.ctx.loc, pending.file, pending.sniff, hints)
            rows = data.table
            if pending.skip_rows:
                if rows.num_rows < pending.skip_rows:
                    raise InvalidInputError("the file has fewer rows than were ingested before")
                rows = rows.slice(pending.skip_rows)
            with self.ctx.timer("conform"):
                constants: dict[str, Any] = dict(pending.partitions)
                rows = conform(rows, merged, constants)
        except InvalidInputError as exc:
            self.ctx.error(pending.file.path, exc.message, self.table)
            return None
        return rows, data.sha256

    def _flush(self, batch: _Batch, merged: pa.Schema) -> bool:
        data = pa.concat_tables([rows for _, rows, _ in batch])
        target, outcome = self.ctx.target, self.ctx.outcome
        try:
            with self.ctx.timer("write"):
                if self.current is None:
                    target.create_table(self.table, data)
                    outcome.created.append(self.table)
                else:
                    if not _same(self.current, merged):
                        target.evolve_schema(self.table, merged)
                    target.append(self.table, data)
                    if self.table not in outcome.created and self.table not in outcome.updated:
                        outcome.updated.append(self.table)
                self.current = merged
        except AccessDeniedError:
            raise
        except MeshError as exc:
            for pending, _, _ in batch:
                self.ctx.error(pending.file.path, f"writing table {self.table} failed: "
                               f"{exc.message}", self.table)  # fmt: skip
            return False
        records = [
            FileRecord(self.table, p.file.path, p.file.size, p.file.mtime_ns, sha256,
                       p.skip_rows + rows.num_rows, self.ctx.run_id)
            for p, rows, sha256 in batch
        ]  # fmt: skip
        self.ctx.save_records(records)
        outcome.rows += data.num_rows
        outcome.files_read += len(batch.files)
        self.ingested.extend(p for p, _, _ in batch)
        return True

    def _set_properties(self) -> None:
        sniff = self.ingested[0].sniff
        records = [r for r in self.ctx.known.values() if r.table == self.table]
        props = {
            PROP_CLASSIFICATION: sniff.classification.value,
            PROP_COMPRESSION: sniff.compression or "none",
            PROP_LOCATION: self.ctx.loc.uri,
            PROP_OBJECT_COUNT: str(len(records)),
            PROP_RECORD_COUNT: str(sum(r.rows for r in records)),
        }
        if sniff.classification is Classification.CSV and sniff.dialect is not None:
            props[PROP_DELIMITER] = sniff.dialect.delimiter
            props[PROP_HEADER_LINES] = "1" if sniff.header else "0"
        if self.partition_types:
            props[PROP_PARTITION_KEYS] = ",".join(self.partition_types)
        try:
            self.ctx.target.set_properties(self.table, props)
        except AccessDeniedError:
            raise
        except MeshError as exc:
            message = f"setting properties of {self.table} failed: {exc.message}"
            self.ctx.error("", message, self.table)


def _same(a: pa.Schema, b: pa.Schema) -> bool:
    return a.names == b.names and all(x.type.equals(y.type) for x, y in zip(a, b, strict=True))
