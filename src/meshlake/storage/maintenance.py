"""Iceberg table maintenance: compaction, snapshot expiry and orphan file removal.

The mechanics only (ARCHITECTURE §4: the store decides who may, this module does it); the
policy, the references that pin snapshots, authority, intents and audit are the service's
(``service/lifecycle.py``). Every metadata change goes through pyiceberg's API: compaction
is one overwrite commit built with a transaction's ``update_snapshot().overwrite()`` (the old
small files deleted, their rows written again into larger files, nothing else touched);
snapshot expiry is pyiceberg's ``ExpireSnapshots`` (``table.maintenance.expire_snapshots()``).
Both are optimistic commits: a concurrent writer makes them fail and they are planned again
from the new metadata (:meth:`~meshlake.storage.iceberg.TableStore.commit`).

A file is deleted only when no retained snapshot reaches it (data files through the
manifests, the manifests through the manifest lists); metadata JSON files are never deleted
(the catalog names the current one and each names its predecessors).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile, ManifestFile
from pyiceberg.table import FileScanTask, Transaction
from pyiceberg.table import Table as IcebergTable
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots

from meshlake.errors import InvalidInputError, StorageError
from meshlake.storage.iceberg import TableStore, local_path

__all__ = [
    "Compaction",
    "Expiry",
    "MaintenancePolicy",
    "Pins",
    "Reachable",
    "compact",
    "delete_files",
    "expire_snapshots",
    "orphan_files",
    "plan_compaction",
    "plan_expiry",
    "reachable_files",
]

#: Iceberg's standard table properties a table may carry to override the mesh's policy.
MIN_SNAPSHOTS_TO_KEEP = "history.expire.min-snapshots-to-keep"
MAX_SNAPSHOT_AGE_MS = "history.expire.max-snapshot-age-ms"
#: Snapshot summary key marking a lifecycle commit (its value: what it did).
LIFECYCLE_PROPERTY = "meshlake.lifecycle"
MIB = 1 << 20


@dataclass(frozen=True)
class MaintenancePolicy:
    """How a table is kept (the defaults are Iceberg's and Spark's where they exist).

    Attributes:
        keep_last: snapshots kept whatever their age (the newest; the current one always).
        max_snapshot_age: snapshots younger than this are kept.
        small_file_bytes: a data file smaller than this is small.
        compact_min_files: a table is compacted when it has more small files than this.
        orphan_age: an unreferenced file is removed only once it is older than this (a
            concurrent writer's files are young until it commits).
    """

    keep_last: int = 1
    max_snapshot_age: timedelta = timedelta(days=5)
    small_file_bytes: int = 32 * MIB
    compact_min_files: int = 16
    orphan_age: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        if not isinstance(self.keep_last, int) or self.keep_last < 1:
            raise InvalidInputError("keep_last must be at least 1 (the current snapshot)")
        if self.max_snapshot_age < timedelta(0) or self.orphan_age < timedelta(0):
            raise InvalidInputError("max_snapshot_age and orphan_age must not be negative")
        if self.small_file_bytes < 1 or self.compact_min_files < 1:
            raise InvalidInputError("small_file_bytes and compact_min_files must be positive")

    def for_table(self, properties: Mapping[str, str]) -> MaintenancePolicy:
        """This policy with the table's own Iceberg history properties applied.

        >>> MaintenancePolicy().for_table({MIN_SNAPSHOTS_TO_KEEP: "3"}).keep_last
        3
        """
        keep, age = self.keep_last, self.max_snapshot_age
        try:
            if MIN_SNAPSHOTS_TO_KEEP in properties:
                keep = max(1, int(properties[MIN_SNAPSHOTS_TO_KEEP]))
            if MAX_SNAPSHOT_AGE_MS in properties:
                age = timedelta(milliseconds=max(0, int(properties[MAX_SNAPSHOT_AGE_MS])))
        except ValueError:
            return self  # a malformed property keeps the mesh's policy
        return replace(self, keep_last=keep, max_snapshot_age=age)


@dataclass(frozen=True)
class Pins:
    """Snapshots that must stay readable.

    Attributes:
        snapshot_ids: kept by id (product versions, lineage reads, running time travel).
        since: every snapshot current at or after this time is kept (the oldest running
            query's submission: it reads the snapshot current when it was planned).
        as_of: the snapshot current at each of these times is kept (running queries'
            ``FOR TIMESTAMP AS OF``).
        reasons: why each id is pinned (reported).
        chains: pinned ids whose ancestry is kept too, back to the nearest ``anchors`` id
            (a training read's snapshot back to the product version it descends from, so
            its lineage still finds that version); no anchor reached: the id alone.
        anchors: where such a chain stops (product versions, recipe run targets).
    """

    snapshot_ids: frozenset[int] = frozenset()
    since: datetime | None = None
    as_of: tuple[datetime, ...] = ()
    reasons: Mapping[int, str] = field(default_factory=dict)
    chains: frozenset[int] = frozenset()
    anchors: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Reachable:
    """The files retained snapshots reach, as local paths, with their sizes (bytes)."""

    data: dict[str, int]
    manifests: dict[str, int]
    manifest_lists: set[str]

    @property
    def paths(self) -> set[str]:
        """Every reachable file."""
        return set(self.data) | set(self.manifests) | self.manifest_lists


def _ms(t: datetime) -> int:
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000)


def _current_at(snapshots: list[Snapshot], when_ms: int) -> int | None:
    """The snapshot current at ``when_ms`` (the newest committed at or before it)."""
    found = None
    for snap in sorted(snapshots, key=lambda s: s.timestamp_ms):
        if snap.timestamp_ms <= when_ms:
            found = snap.snapshot_id
    return found


#: Manifest lists and manifests never change once written: what each holds is remembered
#: (bounded), so planning a table again (after a lost commit, for orphans) reads no file twice.
_LISTS: dict[str, tuple[tuple[str, int], ...]] = {}
_ENTRIES: dict[str, tuple[tuple[str, int], ...]] = {}
_CACHE_MAX = 65_536


def _remember(cache: dict[str, Any], key: str, value: Any) -> Any:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


def reachable_files(table: IcebergTable, snapshot_ids: Iterable[int]) -> Reachable:
    """The data files, manifests and manifest lists the given snapshots reach."""
    data: dict[str, int] = {}
    manifests: dict[str, int] = {}
    lists: set[str] = set()
    for sid in snapshot_ids:
        snap = table.metadata.snapshot_by_id(sid)
        if snap is None:
            continue
        lists.add(local_path(snap.manifest_list))
        held = _LISTS.get(snap.manifest_list)
        read: dict[str, ManifestFile] = {}
        if held is None:
            read = {m.manifest_path: m for m in snap.manifests(table.io)}
            held = tuple((p, m.manifest_length) for p, m in read.items())
            _remember(_LISTS, snap.manifest_list, held)
        for manifest_path, length in held:
            path = local_path(manifest_path)
            if path in manifests:
                continue  # manifests are shared between snapshots: read each once
            manifests[path] = length
            entries = _ENTRIES.get(manifest_path)
            if entries is None:
                if not read:
                    read = {m.manifest_path: m for m in snap.manifests(table.io)}
                live = read[manifest_path].fetch_manifest_entry(table.io, discard_deleted=True)
                entries = tuple(
                    (local_path(e.data_file.file_path), e.data_file.file_size_in_bytes)
                    for e in live
                )
                _remember(_ENTRIES, manifest_path, entries)
            data.update(entries)
    return Reachable(data, manifests, lists)


@dataclass(frozen=True)
class Expiry:
    """What expiring a table's old snapshots removes.

    Attributes:
        expire: the snapshot ids to expire, oldest first.
        retain: the ids kept.
        pinned: kept only because something references them (id -> why).
        files: the files only expired snapshots reach (local path -> bytes).
    """

    expire: tuple[int, ...]
    retain: tuple[int, ...]
    pinned: dict[int, str]
    files: dict[str, int]

    @property
    def bytes(self) -> int:
        """Bytes the files take."""
        return sum(self.files.values())


def _retained(
    table: IcebergTable, policy: MaintenancePolicy, pins: Pins, now: datetime
) -> tuple[set[int], dict[int, str]]:
    """The snapshot ids kept by policy or pins, and the pinned ones beyond the policy."""
    snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    keep: set[int] = {s.snapshot_id for s in snapshots[-policy.keep_last :]}
    keep |= {ref.snapshot_id for ref in table.metadata.refs.values()}  # branches and tags
    young = _ms(now - policy.max_snapshot_age)
    keep |= {s.snapshot_id for s in snapshots if s.timestamp_ms >= young}
    pinned: dict[int, str] = {}
    for s in snapshots:
        if s.snapshot_id in pins.snapshot_ids:
            pinned[s.snapshot_id] = pins.reasons.get(s.snapshot_id, "referenced")
    parents = {s.snapshot_id: s.parent_snapshot_id for s in snapshots}
    for sid in pins.chains & parents.keys():
        chain: list[int] = []
        current: int | None = sid
        while current is not None and current in parents and current not in chain:
            chain.append(current)
            if current in pins.anchors:
                break
            current = parents[current]
        if chain[-1] in pins.anchors:
            for ancestor in chain[1:]:
                pinned.setdefault(ancestor, f"the lineage of snapshot {sid}")
    if pins.since is not None:
        since = _ms(pins.since)
        first = _current_at(snapshots, since)
        for s in snapshots:
            if s.timestamp_ms >= since or s.snapshot_id == first:
                pinned.setdefault(s.snapshot_id, "a running query")
    for when in pins.as_of:
        travel = _current_at(snapshots, _ms(when))
        if travel is not None:
            pinned.setdefault(travel, "a running query's time travel")
    return keep | set(pinned), {k: v for k, v in pinned.items() if k not in keep}


def plan_expiry(
    table: IcebergTable, policy: MaintenancePolicy, pins: Pins, now: datetime
) -> Expiry:
    """Which snapshots expire under ``policy``, never one that ``pins`` holds.

    A snapshot expires when it is not among the ``keep_last`` newest, older than
    ``max_snapshot_age``, not a branch or tag head and not pinned.
    """
    retain, pinned = _retained(table, policy, pins, now)
    expire = tuple(
        s.snapshot_id
        for s in sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
        if s.snapshot_id not in retain
    )
    if not expire:
        return Expiry((), tuple(sorted(retain)), pinned, {})
    kept = reachable_files(table, retain)
    gone = reachable_files(table, expire)
    files = {p: n for p, n in gone.data.items() if p not in kept.data}
    files |= {p: n for p, n in gone.manifests.items() if p not in kept.manifests}
    for p in gone.manifest_lists - kept.manifest_lists:
        files[p] = _size(p)
    return Expiry(expire, tuple(sorted(retain)), pinned, files)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _ExpireMany(ExpireSnapshots):
    """pyiceberg's snapshot expiry (``table.maintenance.expire_snapshots()``), given many
    ids at once: ``by_ids`` copies the table's metadata twice per id (quadratic in the
    number of snapshots), this checks them against one copy. The commit is pyiceberg's,
    which drops branch and tag heads from the set again."""

    def by_known_ids(self, snapshot_ids: Iterable[int]) -> _ExpireMany:
        metadata = self._transaction.table_metadata
        ids = set(snapshot_ids)
        missing = sorted(i for i in ids if metadata.snapshot_by_id(i) is None)
        if missing:
            raise ValueError(f"snapshots {missing} do not exist")
        heads = {ref.snapshot_id for ref in metadata.refs.values()}
        self._snapshot_ids_to_expire |= ids - heads
        return self


def expire_snapshots(
    tables: TableStore,
    iceberg_id: str,
    plan: Callable[[IcebergTable], Expiry],
) -> Expiry:
    """Expire snapshots in one metadata commit (pyiceberg's ``expire_snapshots``), planned
    on the table as loaded for the commit (again after losing to a concurrent writer).

    Returns:
        The expiry committed (nothing when the plan is empty). Its files are not deleted
        here: see :func:`delete_files`.
    """

    def go(table: IcebergTable) -> Expiry:
        expiry = plan(table)
        if expiry.expire:
            _ExpireMany(Transaction(table, autocommit=True)).by_known_ids(expiry.expire).commit()
        return expiry

    return tables.commit(iceberg_id, go)


def delete_files(paths: Iterable[str], root: str) -> tuple[int, int]:
    """Delete local files lying below ``root`` (a table's folder); returns (count, bytes).

    A path outside ``root`` is never touched, whatever a manifest says.
    """
    base = os.path.realpath(local_path(root)).rstrip("/") + "/"
    count = freed = 0
    for path in paths:
        real = os.path.realpath(path)
        if not real.startswith(base):
            continue
        try:
            size = os.path.getsize(real)
            os.remove(real)
        except FileNotFoundError:
            continue
        count, freed = count + 1, freed + size
    return count, freed


def orphan_files(table: IcebergTable, reachable: Reachable, older_than: datetime) -> dict[str, int]:
    """Files in the table's local folder that no retained snapshot reaches and that were
    last written before ``older_than`` (metadata JSON files excepted); path -> bytes."""
    root = local_path(table.location())
    if "://" in root or not os.path.isdir(root):
        return {}
    keep = reachable.paths
    cutoff = (older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC)).timestamp()
    out: dict[str, int] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".metadata.json") or name == "version-hint.text":
                continue
            path = os.path.join(folder, name)
            if path in keep:
                continue
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if stat.st_mtime < cutoff:
                out[path] = stat.st_size
    return out


@dataclass(frozen=True)
class Compaction:
    """A compaction of a table's small files.

    Attributes:
        files_before: the small files rewritten.
        files_after: the files they were rewritten into.
        bytes_before, bytes_after: their sizes.
        rows: the rows rewritten.
        snapshot_id: the overwrite snapshot (None: planned only).
        replaced: the rewritten files (local path -> bytes), still reached by older
            snapshots until they expire.
    """

    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    rows: int
    snapshot_id: int | None = None
    replaced: dict[str, int] = field(default_factory=dict)


def plan_compaction(table: IcebergTable, policy: MaintenancePolicy) -> Compaction | None:
    """The current snapshot's small files when there are more than the policy allows
    (None: nothing to compact, or row-level delete files that compaction does not apply)."""
    snap = table.current_snapshot()
    if snap is None:
        return None
    tasks = list(table.scan(snapshot_id=snap.snapshot_id).plan_files())
    if any(t.delete_files for t in tasks):
        return None
    small = [t for t in tasks if t.file.file_size_in_bytes < policy.small_file_bytes]
    if len(small) <= policy.compact_min_files:
        return None
    return Compaction(
        len(small),
        0,
        sum(t.file.file_size_in_bytes for t in small),
        0,
        sum(t.file.record_count for t in small),
        replaced={local_path(t.file.file_path): t.file.file_size_in_bytes for t in small},
    )


def _rewrite(
    table: IcebergTable, tasks: list[FileScanTask], rows: pa.Table, summary: dict[str, str]
) -> list[DataFile]:
    """One overwrite commit: ``tasks``' files out, ``rows`` written into new files in."""
    with (
        table.transaction() as txn,
        txn.update_snapshot(snapshot_properties=summary).overwrite() as overwrite,
    ):
        for task in tasks:
            overwrite.delete_data_file(task.file)
        written = list(
            _dataframe_to_data_files(
                table_metadata=txn.table_metadata,
                df=rows,
                io=table.io,
                write_uuid=overwrite.commit_uuid or uuid.uuid4(),
            )
        )
        for data_file in written:
            overwrite.append_data_file(data_file)
    return written


def compact(
    tables: TableStore,
    iceberg_id: str,
    policy: MaintenancePolicy,
    properties: dict[str, str],
) -> Compaction | None:
    """Rewrite the current snapshot's small files into larger ones in one overwrite commit
    (the rows exactly, in the current schema; other files untouched).

    Planned on the table as loaded for the commit, and again after losing to a concurrent
    writer; ``properties`` go into the snapshot's summary (the intent id, for repair).

    Returns:
        What was rewritten (None: nothing to compact).
    """

    def go(table: IcebergTable) -> Compaction | None:
        snap = table.current_snapshot()
        planned = plan_compaction(table, policy)
        if planned is None or snap is None:
            return None
        tasks = [
            t
            for t in table.scan(snapshot_id=snap.snapshot_id).plan_files()
            if local_path(t.file.file_path) in planned.replaced
        ]
        rows: pa.Table = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(
            tasks
        )
        if rows.num_rows != planned.rows:
            raise StorageError(
                f"compaction of {tables.label(iceberg_id)} read {rows.num_rows} rows from files "
                f"that hold {planned.rows}: nothing was changed"
            )
        summary = {**properties, LIFECYCLE_PROPERTY: "compaction"}
        # a concurrent writer's commit makes this one fail (pyiceberg's ValidationException
        # after rebasing it): TableStore.commit plans it again on the new metadata
        written = _rewrite(table, tasks, rows, summary)
        current = table.current_snapshot()
        return replace(
            planned,
            files_after=len(written),
            bytes_after=sum(f.file_size_in_bytes for f in written),
            snapshot_id=current.snapshot_id if current else None,
        )

    return tables.commit(iceberg_id, go)
