"""Triggers facade: ``on EVENT [where CONDITION] do ACTION`` per account, and the actions.

Actions run as the trigger's owner (its creator, or ``run_as``: a principal of the account
an admin names, like a function's execution role), through the same facades a session uses
(so every authority check, audit event and outbox event applies):

- ``recrawl``: ``{"location": ... (default: the event's, e.g. ``location.files_added``),
  "database": ..., "table": optional, "account": optional}``;
- ``pipeline``: ``{"pipeline": <pipeline dict or YAML text>}``;
- ``drift_check``: on a ``product.updated`` (or ``product.published``) event, compare a
  reference snapshot of the product's table with the event's: ``{"table": "db.table" as the
  owner names it (default: the product's), "columns": [...], "reference": "previous" (the
  previous product version, default) or "model" (the snapshot the latest version of
  ``model_group`` was trained on: the latest approved version, else the latest),
  "model_group": ..., "window": "all" (default) or "appended" (only the rows this version
  added to the previous one), "psi_threshold":
  0.25, "p_threshold": 0.01, "then_pipeline": optional pipeline run when drift is found}``.
  The report (JSON and PNG plots) is kept (:meth:`TriggersAPI.drift_report`,
  :meth:`TriggersAPI.drift_plot`); ``drift.checked`` reports every check and
  ``drift.detected`` the ones that found drift (with the report's id, never a path).

``session.events.triggers`` creates and lists them; they run right after the commit of the
events that fire them (embedded mode), in ``meshlake worker``, or on ``triggers.run()``.
"""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from meshlake.catalog.event_models import DriftReportRow, TriggerRow, TriggerRunRow
from meshlake.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from meshlake.events.cloud import aware
from meshlake.events.triggers import ACTIONS, RUN_STATES, TriggerCall, TriggerRunner
from meshlake.events.where import compile_where, equality_expression
from meshlake.ids import ROOT, check_name
from meshlake.service.events import make_can_see, table_scope
from meshlake.service.runtime import MeshRuntime, ServiceBase

__all__ = ["DriftReportView", "Trigger", "TriggersAPI", "run_action", "trigger_runner"]

TOP_FEATURES = 5


@dataclass(frozen=True)
class Trigger:
    """A trigger of an account (``where`` is its condition's text; ``owner`` runs it)."""

    id: int
    account: str
    name: str
    owner: str
    on: str
    where: str
    action: str
    params: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def _where_text(where: dict[str, Any] | None) -> str:
    where = dict(where or {})
    text = where.get("expression")
    return text if isinstance(text, str) else equality_expression(where)


def _trigger(row: TriggerRow) -> Trigger:
    return Trigger(
        row.id,
        row.account,
        row.name,
        row.owner,
        row.on,
        _where_text(row.where),
        row.action,
        dict(row.params or {}),
        aware(row.created_at),
    )


@dataclass(frozen=True)
class DriftReportView:
    """A kept drift report: the statistics of every compared column and its plots' names."""

    id: int
    account: str
    principal: str
    trigger: str | None
    product: str | None
    reference_snapshot: int | None
    current_snapshot: int | None
    drifted: bool
    report: dict[str, Any]
    plots: tuple[str, ...]
    created_at: datetime

    @property
    def top(self) -> builtins.list[dict[str, Any]]:
        """The most drifted columns first (drifted, then by PSI, then by p-value)."""
        cols = self.report.get("columns") or []
        return sorted(cols, key=lambda c: (not c["drifted"], -c["psi"], c["p_value"]))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **{k: v for k, v in self.__dict__.items() if k != "plots"},
            "plots": list(self.plots),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReportView:
        """Rebuild a report from :meth:`to_dict` output (as the server sends it)."""
        return cls(
            int(data["id"]),
            data["account"],
            data["principal"],
            data.get("trigger"),
            data.get("product"),
            data.get("reference_snapshot"),
            data.get("current_snapshot"),
            bool(data["drifted"]),
            dict(data.get("report") or {}),
            tuple(data.get("plots") or ()),
            datetime.fromisoformat(data["created_at"]),
        )


