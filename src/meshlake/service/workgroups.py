"""Workgroups: where an account's query results go, how long they stay, and the limits of
its queries (Athena's workgroups)."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from meshlake.catalog.models import WorkgroupRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.ids import check_name
from meshlake.query.control import QueryLimits
from meshlake.service.runtime import ServiceBase

__all__ = [
    "DEFAULT_MAX_RUNTIME_S",
    "DEFAULT_RETENTION",
    "DEFAULT_WORKGROUP",
    "Workgroup",
    "WorkgroupsAPI",
]

DEFAULT_WORKGROUP = "primary"
DEFAULT_RETENTION = timedelta(days=7)
WORKGROUP_CACHE = "query.workgroups"
WORKGROUP_TTL = 5.0  # seconds a looked-up workgroup is reused
DEFAULT_MAX_RUNTIME_S = 300
MAX_RUNTIME_CAP_S = 7 * 86_400
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_UNSET: Any = object()


@dataclass(frozen=True)
class Workgroup:
    """Where a workgroup's results go, how long they stay, and its queries' limits.

    Attributes:
        max_runtime_s: a query running longer is stopped (FAILED, ``QueryTimeoutError``).
        memory_limit: the engine's memory limit per query (DuckDB spelling, e.g. ``"2GB"``;
            None: the engine's default).
        max_bytes_scanned: a query whose planned files are larger is refused before it runs
            (None: no limit).
    """

    name: str
    account: str
    result_location: str
    retention_seconds: int
    max_runtime_s: int = DEFAULT_MAX_RUNTIME_S
    memory_limit: str | None = None
    max_bytes_scanned: int | None = None

    @property
    def limits(self) -> QueryLimits:
        """The engine-side limits of the workgroup's queries."""
        return QueryLimits(self.max_bytes_scanned, self.memory_limit)


def _workgroup(row: WorkgroupRow) -> Workgroup:
    return Workgroup(
        row.name,
        row.account,
        row.result_location,
        row.retention_seconds,
        row.max_runtime_s,
        row.memory_limit,
        row.max_bytes_scanned,
    )


def _check_limits(
    max_runtime_s: int | None, memory_limit: str | None, max_bytes_scanned: int | None
) -> None:
    if max_runtime_s is not None and (
        isinstance(max_runtime_s, bool)
        or not isinstance(max_runtime_s, int)
        or not 0 < max_runtime_s <= MAX_RUNTIME_CAP_S
    ):
        raise InvalidInputError(
            f"max_runtime_s must be a whole number of seconds from 1 to {MAX_RUNTIME_CAP_S}"
        )
    if memory_limit is not None and (
        not isinstance(memory_limit, str) or not _MEMORY.match(memory_limit)
    ):
        raise InvalidInputError(
            f"memory_limit {memory_limit!r} is not a size: write e.g. '512MB' or '2GB'"
        )
    if max_bytes_scanned is not None and (
        isinstance(max_bytes_scanned, bool)
        or not isinstance(max_bytes_scanned, int)
        or max_bytes_scanned <= 0
    ):
        raise InvalidInputError("max_bytes_scanned must be a positive number of bytes")


