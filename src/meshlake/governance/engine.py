"""The decision engine: ``decide(principal, action, resource) -> Decision``.

Decisions are pure functions of the current :class:`GovernanceState`, which the engine
brings up to date whenever the store version moves (re-reading only what the store's change
log names: ``loading.py``). Nothing here raises for visibility: a missing or
invisible resource is simply "not allowed" (rule 0); the ``require_*`` helpers used by the
service layer raise the rule-0 kinds.
"""

from __future__ import annotations

import atexit
import functools
import gc
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from meshlake.errors import AccessDeniedError, InvalidInputError, NotFoundError
from meshlake.governance.access import (
    Access,
    database_access,
    grants_index,
    table_access,
)
from meshlake.governance.loading import begin_snapshot, load_state
from meshlake.governance.locations import canonical_location
from meshlake.governance.models import decide_model_group
from meshlake.governance.permissions import DESCRIBE, SELECT, Action
from meshlake.governance.policy import TablePolicy, TableRef
from meshlake.governance.state import DbInfo, GovernanceState, TableInfo
from meshlake.governance.visibility import visible_through_tables
from meshlake.resources import (
    Catalog,
    Column,
    Database,
    DataFilter,
    Location,
    ModelGroup,
    Resource,
    Table,
    TagKey,
    TagPolicy,
)

__all__ = ["Decision", "GovernanceEngine", "ResolvedTable"]


@dataclass(frozen=True)
class Decision:
    """The answer to one (principal, action, resource) question."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class ResolvedTable:
    """A table reference resolved for a principal (through a link if one was named)."""

    table: TableInfo
    database: DbInfo
    link: DbInfo | None

    @property
    def ref(self) -> TableRef:
        """The table's owning account, database and name."""
        return TableRef(self.database.account, self.database.name, self.table.name)


NOT_VISIBLE = "not visible"


def _describe(resource: Resource) -> str:
    """A resource as messages name it."""
    name = type(resource).__name__.lower()
    fields = [str(v) for v in vars(resource).values() if v not in (None, (), [])]
    return f"{name} {'.'.join(fields)}" if fields else name