def _drift_view(row: DriftReportRow) -> DriftReportView:
    return DriftReportView(
        row.id,
        row.account,
        row.principal,
        row.trigger,
        row.product,
        row.reference_snapshot,
        row.current_snapshot,
        bool(row.drifted),
        dict(row.report or {}),
        tuple(row.plots or ()),
        aware(row.created_at),
    )


def drift_dir(rt: MeshRuntime) -> Path:
    """The managed folder of drift reports' plots (``<home>/drift/<report id>/``)."""
    return rt.settings.home / "drift"


def _quote(name: str) -> str:
    return ".".join(f'"{p}"' for p in name.split("."))


def _model_snapshot(rt: MeshRuntime, owner: str, group: str, info: Any) -> int | None:
    """The snapshot of the product's table the latest version of ``group`` (the latest
    approved one when there is one) was trained on, as ``owner`` sees the lineage."""
    from meshlake.service.ml import MLAPI

    ml = MLAPI(rt, owner)
    versions = list(ml.describe_model_group(group).versions)
    if not versions:
        return None
    approved = [v for v in versions if v.status == "Approved"]
    version = max(approved or versions, key=lambda v: v.version)
    training = ml.job(version.job_id)
    processing = ml.job(str(training.spec.get("processing_job")))
    wanted = f"{info.database}.{info.table}"
    for read in processing.inputs:
        for table in read.get("tables") or []:
            if table.get("account") == info.table_account and table.get("table") == wanted:
                return int(table["snapshot_id"])
    return None


