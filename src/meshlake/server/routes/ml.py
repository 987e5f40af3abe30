"""ML over HTTP: processing, training, evaluation and scoring jobs and pipeline runs (as
asynchronous operations), jobs, the model registry and lineage.

The server runs no client code and reads no file a client names: processing and training
take no ``script``, pipelines may name no ``script`` (and come as JSON or YAML text), and
lineage names no storage paths (a crawl's source files are shown relative to its location).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from meshlake.mesh import Session
from meshlake.ml.pipelines import Pipeline
from meshlake.server.auth import CurrentSession, Runner, Scrub, SessionRoute
from meshlake.server.routes import STORE_INT_MAX
from meshlake.server.routes.operations import ACCEPTED, accepted
from meshlake.server.routes.storage import inline_document
from meshlake.server.wire import MAX_LIMIT, Scrubber

__all__ = ["router"]

router = APIRouter(prefix="/v1/ml", tags=["ml"], route_class=SessionRoute)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
VersionNumber = Annotated[int, Path(ge=1, le=STORE_INT_MAX, description="The version number.")]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


# ---------------------------------------------------------------- jobs
class ProcessBody(BaseModel):
    sql: str
    target: str
    output_database: str
    split: list[float] = Field(default_factory=lambda: [0.7, 0.15, 0.15])
    seed: Seed = 0
    database: str | None = None
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    scale: bool = False
    drop: list[str] = Field(default_factory=list)
    positive: Any = None
    output_prefix: str | None = None
    name: str | None = None
    cache: bool = False


class TrainBody(BaseModel):
    job: str = Field(description="The processing job's id.")
    estimator: str = "xgboost"
    hyperparameters: dict[str, Any] | None = None
    seed: Seed = 0
    cost: dict[str, float] | None = None
    cv: dict[str, int] | None = None
    search: dict[str, list[Any]] | None = None
    name: str | None = None
    cache: bool = False


class EvaluateBody(BaseModel):
    job: str = Field(description="The training job's id.")
    cost: dict[str, float] | None = None
    splits: list[str] = Field(default_factory=lambda: ["validation", "test"])
    cache: bool = False


class ScoreBody(BaseModel):
    sql: str
    group: str
    output_database: str
    output_table: str
    version: Annotated[int | None, Field(ge=1, le=STORE_INT_MAX)] = None
    status: str | None = "Approved"
    alias: str | None = None
    account: str | None = None
    database: str | None = None
    name: str | None = None


@router.post("/processing-jobs", status_code=202, responses=ACCEPTED)
def process(body: ProcessBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """A processing job: governed SQL -> features -> split tables (an operation; its
    result is the job)."""
    args = body.model_dump()
    sql = args.pop("sql")

    def work(session: Session) -> Any:
        return session.ml.process(sql, **{**args, "split": tuple(args["split"])})

    return accepted(runner.submit(s, "ml.process", body.model_dump(), work), scrub)


@router.post("/training-jobs", status_code=202, responses=ACCEPTED)
def train(body: TrainBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """A training job on a processing job's tables (an operation; its result is the job)."""
    args = body.model_dump()
    job = args.pop("job")

    def work(session: Session) -> Any:
        return session.ml.train(job, **args)

    return accepted(runner.submit(s, "ml.train", body.model_dump(), work), scrub)


