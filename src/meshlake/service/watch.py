"""The location watcher: new files landing in a registered location become an event.

Each pass lists the files of every registered local location (``file://``) and compares them
with the fingerprints (size, mtime) kept in the store (``ml_watched_files``). When files
were added or changed, one unit of work records the new fingerprints and emits
``location.files_added`` (source ``/locations/<account>``; data: ``location``, ``files``
(the first 100), ``added``, ``changed``, ``bytes``), which a ``recrawl`` trigger acts on
(its ``location`` defaults to the event's). The comparison is made again inside the unit,
under the store's write lock, so two workers watching at once report each file once.

The event is the mesh's own (principal ``root``); only admins of the location's account see
it (it names a storage location). ``meshlake worker`` watches every ``--watch-every``
seconds; ``session.events.watch()`` does one pass over the caller's account's locations.
Locations on object stores are not watched (yet).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

from sqlalchemy import select

from meshlake.catalog.event_models import WatchedFileRow
from meshlake.events import EventRecord, EventScope
from meshlake.events.watch import Fingerprint, changes, scan
from meshlake.ids import ROOT
from meshlake.service.runtime import MeshRuntime, ServiceBase

__all__ = ["MAX_FILES_LISTED", "watch_locations"]

MAX_FILES_LISTED = 100


def _local_folder(uri: str) -> str | None:
    if not uri.startswith("file://"):
        return None
    return unquote(urlparse(uri).path)


def _record(
    rt: MeshRuntime, account: str, uri: str, listing: dict[str, Fingerprint]
) -> EventRecord | None:
    """Store the fingerprints of ``listing`` and emit the event (one unit of work)."""
    base = ServiceBase(rt, ROOT)
    with base.unit(bump=False) as unit:
        session = unit.session
        rows = {
            r.path: r
            for r in session.scalars(
                select(WatchedFileRow).where(
                    WatchedFileRow.account == account, WatchedFileRow.location == uri
                )
            )
        }
        seen = {p: Fingerprint(r.size, r.mtime_ns) for p, r in rows.items()}
        added, changed, removed = changes(listing, seen)
        now = datetime.now(UTC)
        for path in added:
            f = listing[path]
            session.add(
                WatchedFileRow(
                    account=account,
                    location=uri,
                    path=path,
                    size=f.size,
                    mtime_ns=f.mtime_ns,
                    seen_at=now,
                )
            )
        for path in changed:
            row, f = rows[path], listing[path]
            row.size, row.mtime_ns, row.seen_at = f.size, f.mtime_ns, now
        for path in removed:
            session.delete(rows[path])
        landed = added + changed
        if not landed:
            return None
        return unit.emit(
            "location.files_added",
            f"/locations/{account}",
            f"location:{uri}",
            {
                "location": uri,
                "account": account,
                "files": landed[:MAX_FILES_LISTED],
                "added": len(added),
                "changed": len(changed),
                "bytes": sum(listing[p].size for p in landed),
            },
            principal=ROOT,
            scope=EventScope(accounts=(account,)),
        )


def watch_locations(rt: MeshRuntime, account: str | None = None) -> list[EventRecord]:
    """One pass over the registered local locations (of ``account``, or all); returns the
    ``location.files_added`` events emitted."""
    st = rt.engine.state()
    out: list[EventRecord] = []
    for owner, uri in sorted(set(st.locations.values())):
        if account is not None and owner != account:
            continue
        folder = _local_folder(uri)
        if folder is None:
            continue
        record = _record(rt, owner, uri, scan(folder))
        if record is not None:
            out.append(record)
    return out
