"""``meshlake ml ...``: processing, training, the model registry, scoring, pipelines, lineage."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from meshlake.cli.output import examples
from meshlake.cli.state import CliState, get_state

__all__ = ["ml_app"]

ml_app = typer.Typer(
    help="ML on data products: governed processing and training jobs, the model registry "
    "(model groups, approval), batch scoring, pipelines and lineage.",
    no_args_is_help=True,
)
pipeline_app = typer.Typer(help="Pipelines: steps, caching, conditions.", no_args_is_help=True)
ml_app.add_typer(pipeline_app, name="pipeline")


@contextmanager
def _progress(state: CliState, title: str) -> Iterator[Callable[[str, float], None]]:
    """A rich progress bar on stderr (terminal, human mode); yields the job's callback."""
    out = state.out
    if out.json or not out.err_console.is_terminal:
        yield lambda stage, done: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=out.err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{title}: {stage}", total=1.0)
            bar.update(tasks[stage], completed=done)

        yield update


def _hyperparameters(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise typer.BadParameter(f"{item!r}: use name=value", param_hint="'--hp'")
        key, raw = item.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _split(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError as exc:
        raise typer.BadParameter("use three fractions: 0.7,0.15,0.15") from exc
    if len(parts) != 3:
        raise typer.BadParameter("use three fractions: 0.7,0.15,0.15")
    return parts[0], parts[1], parts[2]


def _job_fields(state: CliState, job: Any) -> None:
    state.out.emit(
        job,
        lambda: state.out.fields(
            [
                ("job", job.id),
                ("kind", job.kind),
                ("state", job.state),
                ("cached", job.cached),
                *[(f"table {k}", f"{v['database']}.{v['table']}") for k, v in job.tables.items()],
                ("queries", ", ".join(job.query_ids)),
                ("run", job.run_id or ""),
                *[
                    (f"{split} AUC", f"{job.metrics[split]['roc_auc']:.4f}")
                    for split in ("validation", "test")
                    if isinstance(job.metrics.get(split), dict)
                    and job.metrics[split].get("roc_auc") is not None
                ],
            ]
        ),
    )


@ml_app.command(
    "process",
    epilog=examples(
        "meshlake --as consumer/SageMakerExecutionRole ml process "
        "'SELECT * FROM \"rl_credit-card\".credit_card' --target credit_risk "
        "--output-database credit_ml --seed 7"
    ),
)
def ml_process(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One governed SELECT, run as you.")],
    target: Annotated[str, typer.Option(help="The binary label column.")],
    output_database: Annotated[str, typer.Option(help="A database of your account.")],
    split: Annotated[str, typer.Option(help="train,validation,test fractions.")] = "0.7,0.15,0.15",
    seed: Annotated[int, typer.Option(help="The split's seed.")] = 0,
    database: Annotated[str | None, typer.Option(help="Default database for the SQL.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Output table name prefix.")] = None,
    scale: Annotated[bool, typer.Option(help="Standardize numeric columns.")] = False,
    script: Annotated[
        Path | None, typer.Option(help="A SageMaker-style processing script to run instead.")
    ] = None,
    arg: Annotated[list[str] | None, typer.Option(help="An argument for the script.")] = None,
) -> None:
    """Run a processing job: governed SQL -> features -> stratified seeded split -> governed
    train / validation / test tables owned by you."""
    state = get_state(ctx)
    with _progress(state, "processing") as progress:
        job = state.op("ml.process")(
            sql,
            target=target,
            output_database=output_database,
            split=_split(split),
            seed=seed,
            database=database,
            output_prefix=prefix,
            scale=scale,
            script=script,
            arguments=arg or [],
            **state.embedded_only(progress=progress),
        )
    _job_fields(state, job)


@ml_app.command("train")
def ml_train(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A succeeded processing job.")],
    estimator: Annotated[str, typer.Option(help="xgboost, logistic_regression, ...")] = "xgboost",
    hp: Annotated[list[str] | None, typer.Option(help="A hyperparameter name=value.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    cv: Annotated[
        str | None, typer.Option(help="K,REPEATS: repeated stratified CV on the train split.")
    ] = None,
    statlog_cost: Annotated[
        bool, typer.Option(help="Use the Statlog cost matrix (5:1) and its threshold.")
    ] = False,
    script: Annotated[Path | None, typer.Option(help="A SageMaker training script.")] = None,
) -> None:
    """Train on a processing job's tables (one MLflow run); metrics on validation and test."""
    state = get_state(ctx)
    cv_spec = None
    if cv:
        k, _, repeats = cv.partition(",")
        cv_spec = {"k": int(k), "repeats": int(repeats or 1)}
    cost = {"false_positive": 5.0, "false_negative": 1.0} if statlog_cost else None
    with _progress(state, "training") as progress:
        job = state.op("ml.train")(
            job_id,
            estimator=estimator,
            hyperparameters=_hyperparameters(hp or []),
            seed=seed,
            cv=cv_spec,
            cost=cost,
            script=script,
            **state.embedded_only(progress=progress),
        )
    _job_fields(state, job)


@ml_app.command("jobs")
def ml_jobs(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="processing, training, ...")] = None,
) -> None:
    """List the jobs you may see, newest first."""
    state = get_state(ctx)
    jobs = state.op("ml.jobs")(kind)
    state.out.records(
        jobs, ["id", "kind", "name", "principal", "state", "started_at"], title="ML jobs"
    )


@ml_app.command("register")
def ml_register(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A succeeded training job.")],
    group: Annotated[str, typer.Argument(help="The model group (created in your account).")],
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
) -> None:
    """Register a trained model as a new version (PendingManualApproval; needs REGISTER)."""
    state = get_state(ctx)
    version = state.op("ml.register")(job_id, group, account=account)
    state.out.emit(version, f"registered {version.ref} ({version.status})")


@ml_app.command("approve")
def ml_approve(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
    reject: Annotated[bool, typer.Option(help="Reject instead of approve.")] = False,
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Approve (or reject) a model version (needs APPROVE on its group; audited)."""
    state = get_state(ctx)
    mv = state.op("ml.model_version")(group, version, account=account)
    decide = state.op("ml.reject" if reject else "ml.approve")
    done = decide(mv, reason=reason)
    state.out.emit(done, f"{done.ref}: {done.status}")


@ml_app.command(
    "set-status",
    epilog=examples("meshlake ml set-status risk 3 PendingManualApproval --reason 'new data'"),
)
def ml_set_status(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    status: Annotated[
        str,
        typer.Argument(help="PendingManualApproval, Approved or Rejected (any letter case)."),
    ],
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Set a model version's approval status, e.g. back to PendingManualApproval for another
    review (needs APPROVE on its group; audited)."""
    state = get_state(ctx)
    mv = state.op("ml.model_version")(group, version, account=account)
    done = state.op("ml.set_status")(mv, status, reason=reason)
    state.out.emit(done, f"{done.ref}: {done.status}")


@ml_app.command("models")
def ml_models(
    ctx: typer.Context,
    group: Annotated[str | None, typer.Argument(help="Show one group's versions.")] = None,
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
) -> None:
    """List model groups you may see, or one group's versions with metrics and status."""
    state = get_state(ctx)
    if group is None:
        state.out.records(
            state.op("ml.list_model_groups")(),
            ["name", "account", "creator", "permissions"],
            title="Model groups",
            empty="no model groups you can see",
        )
        return
    view = state.op("ml.describe_model_group")(group, account)
    if state.json:
        state.out.print_json(view)
        return
    state.out.table(
        ["version", "status", "test AUC", "aliases", "created by", "job"],
        [
            [
                v.version,
                v.status,
                (v.metrics.get("test") or {}).get("roc_auc"),
                ", ".join(v.aliases),
                v.created_by,
                v.job_id,
            ]
            for v in view.versions
        ],
        title=f"{view.account}.{view.name}",
        empty="no versions yet",
    )


@ml_app.command("score")
def ml_score(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="The rows to score (governed SELECT).")],
    group: Annotated[str, typer.Option()],
    output_database: Annotated[str, typer.Option()],
    output_table: Annotated[str, typer.Option()],
    version: Annotated[int | None, typer.Option(help="Default: newest Approved.")] = None,
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
) -> None:
    """Batch-score a governed query into a governed table (needs USE on the group)."""
    state = get_state(ctx)
    job = state.op("ml.score")(
        sql,
        group=group,
        version=version,
        account=account,
        output_database=output_database,
        output_table=output_table,
    )
    _job_fields(state, job)