@router.post("/evaluation-jobs", status_code=202, responses=ACCEPTED)
def evaluate(body: EvaluateBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """Evaluate a training job's model on its held-out splits (an operation)."""

    def work(session: Session) -> Any:
        return session.ml.evaluate(body.job, cost=body.cost, splits=body.splits, cache=body.cache)

    return accepted(runner.submit(s, "ml.evaluate", body.model_dump(), work), scrub)


@router.post("/scoring-jobs", status_code=202, responses=ACCEPTED)
def score(body: ScoreBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """Batch-score a governed query into a table with a registered model (needs USE; an
    operation; its result is the job)."""
    args = body.model_dump()
    sql = args.pop("sql")

    def work(session: Session) -> Any:
        return session.ml.score(sql, **args)

    return accepted(runner.submit(s, "ml.score", body.model_dump(), work), scrub)


@router.get("/jobs")
def list_jobs(
    s: CurrentSession,
    scrub: Scrub,
    kind: Literal["processing", "training", "evaluation", "scoring"] | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Jobs the caller may see (own; admins: their accounts'), newest first."""
    return {"items": scrub.body(s.ml.jobs(kind, limit=limit))}


@router.get("/jobs/{job_id}")
def get_job(job_id: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One job."""
    return scrub.body(s.ml.job(job_id))


# ---------------------------------------------------------------- model registry
class GroupBody(BaseModel):
    name: str
    description: str = ""


class RegisterBody(BaseModel):
    job: str = Field(description="The training job's id.")
    account: str | None = None
    description: str = ""
    status: str = "PendingManualApproval"


class ReasonBody(BaseModel):
    reason: str = ""


class AliasBody(BaseModel):
    alias: str


GROUP = "/model-groups/{name}"
VERSION = GROUP + "/versions/{version}"


@router.post("/model-groups", status_code=201)
def create_model_group(body: GroupBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a model group in the caller's account (the caller holds ALL on it)."""
    return scrub.body(s.ml.create_model_group(body.name, body.description))


@router.get("/model-groups")
def list_model_groups(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """Model groups the caller may DESCRIBE."""
    return {"items": scrub.body(s.ml.list_model_groups())}


@router.get(GROUP)
def describe_model_group(
    name: str, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """A group with its versions (needs DESCRIBE)."""
    return scrub.body(s.ml.describe_model_group(name, account))


@router.post(GROUP + "/versions", status_code=201)
def register(name: str, body: RegisterBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Register a training job's model as a new version (needs REGISTER)."""
    return scrub.body(
        s.ml.register(
            body.job, name, account=body.account, description=body.description, status=body.status
        )
    )


@router.get(GROUP + "/version")
def select_version(
    name: str,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
    status: str | None = None,
    alias: str | None = None,
) -> Any:
    """The version an alias points at, or the newest (with ``status``) (needs DESCRIBE)."""
    return scrub.body(s.ml.model_version(name, account=account, status=status, alias=alias))


@router.get(VERSION)
def get_version(
    name: str, version: VersionNumber, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """One version (needs DESCRIBE)."""
    return scrub.body(s.ml.model_version(name, version, account=account))


@router.post(VERSION + "/approve")
def approve(
    name: str,
    version: VersionNumber,
    body: ReasonBody,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Set a version Approved (needs APPROVE)."""
    mv = s.ml.model_version(name, version, account=account)
    return scrub.body(s.ml.approve(mv, reason=body.reason))


class StatusBody(BaseModel):
    status: str
    reason: str = ""


@router.post(VERSION + "/status")
def set_status(
    name: str,
    version: VersionNumber,
    body: StatusBody,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Set a version's approval status (needs APPROVE): ``PendingManualApproval``,
    ``Approved`` or ``Rejected``."""
    mv = s.ml.model_version(name, version, account=account)
    return scrub.body(s.ml.set_status(mv, body.status, reason=body.reason))


@router.post(VERSION + "/reject")
def reject(
    name: str,
    version: VersionNumber,
    body: ReasonBody,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Set a version Rejected (needs APPROVE)."""
    mv = s.ml.model_version(name, version, account=account)
    return scrub.body(s.ml.reject(mv, reason=body.reason))


@router.post(VERSION + "/alias")
def set_alias(
    name: str,
    version: VersionNumber,
    body: AliasBody,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Point an alias at a version (needs APPROVE)."""
    mv = s.ml.model_version(name, version, account=account)
    return scrub.body(s.ml.set_alias(mv, body.alias))


@router.get(GROUP + "/model")
def model_metadata(
    name: str,
    s: CurrentSession,
    scrub: Scrub,
    version: Annotated[int | None, Query(ge=1, le=STORE_INT_MAX)] = None,
    account: str | None = None,
    status: str | None = None,
    alias: str | None = None,
) -> Any:
    """What loading the model would give, without the model: version, threshold, target,
    features, estimator (needs USE)."""
    return scrub.body(
        s.ml.model_metadata(name, version, account=account, status=status, alias=alias)
    )


def lineage_body(lineage: dict[str, Any], scrub: Scrubber) -> dict[str, Any]:
    """A lineage without storage paths: a crawl's source files by file name (visible or
    not), the crawled location as ``<location>``."""
    files: dict[str, str] = {}
    for n in lineage["nodes"]:
        if n.get("kind") == "source_file":
            path = str(n["id"]).removeprefix("file:")
            files[n["id"]] = f"file:{PurePosixPath(path).name}"
    paths = {f.removeprefix("file:") for f in files}
    locations = sorted(
        {
            str(n["detail"]["location"]).rstrip("/")
            for n in lineage["nodes"]
            if n.get("kind") == "crawl_run" and (n.get("detail") or {}).get("location")
        },
        key=len,
        reverse=True,
    )

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            if value in files:
                return files[value]
            if value in paths:  # a visible file's label
                return PurePosixPath(value).name
            for loc in locations:
                value = value.replace(loc, "<location>")
            return value
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    body: dict[str, Any] = scrub.body(clean(lineage))
    return body


@router.get(VERSION + "/lineage")
def lineage(
    name: str, version: VersionNumber, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """The version's lineage (parts the caller may not DESCRIBE show as not visible)."""
    mv = s.ml.model_version(name, version, account=account)
    return lineage_body(s.ml.lineage(mv).to_dict(), scrub)


# ---------------------------------------------------------------- pipelines
class PipelineBody(BaseModel):
    pipeline: dict[str, Any] | str = Field(description="The definition as JSON or YAML text.")
    cache: bool = True


@router.post("/pipelines/executions", status_code=202, responses=ACCEPTED)
def run_pipeline(body: PipelineBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """Run a pipeline (an operation; its result is the execution). The definition is checked
    first (``400`` for unknown step types, missing parameters, cycles); steps may name no
    ``script``."""
    definition = Pipeline.from_dict(
        inline_document(body.pipeline, "pipeline", {"script"})
    ).to_dict()

    def work(session: Session) -> Any:
        return session.ml.pipelines.run(definition, cache=body.cache)

    request = {"pipeline": definition, "cache": body.cache}
    return accepted(runner.submit(s, "ml.pipeline", request, work), scrub)


@router.get("/pipelines/executions")
def list_pipeline_executions(
    s: CurrentSession, scrub: Scrub, pipeline: str | None = None, limit: Limit = 50
) -> dict[str, Any]:
    """Executions the caller may see (own; admins: their accounts'), newest first."""
    return {"items": scrub.body(s.ml.pipelines.list(pipeline, limit=limit))}


@router.get("/pipelines/executions/{execution_id}")
def get_pipeline_execution(execution_id: str, s: CurrentSession, scrub: Scrub) -> Any:
    """One execution with its steps."""
    return scrub.body(s.ml.pipelines.get(execution_id))
