"""Triggers facade: ``on EVENT [where ...] do ACTION`` per account, and the actions.

Actions run as the trigger's owner, through the same facades a session uses (so every
authority check, audit event and outbox event applies):

- ``recrawl``: ``{"location": ..., "database": ..., "table": optional, "account": optional}``;
- ``pipeline``: ``{"pipeline": <pipeline dict or YAML text>}``;
- ``drift_check``: on a ``product.updated`` (or ``table.updated``) event, compare the
  previous version's snapshot with the event's: ``{"table": "db.table" as the owner names it
  (default: the product's), "columns": [...], "psi_threshold": 0.25, "p_threshold": 0.01,
  "then_pipeline": optional pipeline run when drift is found}``; emits ``drift.checked``.

``session.events.triggers`` creates and lists them; ``meshlake worker`` (or
``triggers.run()``) runs them.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meshlake.catalog.event_models import TriggerRow, TriggerRunRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.events.cloud import aware
from meshlake.events.triggers import ACTIONS, TriggerCall, TriggerRunner
from meshlake.ids import check_name
from meshlake.service.events import make_can_see, table_scope
from meshlake.service.runtime import MeshRuntime, ServiceBase

__all__ = ["Trigger", "TriggersAPI", "run_action", "trigger_runner"]


@dataclass(frozen=True)
class Trigger:
    """A trigger of an account."""

    id: int
    account: str
    name: str
    owner: str
    on: str
    where: dict[str, Any]
    action: str
    params: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def _trigger(row: TriggerRow) -> Trigger:
    return Trigger(
        row.id,
        row.account,
        row.name,
        row.owner,
        row.on,
        dict(row.where or {}),
        row.action,
        dict(row.params or {}),
        aware(row.created_at),
    )


def _quote(name: str) -> str:
    return ".".join(f'"{p}"' for p in name.split("."))


def _drift_check(rt: MeshRuntime, call: TriggerCall) -> dict[str, Any]:
    from meshlake.ml.drift import drift_report
    from meshlake.service.products import ProductsAPI
    from meshlake.service.queries import QueryAPI

    p = call.params
    data = call.event.data
    current = data.get("snapshot_id")
    product = data.get("product") or call.event_row.product
    if product is None or current is None:
        raise InvalidInputError("drift_check needs an event with a product and a snapshot_id")
    products = ProductsAPI(rt, call.owner)
    info = products.get(product)
    older = [v for v in products.versions(product) if v.snapshot_id not in (None, current)]
    older = [v for v in older if v.version < int(data.get("version") or 1 << 30)]
    if not older:
        return {"skipped": "no previous version to compare with"}
    reference = older[-1].snapshot_id
    assert reference is not None
    table = _quote(p.get("table") or f"{info.database}.{info.table}")
    cols = p.get("columns")
    select_list = ", ".join(f'"{c}"' for c in cols) if cols else "*"
    queries = QueryAPI(rt, call.owner)

    def read(snapshot: int) -> Any:
        sql = f"SELECT {select_list} FROM {table} FOR VERSION AS OF {snapshot}"
        return queries.run(sql, service="processing").to_arrow()

    report = drift_report(
        read(reference),
        read(current),
        cols,
        psi_threshold=float(p.get("psi_threshold", 0.25)),
        p_threshold=float(p.get("p_threshold", 0.01)),
    )
    result: dict[str, Any] = {
        "product": product,
        "reference_snapshot": reference,
        "current_snapshot": current,
        "trigger": call.name,
        **report.to_dict(),
    }
    owner = ServiceBase(rt, call.owner)
    owner.emit(
        "drift.checked",
        f"/products/{product}/drift",
        f"product:{product}",
        result,
        table_scope(info.table_account, info.database, info.table, product=product),
    )
    if report.drifted and p.get("then_pipeline"):
        from meshlake.service.ml import MLAPI

        execution = MLAPI(rt, call.owner).pipelines.run(p["then_pipeline"])
        result["pipeline_execution"] = execution.id
    return result


def run_action(rt: MeshRuntime, call: TriggerCall) -> dict[str, Any]:
    """Run one trigger's action as its owner.

    Raises:
        whatever the facade raises (recorded on the run).
    """
    p = call.params
    if call.action == "recrawl":
        from meshlake.service.storage import StorageAPI

        run = StorageAPI(rt, call.owner).crawl(
            p["location"], database=p["database"], table=p.get("table"), account=p.get("account")
        )
        return {"crawl": run.id, "state": str(run.state)}
    if call.action == "pipeline":
        from meshlake.service.ml import MLAPI

        execution = MLAPI(rt, call.owner).pipelines.run(p["pipeline"])
        return {"execution": execution.id, "state": execution.state}
    if call.action == "drift_check":
        return _drift_check(rt, call)
    raise InvalidInputError(f"unknown trigger action {call.action}")


def trigger_runner(rt: MeshRuntime) -> TriggerRunner:
    """The mesh's trigger runner (one per runtime)."""
    found = rt.extras.get("events.triggers")
    if found is None:
        found = rt.extras["events.triggers"] = TriggerRunner(
            rt.store, make_can_see(rt), lambda call: run_action(rt, call)
        )
    assert isinstance(found, TriggerRunner)
    return found