@ml_app.command("lineage")
def ml_lineage(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
    openlineage: Annotated[
        Path | None, typer.Option(help="Also write OpenLineage run events to this file.")
    ] = None,
) -> None:
    """Show a version's lineage down to the source files (what you may not see: "not
    visible")."""
    state = get_state(ctx)
    mv = state.op("ml.model_version")(group, version, account=account)
    lineage = state.op("ml.lineage")(mv)
    if openlineage is not None:
        state.op("ml.export_openlineage")(mv, openlineage)
    if state.json:
        state.out.print_json(lineage.to_dict())
        return
    state.out.table(
        ["kind", "what"],
        [[n.kind, n.label if n.visible else "not visible"] for n in lineage.nodes],
        title=f"lineage of {mv.ref}",
    )


@pipeline_app.command("run")
def pipeline_run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A pipeline YAML file.")],
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run every step again.")] = False,
) -> None:
    """Run a pipeline; unchanged steps are reused from the cache."""
    state = get_state(ctx)

    def note(step: str, step_state: str) -> None:
        if step_state != "RUNNING":
            state.out.note(f"{step}: {step_state}")

    with state.out.status("running the pipeline"):
        execution = state.op("ml.pipelines.run")(
            file, cache=not no_cache, **state.embedded_only(progress=note)
        )
    _print_execution(state, execution)


