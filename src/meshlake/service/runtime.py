"""What every service of one mesh shares: settings, store, governance engine, tables, audit.

The service APIs (``catalog.api``, ``governance.grants`` ...) receive a :class:`MeshRuntime`
and the acting principal; they never reach for globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from meshlake.audit.log import AuditLog
from meshlake.catalog.store import CatalogStore
from meshlake.config import Settings
from meshlake.governance.engine import GovernanceEngine
from meshlake.governance.managed import ManagedStorage
from meshlake.governance.state import GovernanceState
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

    def state(self) -> GovernanceState:
        """The current governance state."""
        return self.rt.engine.state()

    def checked_location(self, uri: str, what: str) -> str:
        """A location a principal named, in canonical form, after rule 29's checks.

        Raises:
            InvalidInputError: malformed, inside (or around) managed storage, or outside the
                mesh's allowed roots and registered locations.
        """
        from sqlalchemy import select

        from meshlake.catalog.models import WorkgroupRow
        from meshlake.governance.locations import canonical_location

        loc = canonical_location(uri)
        with self.rt.store.read() as session:
            results = list(session.scalars(select(WorkgroupRow.result_location)))
        registered = [u for _, u in self.state().locations.values()]
        return self.rt.managed.check(loc, what, registered, results)

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

        The audit event (rule 28) is written in the same transaction as the change.
        """
        record: dict[str, Any] = {"before": before, "after": after}
        with self.rt.store.transaction(bump=bump) as session:
            yield session, record
            session.flush()
            self.rt.audit.append(
                session,
                category="change",
                principal=self.principal,
                action=action,
                resource=resource,
                accounts=[a for a in accounts if a],
                data={"before": record.get("before"), "after": record.get("after")},
            )
