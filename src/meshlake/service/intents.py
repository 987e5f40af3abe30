"""Intents: crash safety for changes that commit Iceberg first and the store second.

pyiceberg commits on its own connection, outside the store's transaction (ARCHITECTURE §4).
A change touching both therefore runs in three steps:

1. a unit of work checks the caller's authority and commits an **intent** row (what is about
   to change, on which table, by whom, from which process);
2. the Iceberg commit, tagged with the intent's id (snapshot property ``meshlake.intent``);
3. a unit of work writes the store rows and the audit event and marks the intent ``done``.

A process killed between 1 and 3 leaves a ``pending`` intent. :func:`repair` (run when a mesh
is opened, and by ``meshlake repair``) finds the intents whose process is gone and finishes
or rolls back each one, with an audit event: a committed append is audited (never
unaudited), a half-created table is dropped with its managed files (its name is free
again).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshlake.catalog.models import ColumnRow, IntentRow, TableRow
from meshlake.errors import MeshError
from meshlake.storage.iceberg import TableStore, local_path

if TYPE_CHECKING:
    from meshlake.service.runtime import MeshRuntime

__all__ = ["INTENT_PROPERTY", "RepairOutcome", "close_intent", "open_intent", "repair"]

INTENT_PROPERTY = "meshlake.intent"
PENDING, DONE, ROLLED_BACK = "pending", "done", "rolled_back"
#: An intent of another host is taken as abandoned after this long.
LEASE = timedelta(minutes=15)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_id() -> str:
    """``host:pid:start`` of this process (a reused pid has another start time)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _alive(owner: str) -> bool | None:
    """Whether the owning process still runs (None: it is on another host)."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _start_time(pid) == start


def open_intent(
    session: Session,
    kind: str,
    iceberg_id: str,
    principal: str,
    detail: dict[str, Any],
) -> str:
    """Record an intent in the caller's unit of work; returns its id (commit it before the
    Iceberg commit)."""
    intent_id = str(uuid.uuid4())
    session.add(
        IntentRow(
            id=intent_id,
            kind=kind,
            iceberg_id=iceberg_id,
            principal=principal,
            owner=owner_id(),
            state=PENDING,
            detail=detail,
            created_at=datetime.now(UTC),
        )
    )
    return intent_id


def close_intent(session: Session, intent_id: str, state: str = DONE) -> None:
    """Mark an intent finished in the caller's unit of work."""
    row = session.get(IntentRow, intent_id)
    if row is not None:
        row.state, row.finished_at = state, datetime.now(UTC)


def pending_create(session: Session, iceberg_id: str) -> bool:
    """Whether a table of this Iceberg id is being created (or was, by a crashed process)."""
    return (
        session.scalars(
            select(IntentRow.id).where(
                IntentRow.iceberg_id == iceberg_id,
                IntentRow.kind == "create_table",
                IntentRow.state == PENDING,
            )
        ).first()
        is not None
    )


@dataclass(frozen=True)
class RepairOutcome:
    """What repair did with one intent."""

    intent: str
    kind: str
    table: str
    outcome: str  # completed | rolled_back | skipped

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {
            "intent": self.intent,
            "kind": self.kind,
            "table": self.table,
            "outcome": self.outcome,
        }


def _abandoned(row: IntentRow, now: datetime, force: bool) -> bool:
    if force:
        return True
    alive = _alive(row.owner)
    if alive is None:
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return now - created > LEASE
    return not alive


def repair(rt: MeshRuntime, *, force: bool = False) -> list[RepairOutcome]:
    """Finish or roll back every pending intent whose process is gone.

    Args:
        rt: the mesh runtime.
        force: also take intents whose process may still run (another host within its
            lease): only when no other process writes to the mesh.

    Returns:
        One outcome per pending intent looked at.
    """
    with rt.store.read_committed() as session:
        rows = list(session.scalars(select(IntentRow).where(IntentRow.state == PENDING)))
    now = datetime.now(UTC)
    out: list[RepairOutcome] = []
    for row in rows:
        label = str(row.detail.get("label", row.iceberg_id))
        if not _abandoned(row, now, force):
            out.append(RepairOutcome(row.id, row.kind, label, "skipped"))
            continue
        repair_one = {
            "create_table": _repair_create,
            "drop_table": _repair_drop,
            "alter_table": _repair_alter,
            "rename_column": _repair_alter,
            "expire_snapshots": _repair_expire,
        }.get(row.kind, _repair_write)
        outcome = repair_one(rt, row)
        out.append(RepairOutcome(row.id, row.kind, label, outcome))
    return out


def _finish(rt: MeshRuntime, row: IntentRow, state: str, action: str, data: dict[str, Any]) -> None:
    with rt.store.transaction(bump=False) as session:
        live = session.get(IntentRow, row.id)
        if live is None or live.state != PENDING:  # another repair was first
            return
        close_intent(session, row.id, state)
        rt.audit.append(
            session,
            category="change",
            principal=row.principal,
            action=action,
            resource=str(row.detail.get("label", row.iceberg_id)),
            accounts=list(row.detail.get("accounts", [])),
            data={**data, "intent": row.id, "repaired": True},
        )


