"""The storage lifecycle's table steps: compaction, snapshot expiry, orphan files.

Each Iceberg commit runs under an intent (``service/intents.py``) and each change is audited
in a unit of work; the mechanics are :mod:`meshlake.storage.maintenance`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from meshlake.catalog.models import IntentRow
from meshlake.errors import MeshError
from meshlake.ids import ROOT
from meshlake.resources import Table
from meshlake.service.intents import INTENT_PROPERTY, close_intent, open_intent
from meshlake.service.lifecycle_pins import with_running
from meshlake.service.lifecycle_policy import LifecyclePolicy, TableReport
from meshlake.service.runtime import ServiceBase
from meshlake.storage import maintenance as mt

#: snapshots current this recently are kept (queries of other processes not recorded yet)
UNRECORDED_WINDOW = timedelta(seconds=2)

__all__ = ["TableLifecycleMixin"]


class TableLifecycleMixin(ServiceBase):
    """The per-table half of :class:`~meshlake.service.lifecycle.LifecycleAPI`."""

    def _maintain_tables(
        self,
        scope: set[str] | None,
        policy: LifecyclePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
    ) -> Iterator[TableReport]:
        st = self.state()
        with self.rt.store.read() as session:
            busy = set(
                session.scalars(select(IntentRow.iceberg_id).where(IntentRow.state == "pending"))
            )
        for t in sorted(st.tables.values(), key=lambda t: t.id):
            db = st.databases.get(t.database_id)
            if db is None or db.is_link or (scope is not None and db.account not in scope):
                continue
            name = f"{db.account}.{db.name}.{t.name}"
            if self.principal != ROOT:  # an admin: DESCRIBE on its account's tables (rule 2)
                self.ensure("DESCRIBE", Table(db.name, t.name, account=db.account))
            if t.iceberg_id in busy:
                yield TableReport(name, skipped="a write to the table is in flight")
                continue
            try:
                yield self._maintain(name, db.account, t.iceberg_id, policy, pins, now, dry_run)
            except MeshError as exc:
                yield TableReport(name, error=f"{exc.kind}: {exc.message}")
            except Exception as exc:  # the other tables go on; no third-party text (paths)
                yield TableReport(name, error=f"unexpected {type(exc).__name__}")

    def _maintain(
        self,
        name: str,
        account: str,
        iceberg_id: str,
        policy: LifecyclePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
    ) -> TableReport:
        table = self.rt.tables.load(iceberg_id)
        tpolicy = policy.tables.for_table(table.properties)
        managed = table.location().startswith("file://") and self.rt.managed.is_managed(
            table.location()
        )
        report = TableReport(name)
        label = f"table:{name}"
        if policy.compact:
            report = self._compact(report, label, account, iceberg_id, tpolicy, dry_run)
        if policy.expire_snapshots:
            report = self._expire(
                report, label, account, iceberg_id, tpolicy, pins, now, dry_run, managed
            )
        if policy.remove_orphans and managed:
            report = self._orphans(report, label, account, iceberg_id, tpolicy, now, dry_run)
        return report

    def _compact(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        dry_run: bool,
    ) -> TableReport:
        planned = mt.plan_compaction(self.rt.tables.load(iceberg_id), policy)
        if planned is None:
            return report
        if dry_run:
            return replace(report, compacted=_compaction(planned))
        with self.unit(bump=False) as unit:
            intent = open_intent(
                unit.session,
                "compact_table",
                iceberg_id,
                self.principal,
                {"label": label, "accounts": [account], "rows": planned.rows},
            )
        try:
            done = mt.compact(self.rt.tables, iceberg_id, policy, {INTENT_PROPERTY: intent})
        except BaseException:
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            raise
        if done is None:  # a concurrent writer changed the table: nothing left to compact
            with self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            return report
        summary = _compaction(done)
        with self.change("compact_table", label, [account], after=summary, bump=False) as (
            session,
            _,
        ):
            close_intent(session, intent)
        return replace(report, compacted=summary)

    def _expire(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        pins: mt.Pins,
        now: datetime,
        dry_run: bool,
        managed: bool,
    ) -> TableReport:
        planned = mt.plan_expiry(self.rt.tables.load(iceberg_id), policy, pins, now)
        pinned = {str(k): v for k, v in planned.pinned.items()}
        if not planned.expire:
            return replace(report, snapshots_pinned=pinned)
        if dry_run:
            return replace(
                report,
                snapshots_expired=planned.expire,
                snapshots_pinned=pinned,
                files_removed=report.files_removed + (len(planned.files) if managed else 0),
                bytes_freed=report.bytes_freed + (planned.bytes if managed else 0),
            )
        with self.unit(bump=False) as unit:
            intent = open_intent(
                unit.session,
                "expire_snapshots",
                iceberg_id,
                self.principal,
                {"label": label, "accounts": [account], "snapshot_ids": list(planned.expire)},
            )
        allowed = set(planned.expire)

        def replan(table: Any) -> mt.Expiry:
            # a query not recorded yet read a snapshot current a moment ago; a policy asking
            # for no snapshot age at all (max_snapshot_age 0) accepts that race
            window = min(UNRECORDED_WINDOW, policy.max_snapshot_age)
            again = mt.plan_expiry(table, policy, with_running(self.rt, pins, window), now)
            expire = tuple(s for s in again.expire if s in allowed)
            if expire == again.expire:
                return again
            retain = tuple(sorted({s.snapshot_id for s in table.snapshots()} - set(expire)))
            kept = mt.reachable_files(table, retain).paths
            files = {p: n for p, n in again.files.items() if p not in kept}
            return mt.Expiry(expire, retain, again.pinned, files)

        try:
            done = mt.expire_snapshots(self.rt.tables, iceberg_id, replan)
        except BaseException:
            with contextlib.suppress(Exception), self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            raise
        if not done.expire:  # a concurrent change pinned them all: nothing committed
            with self.rt.store.transaction(bump=False) as session:
                close_intent(session, intent, "rolled_back")
            return replace(report, snapshots_pinned=pinned)
        removed = freed = 0
        if managed:
            root = self.rt.tables.load(iceberg_id).location()
            removed, freed = mt.delete_files(done.files, root)
        after = {"snapshot_ids": list(done.expire), "files_removed": removed, "bytes": freed}
        with self.change("expire_snapshots", label, [account], after=after, bump=False) as (
            session,
            _,
        ):
            close_intent(session, intent)
        return replace(
            report,
            snapshots_expired=done.expire,
            snapshots_pinned={str(k): v for k, v in done.pinned.items()},
            files_removed=report.files_removed + removed,
            bytes_freed=report.bytes_freed + freed,
        )

    def _orphans(
        self,
        report: TableReport,
        label: str,
        account: str,
        iceberg_id: str,
        policy: mt.MaintenancePolicy,
        now: datetime,
        dry_run: bool,
    ) -> TableReport:
        table = self.rt.tables.load(iceberg_id)
        reachable = mt.reachable_files(table, [s.snapshot_id for s in table.snapshots()])
        found = mt.orphan_files(table, reachable, now - policy.orphan_age)
        if not found:
            return report
        if dry_run:
            return replace(
                report,
                orphans_removed=len(found),
                bytes_freed=report.bytes_freed + sum(found.values()),
            )
        removed, freed = mt.delete_files(found, table.location())
        if removed:
            with self.change(
                "remove_orphan_files",
                label,
                [account],
                after={"files_removed": removed, "bytes": freed},
                bump=False,
            ):
                pass
        return replace(report, orphans_removed=removed, bytes_freed=report.bytes_freed + freed)


def _compaction(c: mt.Compaction) -> dict[str, Any]:
    return {
        "files_before": c.files_before,
        "files_after": c.files_after,
        "bytes_before": c.bytes_before,
        "bytes_after": c.bytes_after,
        "rows": c.rows,
        "snapshot_id": c.snapshot_id,
    }