def _drift_check(rt: MeshRuntime, call: TriggerCall) -> dict[str, Any]:
    from meshlake.ml.drift import distributions, drift_report, plot_names, top_columns
    from meshlake.service.products import ProductsAPI
    from meshlake.service.queries import QueryAPI

    p = call.params
    data = call.event.data
    current = data.get("snapshot_id")
    product = data.get("product") or call.event_row.product
    if product is None or current is None:
        raise InvalidInputError("drift_check needs an event with a product and a snapshot_id")
    current = int(current)
    products = ProductsAPI(rt, call.owner)
    info = products.get(product)
    previous = [v for v in products.versions(product) if v.snapshot_id not in (None, current)]
    previous = [v for v in previous if v.version < int(data.get("version") or 1 << 30)]
    if p.get("reference", "previous") == "model":
        reference = _model_snapshot(rt, call.owner, str(p.get("model_group")), info)
        if reference is None:
            return {"skipped": f"no version of {p.get('model_group')} trained on {product}"}
    else:
        if not previous:
            return {"skipped": "no previous version to compare with"}
        reference = int(previous[-1].snapshot_id or 0)
    if reference == current:
        return {"skipped": "the reference is the current snapshot"}
    table = _quote(p.get("table") or f"{info.database}.{info.table}")
    cols = p.get("columns")
    select_list = ", ".join(f'"{c}"' for c in cols) if cols else "*"
    queries = QueryAPI(rt, call.owner)

    def read(snapshot: int) -> str:
        return f"SELECT {select_list} FROM {table} FOR VERSION AS OF {snapshot}"

    def run(sql: str) -> Any:
        return queries.run(sql, service="processing").to_arrow()

    ref_data = run(read(reference))
    if p.get("window", "all") == "appended":  # the rows this version added to the last one
        base = previous[-1].snapshot_id if previous else reference
        cur_data = run(f"{read(current)} EXCEPT ALL {read(int(base or reference))}")
    else:
        cur_data = run(read(current))
    report = drift_report(
        ref_data,
        cur_data,
        cols,
        psi_threshold=float(p.get("psi_threshold", 0.25)),
        p_threshold=float(p.get("p_threshold", 0.01)),
    )
    now = datetime.now(UTC)
    resource = table_scope(info.table_account, info.database, info.table, product=product)
    stored_report = json.loads(
        json.dumps(
            {**report.to_dict(), "distributions": distributions(ref_data, cur_data, report)},
            default=float,
        )
    )
    top = [
        {
            "column": c.column,
            "test": c.test,
            "statistic": c.statistic,
            "psi": c.psi,
            "p_value": c.p_value,
            "drifted": c.drifted,
        }
        for c in top_columns(report, TOP_FEATURES)
    ]
    result: dict[str, Any] = {
        "product": product,
        "version": data.get("version"),
        "report_id": None,
        "reference_snapshot": reference,
        "current_snapshot": current,
        "reference_rows": report.reference_rows,
        "current_rows": report.current_rows,
        "drifted": report.drifted,
        "drifted_columns": [c.column for c in report.columns if c.drifted],
        "max_psi": max((c.psi for c in report.columns), default=0.0),
        "min_p_value": min((c.p_value for c in report.columns), default=1.0),
        "top": top,
        "trigger": call.name,
    }
    owner = ServiceBase(rt, call.owner)
    with owner.unit(bump=False) as unit:
        row = DriftReportRow(
            account=call.account,
            principal=call.owner,
            trigger=call.name,
            product=product,
            resource=resource.resource,
            reference_snapshot=reference,
            current_snapshot=current,
            drifted=report.drifted,
            report=stored_report,
            plots=plot_names(stored_report),
            created_at=now,
        )
        unit.session.add(row)
        unit.session.flush()
        result["report_id"] = row.id
        source, subject = f"/products/{product}/drift", f"product:{product}"
        unit.emit("drift.checked", source, subject, result, principal=call.owner, scope=resource)
        if report.drifted:
            unit.emit(
                "drift.detected", source, subject, result, principal=call.owner, scope=resource
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

        location = p.get("location") or call.event.data.get("location")
        if not isinstance(location, str):
            raise InvalidInputError("recrawl needs a location (in its params or the event's)")
        run = StorageAPI(rt, call.owner).crawl(
            location, database=p["database"], table=p.get("table"), account=p.get("account")
        )
        return {"crawl": run.id, "state": str(run.state)}
    if call.action == "pipeline":
        from meshlake.service.ml import MLAPI

        execution = MLAPI(rt, call.owner).pipelines.run(p["pipeline"])
        result: dict[str, Any] = {"execution": execution.id, "state": execution.state}
        if execution.registered is not None:
            result["registered"] = execution.registered
        if execution.state != "SUCCEEDED":
            raise RuntimeError(f"pipeline execution {execution.id} {execution.state}")
        return result
    if call.action == "drift_check":
        return _drift_check(rt, call)
    raise InvalidInputError(f"unknown trigger action {call.action}")


def trigger_runner(rt: MeshRuntime, **options: Any) -> TriggerRunner:
    """The mesh's trigger runner (one per runtime; ``options`` apply on creation)."""
    found = rt.extras.get("events.triggers")
    if found is None:
        found = rt.extras["events.triggers"] = TriggerRunner(
            rt.store, make_can_see(rt), lambda call: run_action(rt, call), **options
        )
    assert isinstance(found, TriggerRunner)
    return found


_REQUIRED = {"recrawl": ("database",), "pipeline": ("pipeline",), "drift_check": ()}


def _check_params(do: str, params: dict[str, Any]) -> None:
    missing = [k for k in _REQUIRED[do] if k not in params]
    if missing:
        raise InvalidInputError(f"action {do} needs params {', '.join(missing)}")
    if do == "drift_check":
        if params.get("reference", "previous") not in ("previous", "model"):
            raise InvalidInputError("drift_check reference is 'previous' or 'model'")
        if params.get("reference") == "model" and not params.get("model_group"):
            raise InvalidInputError("drift_check with reference 'model' needs model_group")
        if params.get("window", "all") not in ("all", "appended"):
            raise InvalidInputError("drift_check window is 'all' or 'appended'")
        for key in ("psi_threshold", "p_threshold"):
            if key in params and not isinstance(params[key], int | float):
                raise InvalidInputError(f"drift_check {key} must be a number")


class TriggersAPI(ServiceBase):
    """Triggers of the caller's account (admins create and delete; they run as their owner)."""

    def create(
        self,
        name: str,
        *,
        on: str,
        do: str,
        where: str | dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        run_as: str | None = None,
    ) -> Trigger:
        """``on`` an event type pattern, ``where`` a condition (an expression of
        :mod:`meshlake.events.where`, or a mapping of field equalities), ``do`` an action
        with its ``params`` (see the module docstring), run as ``run_as`` (a principal of
        the caller's account; default the caller).

        Raises:
            AccessDeniedError: the caller is not an admin of its account.
            InvalidInputError: unknown action, missing parameters, a bad ``where``, or
                ``run_as`` not a principal of the account.
            ConflictError: the account has a trigger of that name.
        """
        check_name("trigger", name)
        if do not in ACTIONS:
            raise InvalidInputError(f"unknown action {do!r}: use one of {', '.join(ACTIONS)}")
        if not isinstance(on, str) or not on.strip():
            raise InvalidInputError("on must be an event type pattern (product.updated, model.*)")
        params = dict(params or {})
        _check_params(do, params)
        text = where if isinstance(where, str) else equality_expression(dict(where or {}))
        compile_where(text)  # InvalidInputError when bad
        st = self.state()
        if not st.is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may create triggers")
        owner = run_as or self.principal
        if owner != self.principal and (
            owner.split("/", 1)[0] != self.account or owner not in st.principals
        ):
            raise InvalidInputError(f"run_as {owner} is not a principal of {self.account}")
        with self.change(
            "create_trigger",
            f"trigger:{self.account}.{name}",
            [self.account],
            after={"on": on, "where": text, "do": do, "params": params, "run_as": owner},
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
                owner=owner,
                on=on,
                where={"expression": text},
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
        """Deactivate a trigger of the caller's account (admins); its runs waiting for a
        retry end as failed.

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
            session.execute(  # its pending retries end with it
                update(TriggerRunRow)
                .where(TriggerRunRow.trigger_id == row.id, TriggerRunRow.state == "retrying")
                .values(state="failed", next_attempt_at=None, error="the trigger was deleted")
            )

    def runs(
        self, name: str | None = None, *, state: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """Runs of the account's triggers (oldest first), optionally of one trigger or in
        one state (``running``, ``retrying``, ``succeeded``, ``failed``, ``skipped``)."""
        if state is not None and state not in RUN_STATES:
            raise InvalidInputError(f"unknown run state {state!r}: use {', '.join(RUN_STATES)}")
        query = (
            select(TriggerRunRow, TriggerRow.name)
            .join(TriggerRow, TriggerRow.id == TriggerRunRow.trigger_id)
            .where(TriggerRow.account == self.account)
            .order_by(TriggerRunRow.id)
        )
        if name is not None:
            query = query.where(TriggerRow.name == name)
        if state is not None:
            query = query.where(TriggerRunRow.state == state)
        with self.rt.store.read() as session:
            return [
                {
                    "id": run.id,
                    "trigger": trigger,
                    "event_position": run.event_pk,
                    "state": run.state,
                    "attempts": run.attempts,
                    "next_attempt_at": (
                        None if run.next_attempt_at is None else aware(run.next_attempt_at)
                    ),
                    "result": run.result,
                    "error": run.error,
                }
                for run, trigger in session.execute(query)
            ]

    def failed(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Runs that failed every attempt (re-run them with :meth:`rerun`)."""
        return self.runs(name, state="failed")

    def rerun(self, run_id: int) -> dict[str, Any]:
        """Run a failed run of the account's triggers again, now (admins); returns the run.

        Raises:
            AccessDeniedError: the caller is not an admin of its account.
            NotFoundError: no failed run of that id in the account.
        """
        if not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(f"only admins of {self.account} may re-run triggers")
        with self.rt.store.read() as session:
            found = session.execute(
                select(TriggerRunRow.id)
                .join(TriggerRow, TriggerRow.id == TriggerRunRow.trigger_id)
                .where(TriggerRunRow.id == run_id, TriggerRow.account == self.account)
            ).first()
        runner = trigger_runner(self.rt)
        if found is None or not runner.rerun(run_id):
            raise NotFoundError(f"no failed trigger run {run_id} in {self.account}")
        with self.unit(bump=False) as unit:
            unit.audit(
                principal=self.principal,
                action="rerun_trigger",
                resource=f"trigger_run:{run_id}",
                accounts=[self.account],
                data={"run": run_id},
            )
        runner.retry_due()
        return next(r for r in self.runs() if r["id"] == run_id)

    def run(self) -> int:
        """Run every account's triggers for the events not handled yet, and due retries
        (as a worker does); returns how many trigger runs were made."""
        return trigger_runner(self.rt).drain()

    def settle(self, timeout_s: float = 120.0, *, poll_s: float = 0.05) -> bool:
        """Wait until the trigger runner has handled every event and no run is running or
        waiting for a retry (e.g. for the in-process runner of embedded mode). Returns
        whether that happened within ``timeout_s``. Events wait only while some trigger is
        active (with none, nothing is left to run).

        Raises:
            AccessDeniedError: the caller is neither an account admin nor the mesh root
                (the answer covers every account's triggers).
        """
        if self.principal != ROOT and not self.state().is_admin(self.principal, self.account):
            raise AccessDeniedError(
                f"only admins of {self.account} and the mesh root may wait for the trigger "
                "runners (the answer covers every account's triggers)"
            )
        runner = trigger_runner(self.rt)
        deadline = time.monotonic() + timeout_s
        while runner.busy():
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
        return True

    # ------------------------------------------------------------------ drift reports
    def _drift_row(self, report_id: int) -> DriftReportRow:
        with self.rt.store.read() as session:
            row = session.get(DriftReportRow, report_id)
        if row is None or self.principal not in (row.principal, ROOT):
            raise NotFoundError(f"drift report {report_id} not found")
        return row

    def drift_reports(self) -> builtins.list[DriftReportView]:
        """The drift reports computed as the caller (newest first)."""
        query = select(DriftReportRow).order_by(DriftReportRow.id.desc())
        if self.principal != ROOT:
            query = query.where(DriftReportRow.principal == self.principal)
        with self.rt.store.read() as session:
            return [_drift_view(r) for r in session.scalars(query)]

    def drift_report(self, report_id: int) -> DriftReportView:
        """One drift report: each column's PSI, test, statistic and p-value, and the names
        of its plots. Only the principal whose governed reads computed it (a trigger's
        owner) and the mesh root may read it.

        Raises:
            NotFoundError: no such report of the caller.
        """
        return _drift_view(self._drift_row(report_id))

    def drift_plot(self, report_id: int, name: str) -> bytes:
        """A PNG of a drift report (``psi.png``, or ``<column>.png`` of a drifted column).

        Raises:
            NotFoundError: no such report of the caller, or no such plot.
        """
        row = self._drift_row(report_id)
        if name not in (row.plots or []):
            raise NotFoundError(f"drift report {report_id} has no plot {name}")
        path = drift_dir(self.rt) / str(report_id) / name
        if not path.is_file():  # drawn on first fetch from the report's kept distributions
            from meshlake.ml.drift import render_plot

            render_plot(dict(row.report or {}), name, path.parent)
        return path.read_bytes()