def _repair_create(rt: MeshRuntime, row: IntentRow) -> str:
    with rt.store.read_committed() as session:
        created = session.scalars(
            select(TableRow.id).where(TableRow.iceberg_id == row.iceberg_id)
        ).first()
    if created is not None:  # the store transaction committed; only the mark was lost
        with rt.store.transaction(bump=False) as session:
            close_intent(session, row.id)
        return "completed"
    rt.tables.drop(row.iceberg_id)
    location = row.detail.get("location")
    if location and rt.managed.is_managed(location):
        rt.tables.delete_files(location)
    _finish(rt, row, ROLLED_BACK, "create_table_rolled_back", {"location": location})
    return "rolled_back"


def _repair_drop(rt: MeshRuntime, row: IntentRow) -> str:
    """The drop committed (and was audited) with its intent: finish the Iceberg side."""
    rt.tables.drop(row.iceberg_id)
    location = row.detail.get("location")
    if location and rt.managed.is_managed(location):
        rt.tables.delete_files(location)
    with rt.store.transaction(bump=False) as session:
        close_intent(session, row.id)
    return "completed"


def _repair_alter(rt: MeshRuntime, row: IntentRow) -> str:
    """Mirror the Iceberg schema into the store (whether or not the commit happened)."""
    try:
        columns = TableStore.columns(rt.tables.load(row.iceberg_id))
    except MeshError:
        _finish(rt, row, ROLLED_BACK, f"{row.kind}_rolled_back", {})
        return "rolled_back"
    with rt.store.transaction(bump=True) as session:
        table_id = session.scalars(
            select(TableRow.id).where(TableRow.iceberg_id == row.iceberg_id)
        ).first()
        if table_id is None:
            close_intent(session, row.id, ROLLED_BACK)
            return "rolled_back"
        rows = {
            c.field_id: c
            for c in session.scalars(select(ColumnRow).where(ColumnRow.table_id == table_id))
        }
        before = [c.name for c in sorted(rows.values(), key=lambda c: c.position)]
        for i, c in enumerate(columns):
            existing = rows.get(c.field_id)
            if existing is None:
                session.add(
                    ColumnRow(
                        table_id=table_id, position=i, name=c.name, type=c.type, field_id=c.field_id
                    )
                )
            else:
                existing.position, existing.name, existing.type = i, c.name, c.type
    _finish(
        rt,
        row,
        DONE,
        row.kind,
        {"before": {"columns": before}, "after": {"columns": [c.name for c in columns]}},
    )
    return "completed"


def _repair_expire(rt: MeshRuntime, row: IntentRow) -> str:
    """A snapshot expiry committed when one of its snapshots is gone (the files only those
    snapshots reached are left to the next lifecycle run's orphan removal)."""
    planned = set(row.detail.get("snapshot_ids", []))
    try:
        present = {s.snapshot_id for s in rt.tables.load(row.iceberg_id).snapshots()}
    except MeshError:  # the table is gone: nothing to finish
        present = planned
    gone = sorted(planned - present)
    if not gone:
        _finish(rt, row, ROLLED_BACK, f"{row.kind}_rolled_back", {"snapshot_ids": []})
        return "rolled_back"
    _finish(rt, row, DONE, row.kind, {"snapshot_ids": gone})
    return "completed"


def _remove_orphans(rt: MeshRuntime, row: IntentRow) -> int:
    """Delete the data files a failed write left in a managed table folder: files written
    since the intent that no snapshot references, when no other write to the table is in
    flight (its files would look the same)."""
    with rt.store.read_committed() as session:
        others = session.scalars(
            select(IntentRow.id).where(
                IntentRow.iceberg_id == row.iceberg_id,
                IntentRow.state == PENDING,
                IntentRow.id != row.id,
            )
        ).first()
    if others is not None:
        return 0
    try:
        table = rt.tables.load(row.iceberg_id)
    except MeshError:
        return 0
    location = table.location()
    if not location.startswith("file://") or not rt.managed.is_managed(location):
        return 0
    folder = Path(local_path(location)) / "data"
    if not folder.is_dir():
        return 0
    referenced = {
        local_path(p) for p in table.inspect.all_data_files().column("file_path").to_pylist()
    }
    since = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    removed = 0
    for path in folder.rglob("*.parquet"):
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if str(path) not in referenced and written >= since - timedelta(seconds=1):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _repair_write(rt: MeshRuntime, row: IntentRow) -> str:
    snapshot_id = None
    try:
        table = rt.tables.load(row.iceberg_id)
        for snap in table.snapshots():
            summary = snap.summary
            if summary is not None and summary.get(INTENT_PROPERTY) == row.id:
                snapshot_id = snap.snapshot_id
                break
    except MeshError:  # the table is gone or unreadable: nothing was committed to it
        snapshot_id = None
    if snapshot_id is None:
        removed = _remove_orphans(rt, row)
        _finish(
            rt,
            row,
            ROLLED_BACK,
            f"{row.kind}_rolled_back",
            {"snapshot_id": None, "orphan_files_removed": removed},
        )
        return "rolled_back"
    _finish(
        rt,
        row,
        DONE,
        row.kind,
        {"rows": row.detail.get("rows"), "snapshot_id": snapshot_id},
    )
    return "completed"
