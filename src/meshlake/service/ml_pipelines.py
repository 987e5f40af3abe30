"""Running pipelines: steps in dependency order, step caching, conditions, executions.

A step is reused when a succeeded job of the same principal has the same fingerprint: the
same input table snapshots (and the principal's policy on them), the same code and the same
parameters, with its output tables unchanged. So re-running an unchanged pipeline reuses every
step, and a new product snapshot re-runs from processing on.
"""

from __future__ import annotations

import builtins
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshlake.catalog.ml_models import PipelineExecutionRow
from meshlake.errors import MeshError, NotFoundError
from meshlake.events import EventScope
from meshlake.ml.pipelines import Pipeline, Step, check_condition
from meshlake.ml.records import MLJob, ModelVersion, iso

if TYPE_CHECKING:
    from meshlake.service.ml import MLAPI

__all__ = ["PipelineExecution", "PipelinesAPI", "StepRun"]

StepProgress = Callable[[str, str], None]  # (step name, state)


@dataclass(frozen=True)
class StepRun:
    """One step of an execution."""

    name: str
    type: str
    state: str  # SUCCEEDED | FAILED | SKIPPED
    cached: bool
    seconds: float
    job_id: str | None = None
    outcome: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class PipelineExecution:
    """One pipeline execution, with its per-step state and timings."""

    id: str
    pipeline: str
    principal: str
    state: str
    steps: tuple[StepRun, ...]
    started_at: str | None
    finished_at: str | None
    error: str | None = None

    def step(self, name: str) -> StepRun:
        """A step's run by name."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFoundError(f"execution {self.id} has no step {name}")

    @property
    def registered(self) -> dict[str, Any] | None:
        """The registered version (``{"group", "account", "version"}``), if a step registered."""
        for s in self.steps:
            if s.type == "register" and s.state == "SUCCEEDED" and s.outcome:
                return s.outcome
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = asdict(self)
        data["steps"] = [asdict(s) for s in self.steps]
        return data


def _execution(row: PipelineExecutionRow) -> PipelineExecution:
    return PipelineExecution(
        row.id,
        row.pipeline,
        row.principal,
        row.state,
        tuple(StepRun(**s) for s in row.steps or []),
        iso(row.started_at),
        iso(row.finished_at),
        row.error,
    )


class PipelinesAPI:
    """``session.ml.pipelines``: run, list and get pipeline executions."""

    def __init__(self, ml: MLAPI) -> None:
        self.ml = ml

    def run(
        self,
        pipeline: Pipeline | Mapping[str, Any] | str | os.PathLike[str],
        *,
        cache: bool = True,
        progress: StepProgress | None = None,
    ) -> PipelineExecution:
        """Run a pipeline (a :class:`Pipeline`, its dict, YAML text or a YAML file).

        Steps run in dependency order; with ``cache`` a step whose fingerprint matches a
        succeeded job is reused. A condition that does not hold skips the steps that depend
        on it. A failing step fails the execution (and skips the rest); the error is raised
        after the execution is recorded.
        """
        p = pipeline if isinstance(pipeline, Pipeline) else Pipeline.load(pipeline)
        self.ml._require_principal()
        exec_id = str(uuid.uuid4())
        started = datetime.now(UTC)
        with self.ml.rt.store.transaction(bump=False) as session:
            session.add(
                PipelineExecutionRow(
                    id=exec_id,
                    pipeline=p.name,
                    principal=self.ml.principal,
                    account=self.ml.account,
                    state="RUNNING",
                    definition=p.to_dict(),
                    steps=[],
                    started_at=started,
                )
            )
        runs: dict[str, StepRun] = {}
        outputs: dict[str, Any] = {}
        failure: MeshError | None = None
        for step in p.order():
            if failure is not None or any(
                runs[d].state != "SUCCEEDED"
                or (runs[d].type == "condition" and not (runs[d].outcome or {}).get("passed"))
                for d in step.depends_on
            ):
                runs[step.name] = StepRun(step.name, step.type, "SKIPPED", False, 0.0)
                _note(progress, step.name, "SKIPPED")
                continue
            _note(progress, step.name, "RUNNING")
            t0 = time.perf_counter()
            try:
                result, cached, job_id, outcome = self._run_step(step, outputs, cache)
            except MeshError as exc:
                failure = exc
                runs[step.name] = StepRun(
                    step.name,
                    step.type,
                    "FAILED",
                    False,
                    time.perf_counter() - t0,
                    error=f"{exc.kind}: {exc.message}",
                )
                _note(progress, step.name, "FAILED")
                continue
            outputs[step.name] = result
            runs[step.name] = StepRun(
                step.name,
                step.type,
                "SUCCEEDED",
                cached,
                round(time.perf_counter() - t0, 4),
                job_id,
                outcome,
            )
            _note(progress, step.name, "CACHED" if cached else "SUCCEEDED")
        state = "FAILED" if failure is not None else "SUCCEEDED"
        with self.ml.change(
            "ml.pipeline_run",
            f"pipeline:{self.ml.account}.{p.name}",
            [self.ml.account],
            after={"execution": exec_id, "state": state},
            bump=False,
        ) as (session, _):
            row = session.get(PipelineExecutionRow, exec_id)
            assert row is not None
            row.state = state
            row.steps = [asdict(r) for r in runs.values()]
            row.finished_at = datetime.now(UTC)
            row.error = None if failure is None else f"{failure.kind}: {failure.message}"
            session.flush()
            execution = _execution(row)
            self.ml.emit(
                "pipeline.finished",
                f"/pipelines/{self.ml.account}/{p.name}",
                f"pipeline:{self.ml.account}.{p.name}",
                {"execution": exec_id, "pipeline": p.name, "state": state, "error": row.error},
                EventScope(accounts=(self.ml.account,)),
            )
        if failure is not None:
            raise failure
        return execution

    def _run_step(
        self, step: Step, outputs: dict[str, Any], cache: bool
    ) -> tuple[Any, bool, str | None, dict[str, Any] | None]:
        ml, prm = self.ml, step.params
        upstream = outputs.get(step.input) if step.input else None
        if step.type == "process":
            job = ml.process(
                prm["sql"],
                target=prm["target"],
                output_database=prm["output_database"],
                split=tuple(prm.get("split", (0.7, 0.15, 0.15))),
                seed=int(prm.get("seed", 0)),
                database=prm.get("database"),
                categorical=prm.get("categorical"),
                numeric=prm.get("numeric"),
                scale=bool(prm.get("scale", False)),
                drop=prm.get("drop") or (),
                positive=prm.get("positive"),
                script=prm.get("script"),
                arguments=prm.get("arguments") or (),
                cache=cache,
            )
            return job, job.cached, job.id, {"tables": job.tables}
        if step.type == "train":
            assert isinstance(upstream, MLJob)
            job = ml.train(
                upstream,
                estimator=prm.get("estimator", "xgboost"),
                hyperparameters=prm.get("hyperparameters"),
                seed=int(prm.get("seed", 0)),
                cost=prm.get("cost"),
                cv=prm.get("cv"),
                search=prm.get("search"),
                script=prm.get("script"),
                cache=cache,
            )
            return job, job.cached, job.id, {"run_id": job.run_id}
        if step.type == "evaluate":
            assert isinstance(upstream, MLJob)
            job = ml.evaluate(upstream, cost=prm.get("cost"), cache=cache)
            summary = {
                split: {k: m.get(k) for k in ("roc_auc", "pr_auc", "accuracy", "cost")}
                for split, m in job.metrics.items()
            }
            return job, job.cached, job.id, summary
        if step.type == "condition":
            metrics = upstream.metrics if isinstance(upstream, MLJob) else {}
            passed, value = check_condition(prm, metrics)
            outcome = {
                "metric": prm["metric"],
                "op": prm.get("op", ">="),
                "value": prm["value"],
                "actual": value,
                "passed": passed,
            }
            # a pure function of its input: reused exactly when its input was
            return outcome, bool(getattr(upstream, "cached", False)), None, outcome
        if step.type == "register":
            assert isinstance(upstream, MLJob)
            version, reused = self._register(upstream, prm, cache)
            outcome = {
                "group": version.group,
                "account": version.account,
                "version": version.version,
                "status": version.status,
            }
            return version, reused, upstream.id, outcome
        # score
        assert isinstance(upstream, ModelVersion)
        job = ml.score(
            prm["sql"],
            group=upstream.group,
            account=upstream.account,
            version=upstream.version,
            output_database=prm["output_database"],
            output_table=prm["output_table"],
            database=prm.get("database"),
        )
        return job, False, job.id, {"tables": job.tables}

    def _register(
        self, training: MLJob, prm: Mapping[str, Any], cache: bool
    ) -> tuple[ModelVersion, bool]:
        ml = self.ml
        if cache:
            try:
                group = ml.describe_model_group(prm["group"], prm.get("account"))
            except NotFoundError:
                group = None
            if group is not None:
                for v in group.versions:
                    if v.job_id == training.id:
                        return v, True
        return (
            ml.register(
                training,
                prm["group"],
                account=prm.get("account"),
                description=prm.get("description", ""),
            ),
            False,
        )

    def get(self, execution_id: str) -> PipelineExecution:
        """An execution the caller may see (its own, or its administered accounts')."""
        with self.ml.rt.store.read() as session:
            row = session.get(PipelineExecutionRow, execution_id)
        if row is None or not self.ml._job_visible(row.principal, row.account):
            raise NotFoundError(f"pipeline execution {execution_id} not found")
        return _execution(row)

    def list(
        self, pipeline: str | None = None, *, limit: int = 50
    ) -> builtins.list[PipelineExecution]:
        """Executions the caller may see, newest first."""
        stmt = select(PipelineExecutionRow).order_by(PipelineExecutionRow.started_at.desc())
        if pipeline:
            stmt = stmt.where(PipelineExecutionRow.pipeline == pipeline)
        out: list[PipelineExecution] = []
        with self.ml.rt.store.read() as session:
            for row in session.scalars(stmt):
                if self.ml._job_visible(row.principal, row.account):
                    out.append(_execution(row))
                    if len(out) >= limit:
                        break
        return out


def _note(progress: StepProgress | None, step: str, state: str) -> None:
    if progress is not None:
        progress(step, state)