class WorkgroupsAPI(ServiceBase):
    """The caller account's workgroups (the base of the query facade)."""

    def _default_location(self, name: str) -> str:
        return (self.rt.settings.results_dir / self.account / name).as_uri()

    def workgroup(self, name: str | None = None) -> Workgroup:
        """A workgroup of the caller's account (``primary`` always exists).

        Looked up on every query, so found workgroups are kept for a few seconds.
        """
        name = name or DEFAULT_WORKGROUP
        cache: dict[tuple[str, str], tuple[float, Workgroup]] = self.rt.extras.setdefault(
            WORKGROUP_CACHE, {}
        )
        hit = cache.get((self.account, name))
        if hit is not None and time.monotonic() - hit[0] < WORKGROUP_TTL:
            return hit[1]
        found = self._load_workgroup(name)
        cache[(self.account, name)] = (time.monotonic(), found)
        return found

    def workgroups(self) -> list[Workgroup]:
        """The caller account's workgroups, by name (``primary`` always among them)."""
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(WorkgroupRow).where(WorkgroupRow.account == self.account)
            ).all()
        found = {row.name: _workgroup(row) for row in rows}
        if DEFAULT_WORKGROUP not in found:
            found[DEFAULT_WORKGROUP] = self._load_workgroup(DEFAULT_WORKGROUP)
        return [found[name] for name in sorted(found)]

    def _load_workgroup(self, name: str) -> Workgroup:
        with self.rt.store.read() as session:
            row = session.scalars(
                select(WorkgroupRow).where(
                    WorkgroupRow.account == self.account, WorkgroupRow.name == name
                )
            ).first()
        if row is not None:
            return _workgroup(row)
        if name == DEFAULT_WORKGROUP:
            return Workgroup(
                name,
                self.account,
                self._default_location(name),
                int(DEFAULT_RETENTION.total_seconds()),
            )
        raise NotFoundError(f"workgroup {name} not found in account {self.account}")

    def create_workgroup(
        self,
        name: str,
        *,
        result_location: str | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        max_runtime_s: int = DEFAULT_MAX_RUNTIME_S,
        memory_limit: str | None = None,
        max_bytes_scanned: int | None = None,
    ) -> Workgroup:
        """Create a workgroup (admins of the account).

        Args:
            name: the workgroup's name in the caller's account.
            result_location: where results are stored (default: under the mesh's results).
            retention: how long results are kept.
            max_runtime_s: queries running longer are stopped (FAILED, timeout).
            memory_limit: the engine's memory limit per query, e.g. ``"2GB"``.
            max_bytes_scanned: queries whose planned files are larger are refused.

        Raises:
            AccessDeniedError: not an admin of the account.
            InvalidInputError: a bad location, retention or limit.
            ConflictError: the workgroup exists.
        """
        check_name("workgroup", name)
        if retention.total_seconds() <= 0:
            raise InvalidInputError("retention must be positive")
        _check_limits(max_runtime_s, memory_limit, max_bytes_scanned)
        loc = (
            self.checked_location(result_location, "a workgroup result location")
            if result_location
            else self._default_location(name)
        )
        if not loc.startswith("file://"):
            raise InvalidInputError(
                f"result location {loc} is not a local folder: results are stored as local "
                "Parquet files in this version; give an absolute path or a file:// URI"
            )
        st = self.state()
        if not st.is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may create workgroups")
        with self.rt.store.read() as session:
            exists = session.scalars(
                select(WorkgroupRow.id).where(
                    WorkgroupRow.account == self.account, WorkgroupRow.name == name
                )
            ).first()
        if exists is not None:
            raise ConflictError(f"workgroup {name} already exists")
        wg = Workgroup(
            name,
            self.account,
            loc,
            int(retention.total_seconds()),
            max_runtime_s,
            memory_limit,
            max_bytes_scanned,
        )
        after = asdict(wg)
        with self.change(
            "create_workgroup",
            f"workgroup:{self.account}.{name}",
            [self.account],
            after=after,
            bump=False,
        ) as (session, _):
            session.add(self._new_row(wg))
        self.rt.extras.get(WORKGROUP_CACHE, {}).pop((self.account, name), None)
        return wg

    def _new_row(self, wg: Workgroup) -> WorkgroupRow:
        return WorkgroupRow(
            account=wg.account,
            name=wg.name,
            result_location=wg.result_location,
            retention_seconds=wg.retention_seconds,
            max_runtime_s=wg.max_runtime_s,
            memory_limit=wg.memory_limit,
            max_bytes_scanned=wg.max_bytes_scanned,
            created_by=self.principal,
            created_at=datetime.now(UTC),
        )

    def update_workgroup(
        self,
        name: str,
        *,
        retention: timedelta | None = None,
        max_runtime_s: int | None = None,
        memory_limit: str | None = _UNSET,
        max_bytes_scanned: int | None = _UNSET,
    ) -> Workgroup:
        """Change a workgroup's retention or query limits (admins of the account).

        Arguments left out keep their value; ``memory_limit=None`` or
        ``max_bytes_scanned=None`` removes that limit. Queries already running keep the
        limits they started with.

        Raises:
            AccessDeniedError: not an admin of the account.
            NotFoundError: no such workgroup.
            InvalidInputError: a bad retention or limit.
        """
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may change workgroups")
        current = self._load_workgroup(name)
        if retention is not None and retention.total_seconds() <= 0:
            raise InvalidInputError("retention must be positive")
        changed = Workgroup(
            current.name,
            current.account,
            current.result_location,
            int(retention.total_seconds()) if retention is not None else current.retention_seconds,
            max_runtime_s if max_runtime_s is not None else current.max_runtime_s,
            current.memory_limit if memory_limit is _UNSET else memory_limit,
            current.max_bytes_scanned if max_bytes_scanned is _UNSET else max_bytes_scanned,
        )
        _check_limits(changed.max_runtime_s, changed.memory_limit, changed.max_bytes_scanned)
        with self.change(
            "update_workgroup",
            f"workgroup:{self.account}.{name}",
            [self.account],
            before=asdict(current),
            after=asdict(changed),
            bump=False,
        ) as (session, _):
            row = session.scalars(
                select(WorkgroupRow)
                .where(WorkgroupRow.account == self.account, WorkgroupRow.name == name)
                .with_for_update()
            ).first()
            if row is None:  # the default workgroup, never stored until now
                session.add(self._new_row(changed))
            else:
                row.retention_seconds = changed.retention_seconds
                row.max_runtime_s = changed.max_runtime_s
                row.memory_limit = changed.memory_limit
                row.max_bytes_scanned = changed.max_bytes_scanned
        self.rt.extras.get(WORKGROUP_CACHE, {}).pop((self.account, name), None)
        return changed
