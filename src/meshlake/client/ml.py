"""ML over HTTP: jobs and pipeline runs as server operations (waited for like the embedded
calls; ``wait=False`` returns the operation), the model registry and lineage.

The server runs no client code: ``script`` is not available here, and ``load_model`` is
replaced by :meth:`RemoteML.model_metadata` (the model itself stays on the server; score
with :meth:`RemoteML.score`). :meth:`RemoteML.export_openlineage` writes a local file from
the lineage the server answers.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from meshlake.client.http import HttpTransport
from meshlake.errors import InvalidInputError
from meshlake.ml.metrics import CostMatrix
from meshlake.ml.pipelines import Pipeline
from meshlake.ml.records import MLJob, ModelGroupView, ModelVersion
from meshlake.service.ml_lineage import Lineage, LineageNode
from meshlake.service.ml_pipelines import PipelineExecution, StepRun
from meshlake.service.operations import Operation

__all__ = ["RemoteML", "RemotePipelines"]


def _q(name: str) -> str:
    return quote(name, safe="")


def ml_job(d: dict[str, Any]) -> MLJob:
    """A job from its JSON form (paths the server never sends are absent)."""
    return MLJob(**{k: d[k] for k in MLJob.__dataclass_fields__ if k in d})


def model_version(d: dict[str, Any]) -> ModelVersion:
    """A model version from its JSON form."""
    fields = {k: d[k] for k in ModelVersion.__dataclass_fields__ if k in d}
    fields["aliases"] = tuple(d.get("aliases", ()))
    return ModelVersion(**fields)


def model_group(d: dict[str, Any]) -> ModelGroupView:
    """A model group from its JSON form."""
    return ModelGroupView(
        d["name"],
        d["account"],
        d.get("description", ""),
        d["creator"],
        d.get("created_at"),
        tuple(model_version(v) for v in d.get("versions", ())),
        tuple(d.get("permissions", ())),
    )


def pipeline_execution(d: dict[str, Any]) -> PipelineExecution:
    """A pipeline execution from its JSON form."""
    return PipelineExecution(
        d["id"],
        d["pipeline"],
        d["principal"],
        d["state"],
        tuple(StepRun(**s) for s in d.get("steps", ())),
        d.get("started_at"),
        d.get("finished_at"),
        d.get("error"),
    )


def lineage(d: dict[str, Any]) -> Lineage:
    """A lineage from its JSON form (invisible nodes keep only their kind and id)."""
    return Lineage(
        d["version"],
        tuple(
            LineageNode(
                n["kind"],
                n["id"],
                n["label"],
                bool(n.get("visible", True)),
                dict(n.get("detail") or {}),
                tuple(n.get("parents", ())),
            )
            for n in d["nodes"]
        ),
    )


def _cost(cost: CostMatrix | dict[str, float] | None) -> dict[str, float] | None:
    if isinstance(cost, CostMatrix):
        return dict(cost.to_dict())
    return None if cost is None else dict(cost)


def _no_script(script: Any) -> None:
    if script is not None:
        raise InvalidInputError(
            "a server runs no client code: scripts run only in an embedded mesh; use a "
            "built-in estimator or featurization over HTTP"
        )


def _pipeline_document(pipeline: Pipeline | Mapping[str, Any] | str | os.PathLike[str]) -> Any:
    if isinstance(pipeline, Pipeline):
        return pipeline.to_dict()
    if isinstance(pipeline, Mapping):
        return dict(pipeline)
    text = str(pipeline)
    if isinstance(pipeline, os.PathLike) or ("\n" not in text and text.endswith((".yaml", ".yml"))):
        try:
            return Path(pipeline).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read pipeline file {pipeline}: {exc}") from exc
    return text


class RemotePipelines:
    """``session.ml.pipelines`` over HTTP."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    def run(
        self,
        pipeline: Pipeline | Mapping[str, Any] | str | os.PathLike[str],
        *,
        cache: bool = True,
        wait: bool = True,
    ) -> PipelineExecution | Operation:
        """Run a pipeline on the server (a local YAML file is read here); a failing step
        raises its error, as embedded. ``wait=False``: the operation."""
        body = {"pipeline": _pipeline_document(pipeline), "cache": cache}
        out = self.http.operation("/v1/ml/pipelines/executions", body, wait=wait)
        return pipeline_execution(out) if wait else Operation.from_dict(out)

    def get(self, execution_id: str) -> PipelineExecution:
        """One execution."""
        path = f"/v1/ml/pipelines/executions/{_q(execution_id)}"
        return pipeline_execution(self.http.json("GET", path))

    def list(
        self, pipeline: str | None = None, *, limit: int = 50
    ) -> builtins.list[PipelineExecution]:
        """Executions the caller may see, newest first."""
        body = self.http.json(
            "GET", "/v1/ml/pipelines/executions", params={"pipeline": pipeline, "limit": limit}
        )
        return [pipeline_execution(d) for d in body["items"]]


