"""``Mesh`` and ``Session``: the one Python API of meshlake (embedded implementation).

>>> import meshlake, tempfile
>>> mesh = meshlake.connect(tempfile.mkdtemp())
>>> root = mesh.bootstrap()
>>> root.accounts.create("central").name
'central'
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from meshlake.service.events import EventsAPI
    from meshlake.service.lifecycle import LifecycleAPI
    from meshlake.service.ml import MLAPI

from meshlake.audit.anchor import KEY_FILE, AuditAnchor, Checkpoint
from meshlake.audit.log import AuditEvent, AuditLog, VerifyReport
from meshlake.catalog.errors import guarded_version, store_errors
from meshlake.catalog.models import MetaRow
from meshlake.catalog.store import CatalogStore
from meshlake.config import Settings, load_settings
from meshlake.errors import AccessDeniedError, NotFoundError
from meshlake.events.destinations import WebhookPolicy
from meshlake.governance.engine import Decision, GovernanceEngine
from meshlake.governance.explain import explain_decision
from meshlake.governance.managed import ManagedStorage
from meshlake.governance.permissions import Action
from meshlake.ids import ROOT, PrincipalId
from meshlake.query.results import QueryResult
from meshlake.resources import Resource
from meshlake.service.access import AccessAPI
from meshlake.service.accounts import AccountsAPI, PrincipalsAPI
from meshlake.service.catalog import CatalogAPI
from meshlake.service.filters import FiltersAPI
from meshlake.service.grants import EffectiveView, GrantInfoView, GrantsAPI
from meshlake.service.intents import RepairOutcome, repair
from meshlake.service.operations import OperationsAPI
from meshlake.service.products import ProductsAPI
from meshlake.service.queries import QueryAPI
from meshlake.service.runtime import MeshRuntime
from meshlake.service.storage import StorageAPI
from meshlake.service.tags import TagsAPI
from meshlake.service.tokens import TokensAPI
from meshlake.storage.crawler import CrawlRun
from meshlake.storage.errors import os_error
from meshlake.storage.iceberg import TableStore

__all__ = ["Mesh", "Session", "connect"]

BOOTSTRAP_KEY = "bootstrapped"


def connect(
    home: str | os.PathLike[str] | None = None,
    *,
    catalog_url: str | None = None,
    warehouse: str | None = None,
    allowed_roots: list[str] | None = None,
    webhook_allowed_hosts: list[str] | None = None,
) -> Mesh:
    """Open (creating if needed) the mesh at ``home``.

    Args:
        home: mesh home folder; default ``$MESHLAKE_HOME`` or ``./.meshlake``.
        catalog_url: catalog store URL; default ``$MESHLAKE_CATALOG_URL`` or SQLite in home.
        warehouse: table data folder URI; default ``<home>/warehouse``.
        allowed_roots: folders principals may name as locations besides registered ones
            (rule 29); default ``$MESHLAKE_ALLOWED_ROOTS``, unset = anywhere outside managed
            storage.
        webhook_allowed_hosts: where webhooks may be sent (``public``, addresses, networks
            such as ``10.0.0.0/8``, host names; each optionally ``:port`` and ``https://``);
            default ``$MESHLAKE_WEBHOOK_ALLOWED_HOSTS``, unset = public addresses only.

    Raises:
        InvalidInputError: a malformed ``webhook_allowed_hosts`` entry.
    """
    return Mesh(load_settings(home, catalog_url, warehouse, allowed_roots, webhook_allowed_hosts))


class Mesh:
    """One deployment: one catalog store, one warehouse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        webhooks = WebhookPolicy.of(settings.webhook_allowed_hosts)  # refuse a bad entry first
        folders = [("the mesh home", settings.home)]
        if settings.warehouse.startswith("file://"):
            folders.append(("the warehouse", Path(settings.warehouse[7:])))
        for what, folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise os_error(exc, what, str(folder)) from exc
        with store_errors(settings.catalog_url):
            store = CatalogStore(settings.catalog_url)
        self.runtime = MeshRuntime(
            settings=settings,
            store=store,
            engine=GovernanceEngine(
                guarded_version(store.version, store.url), store.read_committed
            ),
            tables=TableStore(store.url, settings.warehouse),
            audit=AuditLog(store, AuditAnchor(settings.digests_dir, settings.home / KEY_FILE)),
            managed=ManagedStorage.of(settings.managed_paths(), settings.allowed_roots),
            webhooks=webhooks,
        )
        self.repair()  # finish or roll back what a killed process left half-done

    @property
    def home(self) -> Path:
        """The mesh home folder."""
        return self.settings.home

    def bootstrap(self) -> Session:
        """Mark the mesh initialised and return the root session (idempotent)."""
        with self.runtime.store.transaction(bump=False) as session:
            if session.get(MetaRow, BOOTSTRAP_KEY) is None:
                session.add(MetaRow(key=BOOTSTRAP_KEY, value="1"))
                self.runtime.audit.append(
                    session,
                    category="change",
                    principal=ROOT,
                    action="bootstrap",
                    resource="mesh",
                    accounts=[],
                )
        return Session(self, ROOT)

    def repair(self, *, force: bool = False) -> list[RepairOutcome]:
        """Finish or roll back every change a killed process left between its Iceberg
        commit and its store transaction (each with an audit event).

        Args:
            force: also take changes whose process may still run elsewhere (use only when
                no other process writes to this mesh).
        """
        return repair(self.runtime, force=force)

    @property
    def bootstrapped(self) -> bool:
        """True once :meth:`bootstrap` ran."""
        with self.runtime.store.read() as session:
            return session.get(MetaRow, BOOTSTRAP_KEY) is not None

    def session(self, principal: str) -> Session:
        """Act as ``principal`` (``account/name``, or ``root``).

        Raises:
            NotFoundError: the principal does not exist.
        """
        pid = PrincipalId.parse(principal)
        if pid.is_root:
            if not self.bootstrapped:
                raise NotFoundError("the mesh is not bootstrapped: call mesh.bootstrap() first")
            return Session(self, ROOT)
        if str(pid) not in self.runtime.engine.state().principals:
            raise NotFoundError(f"principal {principal} not found")
        return Session(self, str(pid))

    def close(self) -> None:
        """Release database connections."""
        self.runtime.tables.close()
        self.runtime.store.dispose()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """Everything a principal can do, each call authorised as that principal."""

    def __init__(self, mesh: Mesh, principal: str) -> None:
        self.mesh = mesh
        self.principal = principal
        self._rt = mesh.runtime

    def __repr__(self) -> str:
        return f"Session({self.principal!r})"

    @property
    def account(self) -> str:
        """The principal's account."""
        return self.principal.split("/", 1)[0]

    # ------------------------------------------------------------ sub-APIs
    @cached_property
    def accounts(self) -> AccountsAPI:
        """Accounts (creation and admins: root only)."""
        return AccountsAPI(self._rt, self.principal)

    @cached_property
    def principals(self) -> PrincipalsAPI:
        """Users and roles (creation: root only)."""
        return PrincipalsAPI(self._rt, self.principal)

    @cached_property
    def catalog(self) -> CatalogAPI:
        """Databases, resource links, tables and locations."""
        return CatalogAPI(self._rt, self.principal)

    @cached_property
    def tags(self) -> TagsAPI:
        """Tag keys, values and assignments."""
        return TagsAPI(self._rt, self.principal)

    @cached_property
    def filters(self) -> FiltersAPI:
        """Data filters."""
        return FiltersAPI(self._rt, self.principal)

    @cached_property
    def grants(self) -> GrantsAPI:
        """Grants (also reachable as :meth:`grant` / :meth:`revoke`)."""
        return GrantsAPI(self._rt, self.principal)

    @cached_property
    def tokens(self) -> TokensAPI:
        """Bearer tokens of the server (root: any principal; admins: their account's)."""
        return TokensAPI(self._rt, self.principal)

    @cached_property
    def products(self) -> ProductsAPI:
        """Data products: publish, list, versions, search."""
        return ProductsAPI(self._rt, self.principal)

    @cached_property
    def access(self) -> AccessAPI:
        """Access requests to data products."""
        return AccessAPI(self._rt, self.principal)

    @cached_property
    def storage(self) -> StorageAPI:
        """Crawling locations into tables and running curation recipes."""
        return StorageAPI(self._rt, self.principal)

    def crawl(
        self, location: str, *, database: str, table: str | None = None, **kwargs: Any
    ) -> CrawlRun:
        """Crawl files into tables of ``database`` (see :meth:`StorageAPI.crawl`)."""
        return self.storage.crawl(location, database=database, table=table, **kwargs)

    @cached_property
    def ml(self) -> MLAPI:
        """ML on data products: processing, training, model registry, pipelines, lineage."""
        from meshlake.service.ml import MLAPI

        return MLAPI(self._rt, self.principal)

    @cached_property
    def events(self) -> EventsAPI:
        """Event subscriptions, the inbox and webhook deliveries."""
        from meshlake.service.events import EventsAPI

        return EventsAPI(self._rt, self.principal)

    @cached_property
    def lifecycle(self) -> LifecycleAPI:
        """The storage lifecycle: expiry, compaction, orphan removal (admins and root)."""
        from meshlake.service.lifecycle import LifecycleAPI

        return LifecycleAPI(self._rt, self.principal)

    @cached_property
    def operations(self) -> OperationsAPI:
        """Asynchronous operations started through the server (the caller's own)."""
        return OperationsAPI(self._rt, self.principal)

    @cached_property
    def queries(self) -> QueryAPI:
        """Query executions, workgroups and stored results."""
        return QueryAPI(self._rt, self.principal)

    def query(
        self,
        sql: str,
        database: str | None = None,
        workgroup: str | None = None,
        *,
        query_id: str | None = None,
    ) -> QueryResult:
        """Run one governed SELECT as this principal.

        Args:
            sql: one SELECT (DuckDB dialect); tables as ``database.table``.
            database: default database (or resource link) for bare table names.
            workgroup: whose limits apply and where the result is stored (default
                ``primary``).
            query_id: the execution's id, known before it starts (another thread can
                ``queries.cancel`` it); default a new UUID.

        Returns:
            The result: ``.to_arrow()``, ``.to_pandas()``, ``.rows()``, ``.query_id``.
        """
        return self.queries.run(sql, database=database, workgroup=workgroup, query_id=query_id)

    def read_sql_query(
        self, sql: str, database: str | None = None, workgroup: str | None = None
    ) -> pd.DataFrame:
        """Run a governed query and return a pandas DataFrame (awswrangler's shape)."""
        return self.query(sql, database=database, workgroup=workgroup).to_pandas()

    # ------------------------------------------------------------ permissions
    def grant(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> GrantInfoView:
        """Grant permissions on a resource (see :class:`GrantsAPI`)."""
        return self.grants.grant(grantee, resource, permissions, grantable)

    def revoke(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> None:
        """Revoke permissions and, separately, grant options."""
        self.grants.revoke(grantee, resource, permissions, grantable)

    def list_permissions(
        self, principal: str | None = None, resource: Resource | None = None
    ) -> list[GrantInfoView] | list[EffectiveView]:
        """Explicit grants the caller may see (rule 26); with both a principal and a
        resource, that principal's effective permissions on it, with reasons."""
        return self.grants.list_permissions(principal, resource)

    def decide(self, action: str, resource: Resource, principal: str | None = None) -> Decision:
        """Decide for this principal (or, for admins and root, another one).

        Never raises for visibility (rule 0).
        """
        who = principal or self.principal
        self._require_may_ask_for(who, action)
        return self._rt.engine.decide(who, action, resource)

    def check(self, action: str, resource: Resource) -> bool:
        """``decide(...).allowed`` for this principal."""
        return self._rt.engine.decide(self.principal, action, resource).allowed

    def explain(
        self, action: str, resource: Resource, principal: str | None = None
    ) -> dict[str, Any]:
        """The decision path for one (principal, action, resource)."""
        who = principal or self.principal
        self._require_may_ask_for(who, action)
        return explain_decision(self._rt.engine, who, action, resource)

    def _require_may_ask_for(self, who: str, action: str) -> None:
        """Rule 0's order: an unknown principal (NotFoundError), then a malformed action
        (InvalidInputError), then asking about another account's principal (AccessDenied)."""
        if who == self.principal or self.principal == ROOT:
            return
        st = self._rt.engine.state()
        if not isinstance(who, str) or who not in st.principals:
            raise NotFoundError(f"principal {who} not found")
        Action.parse(action)
        if not st.is_admin(self.principal, who.split("/", 1)[0]):
            raise AccessDeniedError("only admins of its account may ask about another principal")

    # ------------------------------------------------------------ audit
    def audit(
        self,
        *,
        category: str | None = None,
        limit: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events the caller may see: its own, and its administered accounts'.

        Args:
            category: ``change`` or ``read`` only.
            limit: the newest ``limit`` events, in chronological order (``None``: all).
            after_seq: only events after this ``seq``; with ``limit`` and no ``before_seq``,
                the *oldest* ``limit`` of them (page forward from a cursor).
            before_seq: only events before this ``seq`` (page back: pass the first ``seq``
                of the page you have).

        Returns:
            Events in chronological (``seq``) order.
        """
        query: dict[str, Any] = {
            "category": category,
            "limit": limit,
            "after_seq": after_seq,
            "before_seq": before_seq,
        }
        if self.principal == ROOT:
            return self._rt.audit.events(**query)
        st = self._rt.engine.state()
        admin_of = [a for a, ps in st.admins.items() if self.principal in ps]
        return self._rt.audit.events(viewer=self.principal, admin_of=admin_of, **query)

    def checkpoint_audit(self) -> Checkpoint | None:
        """Sign the audit chain's head into the digest folder now (root and admins).

        Returns:
            The new checkpoint, the newest one when the head is already anchored, or
            ``None`` when the log is empty.

        Raises:
            AccessDeniedError: the caller administers no account.
            AuditError: the key or the digest folder is unusable.
        """
        self._require_audit_admin("write audit checkpoints")
        return self._rt.audit.checkpoint()

    def verify_audit(self) -> VerifyReport:
        """Check the audit hash chain against the newest signed checkpoint (root and admins).

        Raises:
            AccessDeniedError: the caller administers no account.
        """
        self._require_audit_admin("verify the audit log")
        return self._rt.audit.verify()

    def _require_audit_admin(self, what: str) -> None:
        st = self._rt.engine.state()
        if self.principal != ROOT and not any(self.principal in ps for ps in st.admins.values()):
            raise AccessDeniedError(f"only admins may {what}")
