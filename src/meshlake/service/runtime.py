"""What every service of one mesh shares: settings, store, governance engine, tables, audit.

The service APIs (``catalog.api``, ``governance.grants`` ...) receive a :class:`MeshRuntime`
and the acting principal; they never reach for globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshlake.audit.log import AuditLog
from meshlake.catalog.models import WorkgroupRow
from meshlake.catalog.store import CatalogStore
from meshlake.config import Settings
from meshlake.events.destinations import WebhookPolicy
from meshlake.governance.engine import Decision, GovernanceEngine
from meshlake.governance.managed import ManagedStorage
from meshlake.governance.state import GovernanceState
from meshlake.resources import Resource
from meshlake.service.unit import Unit
from meshlake.storage.iceberg import TableStore

__all__ = ["MeshRuntime", "ServiceBase"]


@dataclass
class MeshRuntime:
    """The shared machinery of one mesh."""

    settings: Settings
    store: CatalogStore
    engine: GovernanceEngine
    tables: TableStore
    audit: AuditLog
    managed: ManagedStorage
    #: where webhooks may be sent (checked at subscription and before every delivery)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)
    extras: dict[str, Any] = field(default_factory=dict)


class ServiceBase:
    """Base of the per-principal service APIs."""

    def __init__(self, runtime: MeshRuntime, principal: str) -> None:
        self.rt = runtime
        self.principal = principal

    @property
    def account(self) -> str:
        """The acting principal's account."""
        return self.principal.split("/", 1)[0]

    @contextmanager
    def unit(self, *, bump: bool = True) -> Iterator[Unit]:
        """The unit of work of this request: opened here, or joined when one is open.

        Args:
            bump: the unit changes governance state (grants, tags, catalog ...).
        """
        with self.rt.store.transaction(bump=bump):
            tx = self.rt.store.current()
            assert tx is not None
            if tx.unit is None:
                tx.unit = Unit(self.rt, tx)
            yield tx.unit

    def state(self) -> GovernanceState:
        """The governance snapshot to decide on: the open unit's (with its pending writes),
        else the current state."""
        tx = self.rt.store.current()
        if tx is not None and tx.unit is not None:
            return cast(Unit, tx.unit).state()
        return self.rt.engine.state()

    def ensure(self, action: str, resource: Resource) -> Decision:
        """Rule 0's check for the acting principal on this request's snapshot: the one
        authorization path of the facades.

        Raises:
            NotFoundError: missing or invisible. AccessDeniedError: visible, not allowed.
        """
        return self.rt.engine.ensure(self.principal, action, resource, self.state())

    def decide(self, action: str, resource: Resource, principal: str | None = None) -> Decision:
        """Decide for the acting (or another) principal on this request's snapshot."""
        return self.rt.engine.decide(principal or self.principal, action, resource, self.state())

    def checked_location(self, uri: str, what: str) -> str:
        """A location a principal named, in canonical form, after rule 29's checks.

        Raises:
            InvalidInputError: malformed, inside (or around) managed storage, or outside the
                mesh's allowed roots and registered locations.
        """
        with self.rt.store.read() as session:
            results = list(session.scalars(select(WorkgroupRow.result_location)))
        registered = [u for _, u in self.state().locations.values()]
        return self.rt.managed.check(uri, what, registered, results)  # canonicalises once

    def emit(
        self, type: str, source: str, subject: str, data: Any = None, scope: Any = None
    ) -> Any:
        """Append an outbox event as the acting principal, in the open unit (or one of its
        own): see :meth:`Unit.emit`."""
        with self.unit(bump=False) as unit:
            return unit.emit(type, source, subject, data, principal=self.principal, scope=scope)

    @contextmanager
    def change(
        self,
        action: str,
        resource: str,
        accounts: list[str],
        *,
        before: Any = None,
        after: Any = None,
        bump: bool = True,
    ) -> Iterator[tuple[Session, dict[str, Any]]]:
        """One audited change: yields the transaction and a dict to fill ``after`` into.

        The audit event (rule 28) is written in the same unit of work as the change (this
        opens one, or joins the open one).
        """
        record: dict[str, Any] = {"before": before, "after": after}
        with self.unit(bump=bump) as unit:
            yield unit.session, record
            unit.session.flush()
            unit.audit(
                principal=self.principal,
                action=action,
                resource=resource,
                accounts=accounts,
                data={"before": record.get("before"), "after": record.get("after")},
            )
