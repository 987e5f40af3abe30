"""Asynchronous operations: long work (crawls, recipes, ML jobs, pipelines) started over HTTP.

An operation is recorded (``ml_operations``) when it is accepted (QUEUED), marked RUNNING when
a worker takes it, and SUCCEEDED with its JSON result or FAILED with its typed error
(``{"type", "message"}``) when it ends. While it is QUEUED or RUNNING its runner renews a
lease; an operation whose lease ran out belongs to a process that stopped (a restarted or
killed server), and is reported, and recorded, as FAILED.

An operation is visible only to its principal and to the mesh root (:class:`OperationsAPI`);
the record keeps what the principal asked for and what it got, never a storage path (the
server removes paths before recording).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from meshlake.catalog.operation_models import OperationRow
from meshlake.errors import NotFoundError, StorageError
from meshlake.ids import ROOT
from meshlake.service.runtime import MeshRuntime, ServiceBase

__all__ = [
    "ACTIVE",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "Operation",
    "OperationsAPI",
    "fail_expired",
    "finish_operation",
    "new_operation",
    "renew_leases",
    "start_operation",
]

QUEUED, RUNNING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED"
ACTIVE = (QUEUED, RUNNING)


def _aware(t: datetime | None) -> datetime | None:
    return None if t is None or t.tzinfo else t.replace(tzinfo=UTC)


def _iso(t: datetime | None) -> str | None:
    aware = _aware(t)
    return None if aware is None else aware.isoformat()


@dataclass(frozen=True)
class Operation:
    """One operation as recorded.

    Attributes:
        state: QUEUED, RUNNING, SUCCEEDED or FAILED.
        result: the JSON result once SUCCEEDED.
        error: ``{"type", "message"}`` once FAILED (``type`` is a MeshError kind).
    """

    id: str
    kind: str
    principal: str
    state: str
    request: dict[str, Any]
    result: Any
    error: dict[str, Any] | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None

    @property
    def done(self) -> bool:
        """Whether the operation ended (SUCCEEDED or FAILED)."""
        return self.state not in ACTIVE

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "principal": self.principal,
            "state": self.state,
            "request": self.request,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        """Rebuild from :meth:`to_dict`'s form."""
        return cls(
            str(data["id"]),
            str(data["kind"]),
            str(data["principal"]),
            str(data["state"]),
            dict(data.get("request") or {}),
            data.get("result"),
            None if data.get("error") is None else dict(data["error"]),
            data.get("created_at"),
            data.get("started_at"),
            data.get("finished_at"),
        )


def _operation(row: OperationRow) -> Operation:
    return Operation(
        row.id,
        row.kind,
        row.principal,
        row.state,
        dict(row.request or {}),
        row.result,
        None if row.error is None else dict(row.error),
        _iso(row.created_at),
        _iso(row.started_at),
        _iso(row.finished_at),
    )


def interrupted(operation_id: str) -> dict[str, Any]:
    """The error of an operation whose runner stopped."""
    exc = StorageError(
        f"operation {operation_id} was interrupted: the server that ran it stopped before it "
        "finished; start it again"
    )
    return {"type": exc.kind, "message": exc.message}


# ---------------------------------------------------------------------- the runner's side
def new_operation(
    rt: MeshRuntime,
    *,
    operation_id: str,
    principal: str,
    kind: str,
    request: dict[str, Any],
    runner: str,
    lease: timedelta,
) -> Operation:
    """Record an accepted operation (QUEUED, leased to ``runner``)."""
    now = datetime.now(UTC)
    row = OperationRow(
        id=operation_id,
        principal=principal,
        account=principal.split("/", 1)[0],
        kind=kind,
        state=QUEUED,
        request=request,
        result=None,
        error=None,
        runner=runner,
        created_at=now,
        lease_until=now + lease,
    )
    with rt.store.transaction(bump=False) as session:
        session.add(row)
    return Operation(
        operation_id, kind, principal, QUEUED, request, None, None, now.isoformat(), None, None
    )


def start_operation(rt: MeshRuntime, operation_id: str, lease: timedelta) -> bool:
    """Mark a QUEUED operation RUNNING; False when it is no longer QUEUED."""
    now = datetime.now(UTC)
    with rt.store.transaction(bump=False) as session:
        done = session.execute(
            update(OperationRow)
            .where(OperationRow.id == operation_id, OperationRow.state == QUEUED)
            .values(state=RUNNING, started_at=now, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]


def finish_operation(
    rt: MeshRuntime,
    operation_id: str,
    *,
    result: Any = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Record the end of an operation: its result, or its ``{"type", "message"}`` error."""
    with rt.store.transaction(bump=False) as session:
        session.execute(
            update(OperationRow)
            .where(OperationRow.id == operation_id, OperationRow.state.in_(ACTIVE))
            .values(
                state=FAILED if error is not None else SUCCEEDED,
                result=None if error is not None else result,
                error=error,
                finished_at=datetime.now(UTC),
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )


def renew_leases(rt: MeshRuntime, ids: Iterable[str], lease: timedelta) -> None:
    """Extend the leases of the runner's active operations."""
    wanted = list(ids)
    if not wanted:
        return
    with rt.store.transaction(bump=False) as session:
        session.execute(
            update(OperationRow)
            .where(OperationRow.id.in_(wanted), OperationRow.state.in_(ACTIVE))
            .values(lease_until=datetime.now(UTC) + lease)
            .execution_options(synchronize_session=False)
        )


def fail_expired(rt: MeshRuntime, now: datetime | None = None) -> int:
    """Record every active operation whose lease ran out as FAILED (interrupted); returns
    how many."""
    now = now or datetime.now(UTC)
    with rt.store.transaction(bump=False) as session:
        rows = session.scalars(
            select(OperationRow).where(
                OperationRow.state.in_(ACTIVE), OperationRow.lease_until < now
            )
        ).all()
        for row in rows:
            row.state = FAILED
            row.error = interrupted(row.id)
            row.finished_at = now
            row.lease_until = None
        return len(rows)


# ---------------------------------------------------------------------- the principal's side
class OperationsAPI(ServiceBase):
    """The caller's operations (the mesh root sees every principal's)."""

    def _visible(self, row: OperationRow) -> bool:
        return row.principal == self.principal or self.principal == ROOT

    def get(self, operation_id: str) -> Operation:
        """One operation; one whose runner stopped is reported (and recorded) as FAILED.

        Raises:
            NotFoundError: no such operation, or another principal's.
        """
        with self.rt.store.read() as session:
            row = session.get(OperationRow, operation_id)
        if row is None or not self._visible(row):
            raise NotFoundError(f"operation {operation_id} not found")
        lease = _aware(row.lease_until)
        if row.state in ACTIVE and lease is not None and lease < datetime.now(UTC):
            fail_expired(self.rt)
            with self.rt.store.read() as session:
                row = session.get(OperationRow, operation_id)
            assert row is not None
        return _operation(row)

    def list(self, *, limit: int = 100) -> builtins.list[Operation]:
        """The caller's operations, newest first."""
        stmt = select(OperationRow).order_by(OperationRow.created_at.desc()).limit(limit)
        if self.principal != ROOT:
            stmt = stmt.where(OperationRow.principal == self.principal)
        with self.rt.store.read() as session:
            return [_operation(r) for r in session.scalars(stmt)]