class GovernanceEngine:
    """Decides for principals over the store's current state.

    Args:
        version: returns the store's current governance version (asked before decisions).
        read: opens a fresh read session on the committed store (states are loaded from it,
            each in one snapshot).
        freeze_gc: after loading a state, move every object the garbage collector tracks
            into its permanent generation (``gc.freeze``), and back (``gc.unfreeze``) before
            the next load. A state of 10,000 tables is ~1M objects: otherwise the first
            collections after each load walk all of them (~0.3 s, paid by whichever request
            triggers them) and later full collections keep walking them. Objects frozen this
            way are still freed by reference counting; only cyclic garbage waits for the
            next load. Turn off when the host process manages ``gc.freeze`` itself.
    """

    def __init__(
        self,
        version: Callable[[], int],
        read: Callable[[], AbstractContextManager[Any]],
        *,
        freeze_gc: bool = True,
    ) -> None:
        self._version = version
        self._read = read
        self.freeze_gc = freeze_gc
        self._state: GovernanceState | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- state
    def state(self) -> GovernanceState:
        """The current state, brought up to date when the store changed.

        A state holds the version of the snapshot it was read from, which may be newer than
        the one asked for: it is current for every version up to its own.
        """
        version = self._version()
        st = self._state
        if st is None or st.version < version:
            with self._lock:
                st = self._state
                if st is None or st.version < version:
                    st = self._load(version)
                    self._state = st
        return st

    def invalidate(self) -> None:
        """Forget the held state: the next decision loads it whole (benchmarks, tests)."""
        with self._lock:
            self._state = None

    def _load(self, version: int) -> GovernanceState:
        gc_was_enabled = gc.isenabled()
        gc.disable()  # loading allocates ~1M acyclic objects at 10k tables
        try:
            if self.freeze_gc:
                gc.unfreeze()  # the previous state's objects become collectable again
            with self._read() as session:
                begin_snapshot(session)
                st = load_state(GovernanceState(version=version), session, self._state)
            if self.freeze_gc:
                _unfreeze_at_exit()
                gc.freeze()
        finally:
            if gc_was_enabled:
                gc.enable()
        return st

    def ensure(
        self,
        principal: str,
        action: str,
        resource: Resource,
        st: GovernanceState | None = None,
    ) -> Decision:
        """:meth:`decide`, raising rule 0's errors when not allowed.

        Raises:
            NotFoundError: the resource is missing or invisible to the principal.
            AccessDeniedError: visible, but the action is not allowed.
        """
        decision = self.decide(principal, action, resource, st)
        if decision.allowed:
            return decision
        if decision.reason == NOT_VISIBLE:
            raise NotFoundError(f"{_describe(resource)} not found")
        raise AccessDeniedError(
            f"{principal} may not {action.lower().replace('_', ' ')} on {_describe(resource)} "
            f"({action.upper()}: {decision.reason}); ask its owner or an admin of its account "
            "for a grant"
        )

    def load_pending(self, session: Any, version: int, base: GovernanceState) -> GovernanceState:
        """A snapshot of ``base`` plus the pending writes of ``session``'s open transaction
        (bumped to ``version`` inside it). Never cached: the transaction may roll back."""
        return load_state(GovernanceState(version=version), session, base)

    # ---------------------------------------------------------------- resolution
    @staticmethod
    def account_of(principal: str) -> str:
        """The account part of ``account/name``."""
        return principal.split("/", 1)[0]

    def find_database(
        self, st: GovernanceState, principal: str, name: str, account: str | None = None
    ) -> DbInfo | None:
        """A database or link by name, in ``account`` (default: the principal's)."""
        db_id = st.db_by_name.get((account or self.account_of(principal), name))
        return st.databases.get(db_id) if db_id is not None else None

    def database_visible(self, st: GovernanceState, principal: str, db: DbInfo) -> bool:
        """Rule 7 and 25: may ``principal`` see this database or link?"""
        if database_access(st, principal, db.id).visible:
            return True
        return visible_through_tables(st, principal, db)

    def link_target(self, st: GovernanceState, link: DbInfo) -> DbInfo | None:
        """The database a link points to, if it exists (links are not followed in chains)."""
        if not link.is_link:
            return link
        tid = st.db_by_name.get((link.link_account or "", link.link_database or ""))
        target = st.databases.get(tid) if tid is not None else None
        return None if target is None or target.is_link else target

    def resolve_table(
        self,
        st: GovernanceState,
        principal: str,
        database: str,
        table: str,
        account: str | None = None,
    ) -> ResolvedTable | None:
        """Resolve ``database.table`` for a principal; None when missing or invisible."""
        db = self.find_database(st, principal, database, account)
        if db is None:
            return None
        link = None
        if db.is_link:
            if not self.database_visible(st, principal, db):
                return None
            link, db = db, self.link_target(st, db)
            if db is None:
                return None
        tid = st.table_by_name.get((db.id, table))
        if tid is None or not table_access(st, principal, tid).visible:
            return None
        return ResolvedTable(st.tables[tid], db, link)

    # ---------------------------------------------------------------- decisions
    def decide(
        self,
        principal: str,
        action: str | Action,
        resource: Resource,
        st: GovernanceState | None = None,
    ) -> Decision:
        """Decide whether ``principal`` may perform ``action`` on ``resource``.

        Never raises for visibility: a missing or invisible resource is not allowed.

        Args:
            st: the snapshot to decide on (a unit of work's); default the current state.

        Raises:
            InvalidInputError: ``action`` is not an action name (:class:`Action`).
        """
        action = Action.parse(action).value
        st = st if st is not None else self.state()
        if principal not in st.principals:
            return Decision(False, NOT_VISIBLE)
        if isinstance(resource, Catalog):
            return self._decide_catalog(st, principal, action, resource)
        if isinstance(resource, Database):
            db = self.find_database(st, principal, resource.name, resource.account)
            if db is None or not self.database_visible(st, principal, db):
                return Decision(False, NOT_VISIBLE)
            if db.is_link and action not in (DESCRIBE, "DROP"):
                target = self.link_target(st, db)
                if target is None or not self.database_visible(st, principal, target):
                    return Decision(False, "the link's target is not visible")
                db = target
            return self._decide_access(database_access(st, principal, db.id), action, True)
        if isinstance(resource, Table):
            rt = self.resolve_table(
                st, principal, resource.database, resource.name, resource.account
            )
            if rt is None:
                return Decision(False, NOT_VISIBLE)
            acc = table_access(st, principal, rt.table.id)
            if action == SELECT:
                cols = acc.select_columns()
                if resource.columns is not None:
                    cols_ok = set(resource.columns) <= cols
                    return Decision(cols_ok, _reason(acc) if cols_ok else "columns not held")
                if cols:
                    return Decision(True, _reason(acc))
                return Decision(False, "no SELECT on any column")
            return self._decide_access(acc, action, True)
        if isinstance(resource, DataFilter):
            return self._decide_filter(st, principal, action, resource)
        if isinstance(resource, Location):
            return self._decide_location(st, principal, action, resource)
        if isinstance(resource, TagKey):
            return self._decide_tag(st, principal, action, resource)
        if isinstance(resource, ModelGroup):
            return decide_model_group(st, principal, action, resource)
        if isinstance(resource, (Column, TagPolicy)):
            return Decision(False, f"{action} is not decided on a {type(resource).__name__}")
        raise InvalidInputError(f"unknown resource {resource!r}")

    @staticmethod
    def _decide_access(acc: Access, action: str, visible: bool) -> Decision:
        if action == DESCRIBE and (acc.visible or visible):
            return Decision(True, _reason(acc) or "visible")
        if action in acc.perms:
            return Decision(True, _reason(acc))
        return Decision(False, f"no grant or rule gives {action}")

    def _decide_catalog(
        self, st: GovernanceState, principal: str, action: str, resource: Catalog
    ) -> Decision:
        account = resource.account or self.account_of(principal)
        if account not in st.accounts or action != "CREATE_DATABASE":
            return Decision(False, NOT_VISIBLE if account not in st.accounts else "not granted")
        if st.is_admin(principal, account):
            return Decision(True, f"admin of account {account} (rule 2)")
        for g in grants_index(st, principal).get(("catalog", 0), ()):
            if g.target_account == account and "CREATE_DATABASE" in g.permissions:
                return Decision(True, f"CREATE_DATABASE on catalog (grant {g.id})")
        return Decision(False, "no grant gives CREATE_DATABASE")

    def _decide_filter(
        self, st: GovernanceState, principal: str, action: str, resource: DataFilter
    ) -> Decision:
        rt = self.resolve_table(st, principal, resource.database, resource.table, resource.account)
        if rt is None:
            return Decision(False, NOT_VISIBLE)
        fid = st.filter_by_name.get((rt.table.id, resource.name))
        if fid is None:
            return Decision(False, NOT_VISIBLE)
        f = st.filters[fid]
        owner = rt.database.account
        if action in (DESCRIBE, "DROP") and (
            f.creator == principal or st.is_admin(principal, owner)
        ):
            return Decision(True, "creator of the filter or admin of the table's account")
        for g in grants_index(st, principal).get(("filter", fid), ()):
            if action in g.permissions or action == DESCRIBE:
                return Decision(True, f"SELECT on the filter (grant {g.id})")
        return Decision(False, NOT_VISIBLE if action == DESCRIBE else "not granted")

    def _decide_location(
        self, st: GovernanceState, principal: str, action: str, resource: Location
    ) -> Decision:
        account = resource.account or self.account_of(principal)
        try:
            uri = canonical_location(resource.uri)
        except InvalidInputError:
            return Decision(False, NOT_VISIBLE)
        lid = next(
            (i for i, (a, u) in st.locations.items() if a == account and u == uri),
            None,
        )
        if lid is None:
            return Decision(False, NOT_VISIBLE)
        if action != "DATA_LOCATION_ACCESS":
            return Decision(False, f"{action} does not apply to a location (rule 5)")
        if st.is_admin(principal, account):
            return Decision(True, f"admin of account {account} (rule 10)")
        for g in grants_index(st, principal).get(("location", lid), ()):
            return Decision(True, f"DATA_LOCATION_ACCESS (grant {g.id})")
        return Decision(False, "no grant gives DATA_LOCATION_ACCESS")

    def _decide_tag(
        self, st: GovernanceState, principal: str, action: str, resource: TagKey
    ) -> Decision:
        from meshlake.governance.tagperms import tag_permissions, visible_key

        key = visible_key(st, principal, resource.key, resource.account)
        if key is None:
            return Decision(False, NOT_VISIBLE)
        values = resource.values if resource.values not in (None, ("*",)) else tuple(key.values)
        held = tag_permissions(st, principal, key)
        if action in ("ALTER", "DROP"):
            ok = action in held.key_perms
        else:
            ok = all(action in held.value_perms.get(v, ()) for v in values)
        return Decision(ok, held.reason if ok else f"no {action} on these tag values")

    # ---------------------------------------------------------------- policies
    def table_policy(
        self,
        principal: str,
        database: str,
        table: str,
        account: str | None = None,
        *,
        st: GovernanceState | None = None,
    ) -> tuple[TablePolicy, ResolvedTable]:
        """The policy the query layer enforces for ``principal`` on a table.

        Args:
            st: decide on this state (a query decides every table on one snapshot);
                default: the current state.

        Raises:
            NotFoundError: the table is missing or invisible (the message reveals nothing).
            AccessDeniedError: the table is visible but no column is readable.
        """
        st = st if st is not None else self.state()
        rt = self.resolve_table(st, principal, database, table, account)
        if rt is None:
            raise NotFoundError(f"table {database}.{table} not found")
        acc = table_access(st, principal, rt.table.id)
        rules = tuple(r for r in acc.rules if r.columns)
        if not rules:
            raise AccessDeniedError(
                f"no SELECT on table {database}.{table}: ask its owner for access"
            )
        cols = set().union(*(r.columns for r in rules))
        visible = tuple(c for c in rt.table.columns if c in cols)
        return TablePolicy(rt.ref, visible, (rules,)), rt


@functools.cache
def _unfreeze_at_exit() -> None:
    """Hand frozen objects back to the collector before the interpreter's final collection
    (extension modules report objects still frozen at exit as leaks)."""
    atexit.register(gc.unfreeze)


def _reason(acc: Access) -> str:
    return "; ".join(dict.fromkeys(acc.reasons)) or "allowed"