class RemoteML:
    """``session.ml`` over HTTP."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    @cached_property
    def pipelines(self) -> RemotePipelines:
        """Pipelines: run, list and get executions."""
        return RemotePipelines(self.http)

    # ------------------------------------------------------------ jobs
    def _job(self, path: str, body: dict[str, Any], wait: bool) -> MLJob | Operation:
        out = self.http.operation(path, body, wait=wait)
        return ml_job(out) if wait else Operation.from_dict(out)

    def process(
        self,
        sql: str,
        *,
        target: str,
        output_database: str,
        split: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        database: str | None = None,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        scale: bool = False,
        drop: Sequence[str] = (),
        positive: Any = None,
        output_prefix: str | None = None,
        script: str | Path | None = None,
        name: str | None = None,
        cache: bool = False,
        wait: bool = True,
    ) -> MLJob | Operation:
        """A processing job on the server (see the embedded ``ml.process``)."""
        _no_script(script)
        body = {
            "sql": sql,
            "target": target,
            "output_database": output_database,
            "split": list(split),
            "seed": seed,
            "database": database,
            "categorical": None if categorical is None else list(categorical),
            "numeric": None if numeric is None else list(numeric),
            "scale": scale,
            "drop": list(drop),
            "positive": positive,
            "output_prefix": output_prefix,
            "name": name,
            "cache": cache,
        }
        return self._job("/v1/ml/processing-jobs", body, wait)

    def train(
        self,
        job: MLJob | str,
        *,
        estimator: str = "xgboost",
        hyperparameters: dict[str, Any] | None = None,
        seed: int = 0,
        cost: CostMatrix | dict[str, float] | None = None,
        cv: dict[str, int] | None = None,
        search: dict[str, Sequence[Any]] | None = None,
        script: str | Path | None = None,
        name: str | None = None,
        cache: bool = False,
        wait: bool = True,
    ) -> MLJob | Operation:
        """A training job on the server (see the embedded ``ml.train``)."""
        _no_script(script)
        body = {
            "job": job.id if isinstance(job, MLJob) else job,
            "estimator": estimator,
            "hyperparameters": hyperparameters,
            "seed": seed,
            "cost": _cost(cost),
            "cv": cv,
            "search": None if search is None else {k: list(v) for k, v in search.items()},
            "name": name,
            "cache": cache,
        }
        return self._job("/v1/ml/training-jobs", body, wait)

    def evaluate(
        self,
        job: MLJob | str,
        *,
        cost: CostMatrix | dict[str, float] | None = None,
        splits: Sequence[str] = ("validation", "test"),
        cache: bool = False,
        wait: bool = True,
    ) -> MLJob | Operation:
        """Evaluate a training job's model on its held-out splits."""
        body = {
            "job": job.id if isinstance(job, MLJob) else job,
            "cost": _cost(cost),
            "splits": list(splits),
            "cache": cache,
        }
        return self._job("/v1/ml/evaluation-jobs", body, wait)

    def score(
        self,
        sql: str,
        *,
        group: str,
        output_database: str,
        output_table: str,
        version: int | None = None,
        status: str | None = "Approved",
        alias: str | None = None,
        account: str | None = None,
        database: str | None = None,
        name: str | None = None,
        wait: bool = True,
    ) -> MLJob | Operation:
        """Batch-score a governed query into a table (needs USE)."""
        body = {
            "sql": sql,
            "group": group,
            "output_database": output_database,
            "output_table": output_table,
            "version": version,
            "status": status,
            "alias": alias,
            "account": account,
            "database": database,
            "name": name,
        }
        return self._job("/v1/ml/scoring-jobs", body, wait)

    def job(self, job_id: str) -> MLJob:
        """A job the caller may see."""
        return ml_job(self.http.json("GET", f"/v1/ml/jobs/{_q(job_id)}"))

    def jobs(self, kind: str | None = None, *, limit: int = 100) -> builtins.list[MLJob]:
        """Jobs the caller may see, newest first."""
        body = self.http.json("GET", "/v1/ml/jobs", params={"kind": kind, "limit": limit})
        return [ml_job(d) for d in body["items"]]

    # ------------------------------------------------------------ registry
    def create_model_group(self, name: str, description: str = "") -> ModelGroupView:
        """Create a model group in the caller's account."""
        body = {"name": name, "description": description}
        return model_group(self.http.json("POST", "/v1/ml/model-groups", json=body))

    def list_model_groups(self) -> builtins.list[ModelGroupView]:
        """Model groups the caller may DESCRIBE."""
        return [model_group(d) for d in self.http.json("GET", "/v1/ml/model-groups")["items"]]

    def describe_model_group(self, name: str, account: str | None = None) -> ModelGroupView:
        """A group with its versions (needs DESCRIBE)."""
        path = f"/v1/ml/model-groups/{_q(name)}"
        return model_group(self.http.json("GET", path, params={"account": account}))

    def register(
        self,
        job: MLJob | str,
        group: str,
        *,
        account: str | None = None,
        description: str = "",
        status: str = "PendingManualApproval",
    ) -> ModelVersion:
        """Register a training job's model as a new version (needs REGISTER)."""
        body = {
            "job": job.id if isinstance(job, MLJob) else job,
            "account": account,
            "description": description,
            "status": status,
        }
        path = f"/v1/ml/model-groups/{_q(group)}/versions"
        return model_version(self.http.json("POST", path, json=body))

    def model_version(
        self,
        group: str,
        version: int | None = None,
        *,
        account: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """One version: by number, by alias, or the newest (with ``status``)."""
        base = f"/v1/ml/model-groups/{_q(group)}"
        if version is not None and alias is None:
            d = self.http.json(
                "GET", f"{base}/versions/{int(version)}", params={"account": account}
            )
        else:
            params = {"account": account, "status": status, "alias": alias}
            d = self.http.json("GET", f"{base}/version", params=params)
        return model_version(d)

    def _version_call(self, version: ModelVersion, action: str, body: Any) -> ModelVersion:
        path = f"/v1/ml/model-groups/{_q(version.group)}/versions/{int(version.version)}/{action}"
        return model_version(
            self.http.json("POST", path, json=body, params={"account": version.account})
        )

    def approve(self, version: ModelVersion, *, reason: str = "") -> ModelVersion:
        """Set a version Approved (needs APPROVE)."""
        return self._version_call(version, "approve", {"reason": reason})

    def reject(self, version: ModelVersion, *, reason: str = "") -> ModelVersion:
        """Set a version Rejected (needs APPROVE)."""
        return self._version_call(version, "reject", {"reason": reason})

    def set_status(self, version: ModelVersion, status: str, *, reason: str = "") -> ModelVersion:
        """Change a version's approval status (needs APPROVE)."""
        return self._version_call(version, "status", {"status": status, "reason": reason})

    def set_alias(self, version: ModelVersion, alias: str) -> ModelVersion:
        """Point an alias at a version (needs APPROVE)."""
        return self._version_call(version, "alias", {"alias": alias})

    def model_metadata(
        self,
        group: str,
        version: int | None = None,
        *,
        account: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """What loading the model would give, without the model (needs USE)."""
        params = {"version": version, "account": account, "status": status, "alias": alias}
        return dict(self.http.json("GET", f"/v1/ml/model-groups/{_q(group)}/model", params=params))

    def lineage(self, version: ModelVersion) -> Lineage:
        """The version's lineage (no storage paths)."""
        path = f"/v1/ml/model-groups/{_q(version.group)}/versions/{int(version.version)}/lineage"
        return lineage(self.http.json("GET", path, params={"account": version.account}))

    def export_openlineage(self, version: ModelVersion, path: str | Path | None = None) -> Path:
        """Write the version's lineage (:meth:`lineage`, as the server answers it: crawl
        sources by file name) as OpenLineage run events (JSON lines) to a local file;
        returns the file (default ``openlineage/<account>.<group>.v<n>.jsonl`` under the
        current folder)."""
        from meshlake.service.ml_lineage import export_openlineage

        out = path or Path("openlineage") / (
            f"{version.account}.{version.group}.v{version.version}.jsonl"
        )
        return export_openlineage(self.lineage(version), out)