@pipeline_app.command("list")
def pipeline_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this pipeline.")] = None,
) -> None:
    """List pipeline executions you may see, newest first."""
    state = get_state(ctx)
    state.out.records(
        state.op("ml.pipelines.list")(name),
        ["id", "pipeline", "principal", "state", "started_at"],
        title="Pipeline executions",
        empty="no executions",
    )


@pipeline_app.command("show")
def pipeline_show(
    ctx: typer.Context,
    execution_id: Annotated[str, typer.Argument(metavar="ID", help="An execution (see list).")],
) -> None:
    """Show one pipeline execution: its steps, their state, cache hits and jobs."""
    state = get_state(ctx)
    execution = state.op("ml.pipelines.get")(execution_id)
    _print_execution(state, execution)


@ml_app.command("job")
def ml_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A job you may see.")],
) -> None:
    """Show one job: its kind, state, tables, queries, run and metrics."""
    state = get_state(ctx)
    _job_fields(state, state.op("ml.job")(job_id))


@ml_app.command("evaluate")
def ml_evaluate(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="A succeeded training job.")],
    statlog_cost: Annotated[
        bool, typer.Option(help="Use the Statlog cost matrix (5:1) and its threshold.")
    ] = False,
    split: Annotated[
        list[str] | None, typer.Option(help="A held-out split (default: validation and test).")
    ] = None,
) -> None:
    """Evaluate a trained model on its processing job's held-out splits (an evaluation job).

    The splits are read again through governed SQL, as you.
    """
    state = get_state(ctx)
    cost = {"false_positive": 5.0, "false_negative": 1.0} if statlog_cost else None
    with state.out.status(f"evaluating {job_id}"):
        job = state.op("ml.evaluate")(
            job_id, cost=cost, splits=tuple(split or ("validation", "test"))
        )
    _job_fields(state, job)


@ml_app.command("group-create")
def ml_group_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The model group (in your account).")],
    description: Annotated[str, typer.Option(help="What its models predict.")] = "",
) -> None:
    """Create a model group in your account (you hold ALL on it, grantable)."""
    state = get_state(ctx)
    view = state.op("ml.create_model_group")(name, description)
    state.out.emit(view, f"created model group {view.account}.{view.name}")


@ml_app.command("alias")
def ml_alias(
    ctx: typer.Context,
    group: Annotated[str, typer.Argument()],
    version: Annotated[int, typer.Argument()],
    alias: Annotated[str, typer.Argument(help="champion, production, ...")],
    account: Annotated[str | None, typer.Option(help="The group's account.")] = None,
) -> None:
    """Point an alias at a model version (needs APPROVE on its group)."""
    state = get_state(ctx)
    mv = state.op("ml.model_version")(group, version, account=account)
    done = state.op("ml.set_alias")(mv, alias)
    state.out.emit(done, f"{done.ref}: alias {alias}")


def _print_execution(state: CliState, execution: Any) -> None:
    """A pipeline execution: JSON, or a table of its steps."""
    if state.json:
        state.out.print_json(execution)
        return
    state.out.table(
        ["step", "type", "state", "cached", "seconds", "job"],
        [[s.name, s.type, s.state, s.cached, s.seconds, s.job_id] for s in execution.steps],
        title=f"pipeline {execution.pipeline}: {execution.state} ({execution.id})",
    )