_REQUIRED = {"recrawl": ("location", "database"), "pipeline": ("pipeline",), "drift_check": ()}


class TriggersAPI(ServiceBase):
    """Triggers of the caller's account (admins create and delete; they run as the creator)."""

    def create(
        self,
        name: str,
        *,
        on: str,
        do: str,
        where: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Trigger:
        """``on`` an event type pattern, ``where`` field equalities, ``do`` an action with
        its ``params`` (see the module docstring).

        Raises:
            AccessDeniedError: the caller is not an admin of its account.
            InvalidInputError: unknown action or missing parameters.
            ConflictError: the account has a trigger of that name.
        """
        check_name("trigger", name)
        if do not in ACTIONS:
            raise InvalidInputError(f"unknown action {do!r}: use one of {', '.join(ACTIONS)}")
        params = dict(params or {})
        missing = [k for k in _REQUIRED[do] if k not in params]
        if missing:
            raise InvalidInputError(f"action {do} needs params {', '.join(missing)}")
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may create triggers")
        with self.change(
            "create_trigger",
            f"trigger:{self.account}.{name}",
            [self.account],
            after={"on": on, "where": where, "do": do, "params": params},
            bump=False,
        ) as (session, _):
            taken = session.scalars(
                select(TriggerRow.id).where(
                    TriggerRow.account == self.account, TriggerRow.name == name
                )
            ).first()
            if taken is not None:
                raise ConflictError(f"trigger {name} already exists in {self.account}")
            row = TriggerRow(
                account=self.account,
                name=name,
                owner=self.principal,
                on=on,
                where=dict(where or {}),
                action=do,
                params=params,
                active=True,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return _trigger(row)

    def list(self) -> builtins.list[Trigger]:
        """The caller's account's active triggers."""
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(TriggerRow)
                .where(TriggerRow.account == self.account, TriggerRow.active)
                .order_by(TriggerRow.name)
            )
            return [_trigger(r) for r in rows]

    def delete(self, name: str) -> None:
        """Deactivate a trigger of the caller's account (admins).

        Raises:
            NotFoundError: no such trigger.
        """
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may delete triggers")
        with self.change(
            "delete_trigger", f"trigger:{self.account}.{name}", [self.account], bump=False
        ) as (session, _):
            row = session.scalars(
                select(TriggerRow).where(
                    TriggerRow.account == self.account, TriggerRow.name == name, TriggerRow.active
                )
            ).first()
            if row is None:
                raise NotFoundError(f"trigger {name} not found")
            row.active = False

    def runs(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Runs of the account's triggers (oldest first)."""
        query = (
            select(TriggerRunRow, TriggerRow.name)
            .join(TriggerRow, TriggerRow.id == TriggerRunRow.trigger_id)
            .where(TriggerRow.account == self.account)
            .order_by(TriggerRunRow.id)
        )
        if name is not None:
            query = query.where(TriggerRow.name == name)
        with self.rt.store.read() as session:
            return [
                {
                    "trigger": trigger,
                    "event_position": run.event_pk,
                    "state": run.state,
                    "result": run.result,
                    "error": run.error,
                }
                for run, trigger in session.execute(query)
            ]

    def run(self) -> int:
        """Run every account's triggers for the events not handled yet (as a worker does);
        returns how many trigger runs were made."""
        return trigger_runner(self.rt).drain()
