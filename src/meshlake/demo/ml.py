"""The demo's second half: the ML CoE turns the credit product into an approved model.

1. the consumer admin grants the ML CoE's execution role (``consumer/SageMakerExecutionRole``)
   the product through the resource link, as the reference grants its Studio execution role,
   and a database for its outputs;
2. the role runs the default pipeline on ``"rl_credit-card".credit_card``: process (governed
   SQL -> one-hot features -> stratified seeded split -> three governed tables) -> train
   XGBoost (early stopping on validation) -> evaluate -> condition (test AUC) -> register;
3. a consumer approver approves the version; the analyst batch-scores applications with it;
4. the lineage chain of the version is printed, and exported as OpenLineage events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshlake import Database, Table
from meshlake.ml.metrics import STATLOG_COST
from meshlake.ml.pipelines import Pipeline, default_pipeline
from meshlake.resources import ModelGroup

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from meshlake.demo.sessions import Sessions, SessionSource

__all__ = [
    "APPROVER",
    "GROUP",
    "ML_DATABASE",
    "SCIENTIST",
    "credit_pipeline",
    "grant_ml_roles",
    "run_ml",
]

LINK = "rl_credit-card"
SCIENTIST = "consumer/SageMakerExecutionRole"
APPROVER = "consumer/ModelApprover"
ANALYST = "consumer/analyst1"
ADMIN = "consumer/ConsumerAdmin"
ML_DATABASE = "credit_ml"
GROUP = "credit-risk"
PRODUCT_SQL = f'SELECT * FROM "{LINK}".credit_card'


def credit_pipeline(min_auc: float = 0.75) -> Pipeline:
    """The default pipeline on the credit product, with the Statlog cost matrix."""
    return default_pipeline(
        PRODUCT_SQL,
        target="credit_risk",
        output_database=ML_DATABASE,
        group=GROUP,
        name="credit-risk",
        seed=7,
        cost=STATLOG_COST.to_dict(),
        min_auc=min_auc,
    )


def grant_ml_roles(mesh: SessionSource) -> None:
    """Create the ML CoE's role and the approver; the consumer admin grants the role the
    product (through the link) and a database for its outputs (``mesh``: an embedded mesh
    or the scenario's sessions)."""
    root = mesh.session("root")
    root.principals.create(SCIENTIST, kind="role")
    root.principals.create(APPROVER, kind="user")
    admin = mesh.session(ADMIN)
    admin.grant(SCIENTIST, Database(LINK), ["DESCRIBE"])
    admin.grant(SCIENTIST, Table(LINK, "credit_card"), ["SELECT", "DESCRIBE"])
    admin.catalog.create_database(ML_DATABASE, description="ML CoE: features, splits, scores")
    for who in (SCIENTIST, ANALYST):
        admin.grant(who, Database(ML_DATABASE), ["CREATE_TABLE", "DESCRIBE"])


def run_ml(sessions: Sessions, steps: Any, console: Console, folder: Path) -> dict[str, Any]:
    """Run the second half (``steps`` is the scenario's step printer; the OpenLineage events
    are written under ``folder``); returns a summary."""
    summary: dict[str, Any] = {}
    with steps.step(
        "consumer/ConsumerAdmin",
        f"grants {SCIENTIST} the product through {LINK} and a database for ML outputs",
    ) as note:
        grant_ml_roles(sessions)
        note(f"SELECT on {LINK}.credit_card; CREATE_TABLE on {ML_DATABASE}")

    scientist = sessions.session(SCIENTIST)
    with steps.step(
        SCIENTIST,
        "runs the default pipeline: process -> train XGBoost -> evaluate -> condition -> register",
    ) as note:
        execution = scientist.ml.pipelines.run(credit_pipeline())
        for s in execution.steps:
            note(f"{s.name:<9} {s.state:<9} {s.seconds:6.2f}s {_outcome(s.outcome)}")
        registered = execution.registered
        summary["pipeline"] = execution.to_dict()
    if registered is None:
        console.print("[yellow]the condition step did not pass: nothing was registered[/]")
        return summary
    version = scientist.ml.model_version(GROUP, registered["version"])
    training = scientist.ml.job(version.job_id)

    admin = sessions.session(ADMIN)
    with steps.step(ADMIN, f"grants {APPROVER} APPROVE and {ANALYST} USE on {GROUP}") as note:
        admin.grant(APPROVER, ModelGroup(GROUP), ["APPROVE", "DESCRIBE"])
        admin.grant(ANALYST, ModelGroup(GROUP), ["USE", "DESCRIBE"])
        note("model groups are governed resources (rule 30)")

    with steps.step(APPROVER, f"approves {version.ref}") as note:
        approved = sessions.session(APPROVER).ml.approve(
            version, reason="test AUC and cost reviewed"
        )
        note(f"{approved.ref}: {approved.status}")

    analyst = sessions.session(ANALYST)
    with steps.step(ANALYST, "batch-scores applications with the approved model") as note:
        scored = analyst.ml.score(
            f"{PRODUCT_SQL} ORDER BY amount DESC LIMIT 200",
            group=GROUP,
            output_database=ML_DATABASE,
            output_table="application_scores",
        )
        note(
            f"{scored.metrics['rows']} applications -> {ML_DATABASE}.application_scores "
            f"({scored.metrics['predicted_positive']} predicted good); read audited "
            f"as service scoring, job {scored.id[:8]}"
        )

    with steps.step(SCIENTIST, f"reads the lineage of {version.ref}") as note:
        lineage = scientist.ml.lineage(version)
        path = scientist.ml.export_openlineage(
            version,
            folder / "openlineage" / f"{version.account}.{version.group}.v{version.version}.jsonl",
        )
        note(f"OpenLineage events: {path}")
    _print_ml(console, training.metrics, lineage.lines())
    summary.update(
        {
            "version": approved.to_dict(),
            "test_auc": training.metrics["test"]["roc_auc"],
            "lineage": lineage.kinds(),
            "scores": scored.tables,
            "scoring": scored.metrics,
        }
    )
    return summary


def _outcome(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    if "passed" in outcome:
        return f"{outcome['metric']} = {outcome['actual']:.3f} {outcome['op']} {outcome['value']}"
    if "version" in outcome:
        return (
            f"{outcome['account']}.{outcome['group']} v{outcome['version']} ({outcome['status']})"
        )
    if "test" in outcome:
        t = outcome["test"]
        return f"test AUC {t['roc_auc']:.3f}, cost {t['cost']:.3f}"
    if "run_id" in outcome:
        return f"MLflow run {str(outcome['run_id'])[:12]}"
    if "tables" in outcome:
        return ", ".join(f"{k}: {v['table']}" for k, v in outcome["tables"].items())
    return ""


def _print_ml(console: Console, metrics: dict[str, Any], lineage: list[str]) -> None:
    from rich.table import Table as RichTable

    table = RichTable(title="credit-risk model: XGBoost, early stopping on validation")
    table.add_column("split")
    for col in ("ROC AUC", "PR AUC", "accuracy", "F1", "log loss", "Statlog cost"):
        table.add_column(col, justify="right")
    for split in ("validation", "test"):
        m = metrics.get(split) or {}
        if m:
            table.add_row(
                split,
                f"{m['roc_auc']:.3f}",
                f"{m['pr_auc']:.3f}",
                f"{m['accuracy']:.3f}",
                f"{m['f1']:.3f}",
                f"{m['log_loss']:.3f}",
                f"{m['cost']:.3f}",
            )
    console.print(table)
    if "best_iteration" in metrics:
        console.print(
            f"early stopping: best round {metrics['best_iteration']}, "
            f"{metrics['rounds_trained']} rounds trained"
        )
    console.print("[bold]lineage[/] (as the ML CoE's role sees it)")
    for line in lineage:
        console.print(f"  {line}")
