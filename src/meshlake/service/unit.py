"""One unit of work: the transaction, snapshot and audit of one request.

A facade method runs as one unit (:meth:`ServiceBase.unit`): one store transaction holding the
write lock from its first statement, one governance snapshot taken under that lock, and the
audit events, committed together or not at all. Units nest: a facade calling another facade
inside a unit joins it, so a multi-step operation (approving an access request: a grant, a
re-grant, a link, its DESCRIBE grant) is one transaction.

The snapshot sees the unit's own pending writes: when the unit wrote something since the
snapshot was taken, :meth:`Unit.state` bumps the version inside the transaction and re-reads
the rows it wrote (the change log) from its own session (never cached: it may roll back). A
re-grant that needs the grant written one step earlier is thus decided on a state that holds
it, and a lost race can never leave half of an operation behind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from meshlake.catalog.store import OpenTransaction, touches_governance
from meshlake.events import EventRecord, EventScope, append_event
from meshlake.governance.state import GovernanceState

if TYPE_CHECKING:
    from meshlake.service.runtime import MeshRuntime

__all__ = ["Unit", "in_unit"]

P = ParamSpec("P")
R = TypeVar("R")


def in_unit(method: Callable[P, R]) -> Callable[P, R]:
    """Run a facade method as one unit of work (joining the open one, if any).

    Never for a method that commits Iceberg (pyiceberg commits on its own connection and
    cannot run while the unit holds the store's write lock): those use intents.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with args[0].unit(bump=False):  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


class Unit:
    """The open unit of work of the current context (see the module docstring)."""

    def __init__(self, rt: MeshRuntime, tx: OpenTransaction) -> None:
        self.rt = rt
        self.tx = tx
        self._state = rt.engine.state()
        self._seen = tx.writes

    @property
    def session(self) -> Session:
        """The unit's store session (its transaction)."""
        return self.tx.session

    def state(self) -> GovernanceState:
        """The snapshot to decide on: committed state under the lock plus pending writes."""
        self.tx.session.flush()
        if self.tx.writes != self._seen:
            if touches_governance(self.tx.written):
                version = self.rt.store.bump_pending()
                self._state = self.rt.engine.load_pending(self.tx.session, version, self._state)
            self._seen = self.tx.writes
        return self._state

    def audit(
        self,
        *,
        principal: str,
        action: str,
        resource: str,
        accounts: list[str],
        data: dict[str, Any] | None = None,
        category: str = "change",
    ) -> str:
        """Append an audit event in the unit's transaction; returns its hash."""
        return self.rt.audit.append(
            self.tx.session,
            category=category,
            principal=principal,
            action=action,
            resource=resource,
            accounts=[a for a in accounts if a],
            data=data,
        )

    def emit(
        self,
        type: str,
        source: str,
        subject: str,
        data: dict[str, Any] | None = None,
        *,
        principal: str,
        scope: EventScope | None = None,
    ) -> EventRecord:
        """Append an outbox event (CloudEvents) in the unit's transaction: it commits with
        the change or not at all. Webhook deliveries it creates are dispatched, and the
        triggers it may fire run, right after the commit (embedded mode; see
        ``service/events.py``)."""
        record, webhooks = append_event(
            self.tx.session,
            type=type,
            source=source,
            subject=subject,
            principal=principal,
            data=data,
            scope=scope,
        )
        from meshlake.service.events import after_commit

        after_commit(self.rt, self.tx.session, webhooks=bool(webhooks))
        return record
