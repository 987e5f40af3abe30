"""The demo's closing loop: new data arrives, drift is detected, the model is retrained.

After the model is approved (``demo/ml.py``):

1. the consumer's analyst subscribes to the ``credit_card`` product and the model approver to
   the ``credit-risk`` model group (their inboxes);
2. the consumer admin creates two triggers that run as the ML CoE's role (the model's
   owner): ``drift-check`` (on ``product.updated`` of ``credit_card``: compare the rows the
   new version appended with the snapshot the model was trained on) and
   ``retrain-on-drift`` (on ``drift.detected where data.product = 'credit_card' and
   data.max_psi > 0.2``: run the training pipeline again);
3. the producer appends a month of applications whose distribution shifted (longer, larger
   credits, younger applicants, more new-car purposes: derived from the shipped rows by a
   seeded resampling) and republishes the product: the analyst is notified, the drift check
   finds drift, the pipeline retrains and registers version 2 as PendingManualApproval, and
   the approver is notified; the drift report's top features are printed;
4. the producer appends a month resampled without a shift and republishes: the analyst is
   notified, the drift check finds nothing, and nothing is retrained.

The triggers run in the in-process runner right after the producer's commit (embedded mode;
against a server, in the server's process or its workers); the demo waits for them to settle.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from meshlake.demo import CONTRACT
from meshlake.demo.ml import ADMIN, ANALYST, APPROVER, GROUP, LINK, SCIENTIST, credit_pipeline

if TYPE_CHECKING:
    from rich.console import Console

    from meshlake.demo.sessions import Sessions
    from meshlake.mesh import Session

__all__ = ["DRIFT_COLUMNS", "PRODUCER", "monthly_applications", "run_loop"]

PRODUCER = "producer/ProducerSteward"
PRODUCT = "credit_card"
MONTH_ROWS = 150
#: The features the drift check compares (the four the shifted month moves, and two that
#: stay as they were).
DRIFT_COLUMNS = ["duration", "amount", "age", "purpose", "savings", "installment_rate"]
SHIFTED_SEED, STEADY_SEED = 202611, 202612


def monthly_applications(base: pa.Table, *, shifted: bool, rows: int = MONTH_ROWS) -> pa.Table:
    """A month of new applications resampled (with replacement, seeded) from ``base``.

    ``shifted``: durations x1.5, amounts x1.6, applicants 8 years younger (at least 19), and
    half of the purposes turned into ``car (new)``; labels stay those of the resampled rows.
    """
    rng = np.random.default_rng(SHIFTED_SEED if shifted else STEADY_SEED)
    month = base.take(pa.array(rng.integers(0, base.num_rows, rows)))
    if not shifted:
        return month

    def scaled(name: str, factor: float) -> pa.Array:
        values = np.asarray(month.column(name).to_numpy(), dtype=float)
        return pa.array(np.rint(values * factor).astype(np.int64))

    age = np.maximum(np.asarray(month.column("age").to_numpy()) - 8, 19).astype(np.int64)
    new_car = rng.random(rows) < 0.5
    purpose = pc.if_else(pa.array(new_car), "car (new)", month.column("purpose"))
    for name, values in (
        ("duration", scaled("duration", 1.5)),
        ("amount", scaled("amount", 1.6)),
        ("age", pa.array(age)),
        ("purpose", purpose),
    ):
        i = month.schema.get_field_index(name)
        month = month.set_column(i, month.schema.field(i), values)
    return month


def _triggers(sessions: Sessions) -> None:
    admin = sessions.session(ADMIN).events.triggers
    admin.create(
        "drift-check",
        on="product.updated",
        where=f"product = '{PRODUCT}'",
        do="drift_check",
        run_as=SCIENTIST,
        params={
            "table": f"{LINK}.{PRODUCT}",
            "columns": DRIFT_COLUMNS,
            "reference": "model",
            "model_group": GROUP,
            "window": "appended",
            "psi_threshold": 0.25,
            "p_threshold": 0.001,
        },
    )
    admin.create(
        "retrain-on-drift",
        on="drift.detected",
        where=f"data.product = '{PRODUCT}' and data.max_psi > 0.2",
        do="pipeline",
        run_as=SCIENTIST,
        params={"pipeline": credit_pipeline().to_dict()},
    )


def _settle(sessions: Sessions) -> None:
    """Wait for the triggers (embedded, run them here when a worker is meant to; a server
    runs them in its process or its workers)."""
    from meshlake.service.events import DISPATCH_ENV

    triggers = sessions.session(ADMIN).events.triggers
    if not sessions.remote and os.environ.get(DISPATCH_ENV, "embedded") != "embedded":
        triggers.run()
    if not triggers.settle(timeout_s=300):
        raise TimeoutError("the triggers did not finish within 300 s")


def _publish_month(sessions: Sessions, *, shifted: bool) -> Any:
    steward = sessions.session(PRODUCER)
    first = steward.products.versions(PRODUCT)[0].snapshot_id
    base = steward.query(f'SELECT * FROM "{LINK}".{PRODUCT} FOR VERSION AS OF {first}')
    original = base.to_arrow().sort_by([(c, "ascending") for c in base.columns])
    steward.catalog.append(LINK, PRODUCT, data=monthly_applications(original, shifted=shifted))
    return steward.products.publish(CONTRACT, database=LINK)


def _inbox_types(session: Session) -> list[str]:
    items = session.events.inbox(unread_only=True)
    session.events.mark_read([i.id for i in items])
    return [f"{i.event.type} v{i.event.data.get('version')}" for i in items]


def run_loop(sessions: Sessions, steps: Any, console: Console) -> dict[str, Any]:
    """Run the closing loop (``steps`` is the scenario's step printer); returns a summary."""
    summary: dict[str, Any] = {}
    analyst, approver = sessions.session(ANALYST), sessions.session(APPROVER)
    scientist = sessions.session(SCIENTIST)
    with steps.step(
        ADMIN, "subscribes the analyst and approver, and creates the drift and retrain triggers"
    ) as note:
        analyst.events.subscribe(product=PRODUCT)
        approver.events.subscribe(model_group=GROUP, types=["model.*"])
        _triggers(sessions)
        for t in sessions.session(ADMIN).events.triggers.list():
            note(f"{t.name}: on {t.on} where {t.where} do {t.action} as {t.owner}")

    before = len(scientist.ml.describe_model_group(GROUP).versions)
    with steps.step(
        PRODUCER, "appends a month of applications with a shifted distribution and republishes"
    ) as note:
        version = _publish_month(sessions, shifted=True)
        _settle(sessions)
        runs = {r["trigger"]: r for r in sessions.session(ADMIN).events.triggers.runs()}
        drift = runs["drift-check"]["result"] or {}
        retrain = (runs.get("retrain-on-drift") or {}).get("result") or {}
        analyst_inbox = _inbox_types(analyst)
        note(f"credit_card version {version.version}: {version.quality.row_count} rows")
        note(f"{ANALYST} inbox: {', '.join(analyst_inbox)}")
        note(
            f"drift-check as {SCIENTIST}: drifted {drift.get('drifted')} "
            f"({', '.join(drift.get('drifted_columns') or [])}), report #{drift.get('report_id')}"
        )
        registered = retrain.get("registered") or {}
        note(
            f"retrain-on-drift: execution {str(retrain.get('execution'))[:8]} registered "
            f"v{registered.get('version')} ({registered.get('status')})"
        )
        approver_inbox = _inbox_types(approver)
        note(f"{APPROVER} inbox: {', '.join(approver_inbox)}")
    report = scientist.events.triggers.drift_report(int(drift["report_id"]))
    _print_drift(console, report)
    summary["shifted"] = {
        "product_version": version.version,
        "drift": drift,
        "retrain": retrain,
        "versions": len(scientist.ml.describe_model_group(GROUP).versions) - before,
        "plots": list(report.plots),
        "top_features": [c["column"] for c in report.top],
        "inbox": {ANALYST: analyst_inbox, APPROVER: approver_inbox},
    }

    with steps.step(PRODUCER, "appends a month without a shift and republishes") as note:
        before = len(scientist.ml.describe_model_group(GROUP).versions)
        version = _publish_month(sessions, shifted=False)
        _settle(sessions)
        steady = sessions.session(ADMIN).events.triggers.runs("drift-check")[-1]["result"] or {}
        after = len(scientist.ml.describe_model_group(GROUP).versions)
        analyst_inbox = _inbox_types(analyst)
        note(f"credit_card version {version.version}: {version.quality.row_count} rows")
        note(f"{ANALYST} inbox: {', '.join(analyst_inbox)}")
        note(
            f"drift-check: drifted {steady.get('drifted')} (max PSI "
            f"{steady.get('max_psi', 0):.3f}); model versions {before} -> {after}: no retraining"
        )
    summary["steady"] = {
        "product_version": version.version,
        "drift": steady,
        "versions": after - before,
        "inbox": {ANALYST: analyst_inbox},
    }
    return summary


def _print_drift(console: Console, report: Any) -> None:
    from rich.table import Table as RichTable

    table = RichTable(
        title=f"drift report #{report.id}: {report.report['current_rows']} new applications vs "
        f"{report.report['reference_rows']} the model was trained on"
    )
    for col, justify in (
        ("feature", "left"),
        ("test", "left"),
        ("statistic", "right"),
        ("PSI", "right"),
        ("p-value", "right"),
        ("drifted", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in report.top:
        table.add_row(
            c["column"],
            c["test"],
            f"{c['statistic']:.3f}",
            f"{c['psi']:.3f}",
            f"{c['p_value']:.2g}",
            "yes" if c["drifted"] else "",
        )
    console.print(table)
    console.print(
        f"plots (scientist.events.triggers.drift_plot({report.id}, name)): "
        f"{', '.join(report.plots)}"
    )
