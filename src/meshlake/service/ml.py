"""The ML facade: governed processing, training, the model registry, scoring and lineage.

Every read goes through governed SQL as the acting principal (audited with ``service``
``processing``, ``training`` or ``scoring`` and the job id, rule 27); every output is a governed
Iceberg table created by the job, so owned by its principal (rule 3); model groups are governed
resources (rule 30) backed by MLflow registered models. The domain logic (splits, features,
estimators, metrics, MLflow, scripts) lives in :mod:`meshlake.ml`.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import select

from meshlake.catalog.ml_models import MLJobRow
from meshlake.errors import (
    AccessDeniedError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    MeshError,
    NotFoundError,
)
from meshlake.events import EventScope
from meshlake.ids import ROOT, check_name
from meshlake.ml.features import FeatureSpec
from meshlake.ml.metrics import CostMatrix
from meshlake.ml.records import (
    MLJob,
    ModelVersion,
    iso,
)
from meshlake.ml.split import SPLIT_NAMES, check_fractions
from meshlake.query.analyze import parse_query
from meshlake.service.catalog import CatalogAPI
from meshlake.service.governed import MeshQueryCatalog
from meshlake.service.ml_registry import MODEL_ARTIFACTS, ModelRegistryMixin
from meshlake.service.queries import QueryAPI
from meshlake.service.runtime import ServiceBase

if TYPE_CHECKING:
    from meshlake.ml.tracking import Tracker
    from meshlake.service.ml_lineage import Lineage
    from meshlake.service.ml_pipelines import PipelinesAPI

__all__ = ["MLAPI", "MLCore", "Progress", "fingerprint"]

Progress = Callable[[str, float], None]
TRACKER_KEY = "ml.tracker"
EXPERIMENT = "meshlake"
SPLIT_COLUMN = "ml_split__"
CODE_VERSION = "meshlake.ml/1"  # part of every step fingerprint: bump when outputs change


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: MLJobRow, cached: bool = False) -> MLJob:
    return MLJob(
        row.id,
        row.kind,
        row.name,
        row.principal,
        row.state,
        dict(row.spec or {}),
        list(row.inputs or []),
        dict(row.outputs or {}),
        dict(row.metrics or {}),
        dict(row.timings or {}),
        row.run_id,
        row.log or "",
        row.error,
        iso(row.started_at),
        iso(row.finished_at),
        cached,
    )


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (step caching).

    >>> fingerprint({"a": 1}) == fingerprint({"a": 1})
    True
    """
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class MLCore(ServiceBase):
    """Jobs: processing, training, evaluation, and lineage (the registry half is
    :class:`~meshlake.service.ml_registry.ModelRegistryMixin`)."""

    # ------------------------------------------------------------ plumbing
    @property
    def tracker(self) -> Tracker:
        """The mesh's MLflow tracker (one per mesh; opened on first use)."""
        tracker = self.rt.extras.get(TRACKER_KEY)
        if tracker is None:
            from meshlake.ml.tracking import Tracker

            tracker = Tracker(self.rt.settings.home)
            self.rt.extras[TRACKER_KEY] = tracker
        return tracker

    @property
    def jobs_dir(self) -> Path:
        """Managed folder of job files (rule 29)."""
        return self.rt.settings.home / "jobs"

    def _queries(self) -> QueryAPI:
        return QueryAPI(self.rt, self.principal)

    def _catalog(self) -> CatalogAPI:
        return CatalogAPI(self.rt, self.principal)

    def _require_principal(self) -> None:
        if self.principal == ROOT:
            raise AccessDeniedError("the mesh root runs no jobs: act as a principal")

    def _start_job(self, kind: str, name: str | None, spec: dict[str, Any], fp: str) -> str:
        job_id = str(uuid.uuid4())
        name = name or f"{kind}-{job_id[:8]}"
        check_name("job", name)
        with self.rt.store.transaction(bump=False) as session:
            session.add(
                MLJobRow(
                    id=job_id,
                    kind=kind,
                    name=name,
                    principal=self.principal,
                    account=self.account,
                    state="RUNNING",
                    spec=spec,
                    inputs=[],
                    outputs={},
                    metrics={},
                    timings={},
                    fingerprint=fp,
                    log="",
                    started_at=_now(),
                )
            )
        return job_id

    def _finish_job(
        self, job_id: str, *, ok: bool, error: str | None = None, **fields: Any
    ) -> MLJob:
        with self.change(
            f"ml.{fields.pop('action', 'job')}",
            f"job:{self.account}.{job_id}",
            [self.account],
            bump=False,
        ) as (session, record):
            row = session.get(MLJobRow, job_id)
            assert row is not None
            row.state = "SUCCEEDED" if ok else "FAILED"
            row.error = error
            row.finished_at = _now()
            for key, value in fields.items():
                setattr(row, key, value)
            record["after"] = {
                "job_id": job_id,
                "kind": row.kind,
                "state": row.state,
                "outputs": row.outputs,
                "error": error,
            }
            session.flush()
            job = _job(row)
            self.emit(
                "job.finished",
                f"/jobs/{self.account}",
                f"job:{self.account}.{job_id}",
                record["after"],
                EventScope(accounts=(self.account,)),
            )
        return job

    def job(self, job_id: str) -> MLJob:
        """A job the caller may see: its own, or any of an account it administers."""
        with self.rt.store.read() as session:
            row = session.get(MLJobRow, job_id)
        if row is None or not self._job_visible(row.principal, row.account):
            raise NotFoundError(f"job {job_id} not found")
        return _job(row)

    def _job_visible(self, principal: str, account: str) -> bool:
        return (
            principal == self.principal
            or self.principal == ROOT
            or self.state().is_admin(self.principal, account)
        )

    def jobs(self, kind: str | None = None, *, limit: int = 100) -> builtins.list[MLJob]:
        """Jobs the caller may see, newest first."""
        stmt = select(MLJobRow).order_by(MLJobRow.started_at.desc())
        if kind:
            stmt = stmt.where(MLJobRow.kind == kind)
        out: list[MLJob] = []
        with self.rt.store.read() as session:
            for row in session.scalars(stmt):
                if self._job_visible(row.principal, row.account):
                    out.append(_job(row))
                    if len(out) >= limit:
                        break
        return out

    def _cached(self, kind: str, fp: str) -> MLJob | None:
        """The newest succeeded job of the caller with this fingerprint whose output tables
        are still at the recorded snapshots."""
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(MLJobRow)
                .where(
                    MLJobRow.principal == self.principal,
                    MLJobRow.kind == kind,
                    MLJobRow.fingerprint == fp,
                    MLJobRow.state == "SUCCEEDED",
                )
                .order_by(MLJobRow.started_at.desc())
            ).all()
        catalog = self._catalog()
        for row in rows:
            tables = (row.outputs or {}).get("tables") or {}
            try:
                intact = all(
                    catalog.current_snapshot(t["database"], t["table"]) == t["snapshot_id"]
                    for t in tables.values()
                )
            except MeshError:
                intact = False
            if intact:
                return _job(row, cached=True)
        return None

    # ------------------------------------------------------------ inputs
    def input_state(self, sql: str, database: str | None = None) -> list[dict[str, Any]]:
        """The tables ``sql`` reads, each with its current snapshot and a digest of the
        caller's policy on it, without reading data (step caching, access re-checks).

        Raises:
            InvalidQueryError, NotFoundError, AccessDeniedError: as the query would.
        """
        parsed = parse_query(sql)
        catalog = MeshQueryCatalog(self.rt, self.principal)
        st = self.state()
        out = []
        for ref in sorted(set(parsed.tables), key=str):
            resolved = catalog.resolve(ref.database or database, ref.name)
            policy = resolved.policy
            tref = resolved.ref
            tid = st.table_by_name[(st.db_by_name[(tref.account, tref.database)], tref.name)]
            snap = self.rt.tables.load(st.tables[tid].iceberg_id).current_snapshot()
            digest = fingerprint(
                list(policy.columns),
                policy.row_predicate(),
                {c: policy.cell_predicate(c) for c in policy.columns},
            )
            out.append(
                {
                    "table": tref.qualified,
                    "account": tref.account,
                    "link": resolved.link,
                    "snapshot_id": snap.snapshot_id if snap else None,
                    "policy": digest,
                }
            )
        return out

    def _recheck(self, before: list[dict[str, Any]], sql: str, database: str | None) -> None:
        """Fail when the principal's access to its inputs changed while the job ran."""
        try:
            after = self.input_state(sql, database)
        except (NotFoundError, AccessDeniedError) as exc:
            raise AccessDeniedError(
                f"{self.principal} lost access to the job's input while it ran ({exc.message}); "
                "nothing was written"
            ) from exc
        policies = {(i["account"], i["table"]): i["policy"] for i in after}
        for i in before:
            if policies.get((i["account"], i["table"])) != i["policy"]:
                raise AccessDeniedError(
                    f"{self.principal}'s access to {i['table']} changed while the job ran; "
                    "nothing was written: run the job again"
                )

    def _read(
        self, sql: str, database: str | None, service: str, job_id: str
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        result = self._queries().run(sql, database=database, service=service, job_id=job_id)
        assert result.query_id is not None
        execution = self._queries().get(result.query_id)
        info = {
            "query_id": result.query_id,
            "sql": sql,
            "rows": result.num_rows,
            "tables": [
                {
                    "table": t["table"],
                    "account": t["account"],
                    "link": t.get("link"),
                    "snapshot_id": t.get("snapshot_id"),
                }
                for t in execution.tables
            ],
        }
        return result.to_pandas(), info

    # ------------------------------------------------------------ outputs
    def _ensure_database(self, name: str) -> None:
        st = self.state()
        db = self.rt.engine.find_database(st, self.principal, name)
        if db is not None and self.rt.engine.database_visible(st, self.principal, db):
            return
        if not self.rt.engine.decide(self.principal, "CREATE_DATABASE", _catalog()).allowed:
            raise NotFoundError(
                f"database {name} not found, and {self.principal} may not create it: ask an "
                f"admin of {self.account} to create it and grant CREATE_TABLE on it"
            )
        self._catalog().create_database(name, description="ML job outputs")

    def _write_tables(
        self, database: str, tables: dict[str, pa.Table], description: str
    ) -> dict[str, dict[str, Any]]:
        """Create every table or none (a failure drops the ones already created)."""
        catalog = self._catalog()
        st = self.state()
        db = self.rt.engine.find_database(st, self.principal, database)
        created: list[str] = []
        out: dict[str, dict[str, Any]] = {}
        try:
            for table_name, data in tables.items():
                if db is not None and (db.id, table_name) in self.state().table_by_name:
                    raise ConflictError(
                        f"table {database}.{table_name} already exists: choose another "
                        "output prefix"
                    )
                catalog.create_table(database, table_name, data=data, description=description)
                created.append(table_name)
                out[table_name] = {
                    "database": database,
                    "table": table_name,
                    "account": self.account,
                    "rows": data.num_rows,
                    "snapshot_id": catalog.current_snapshot(database, table_name),
                }
        except BaseException:
            for table_name in created:
                with contextlib.suppress(MeshError):  # best-effort undo
                    catalog.drop_table(database, table_name)
            raise
        return out

    def _job_folder(self, job_id: str) -> Path:
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ------------------------------------------------------------ processing
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
        arguments: Sequence[str] = (),
        name: str | None = None,
        progress: Progress | None = None,
        cache: bool = False,
    ) -> MLJob:
        """Run a processing job: governed SQL -> features -> stratified seeded split ->
        three governed Iceberg tables (``<prefix>_train``, ``_validation``, ``_test``) in
        ``output_database`` of the caller's account, owned by the caller.

        Args:
            sql: one SELECT, run as the caller (audited with ``service: processing``).
            target: the binary label column.
            output_database: a database of the caller's account (created when the caller
                may create databases).
            split: (train, validation, test) fractions.
            seed: the split's seed.
            database: default database for bare table names in ``sql``.
            categorical, numeric, scale, drop, positive: see :class:`FeatureSpec`.
            output_prefix: table name prefix (default ``<target>_<job id>``).
            script: a SageMaker-style processing script run instead of the built-in
                featurization (the query result is its ``dataset`` input).
            arguments: the script's arguments.
            name: a job name.
            progress: called with (stage, fraction done).
            cache: reuse a succeeded job of the caller with the same inputs (table snapshots
                and the caller's policy on them), code and parameters, if its outputs are
                unchanged.

        Raises:
            InvalidQueryError, NotFoundError, AccessDeniedError: the query's.
            InvalidInputError: bad split, columns or target; a failing script.
        """
        self._require_principal()
        fractions = check_fractions(split)
        spec = FeatureSpec.of(
            target,
            categorical=categorical,
            numeric=numeric,
            scale=scale,
            drop=list(drop),
            positive=positive,
        )
        check_name("database", output_database)
        before = self.input_state(sql, database)
        job_spec = {
            "sql": sql,
            "database": database,
            "features": spec.to_dict(),
            "split": list(fractions),
            "seed": seed,
            "output_database": output_database,
            "script": str(script) if script else None,
            "script_sha256": _sha256(script) if script else None,
            "arguments": [str(a) for a in arguments],
            "output_prefix": output_prefix,
        }
        fp = fingerprint(CODE_VERSION, "processing", job_spec, before)
        if cache and (hit := self._cached("processing", fp)) is not None:
            return hit
        job_id = self._start_job("processing", name, job_spec, fp)
        prefix = output_prefix or f"{_slug(target)}_{job_id[:8]}"
        check_name("table", f"{prefix}_validation")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        inputs: list[dict[str, Any]] = []
        try:
            df, info = self._read(sql, database, "processing", job_id)
            inputs.append(info)
            timings["query_s"] = time.perf_counter() - t0
            _tick(progress, "query", 1.0)
            folder = self._job_folder(job_id)
            artifacts = folder / "artifacts"
            artifacts.mkdir(exist_ok=True)
            t1 = time.perf_counter()
            counts: dict[str, dict[str, int]] = {}
            if script is None:
                from meshlake.ml.training import featurize_and_split

                processed = featurize_and_split(df, spec, fractions, seed)
                (artifacts / "featurizer.json").write_text(
                    json.dumps(processed.featurizer.to_dict(), indent=1, default=str)
                )
                tables = {
                    f"{prefix}_{k}": pa.Table.from_pandas(v, preserve_index=False)
                    for k, v in processed.frames.items()
                }
                counts = processed.counts
                log = ""
            else:
                from meshlake.ml.scripts import run_processing_script

                found, model_dir, run = run_processing_script(
                    script,
                    {"dataset": pa.Table.from_pandas(df, preserve_index=False)},
                    folder,
                    arguments=[str(a) for a in arguments],
                )
                if "train" not in found:
                    raise InvalidInputError(
                        "the processing script wrote no train output "
                        "(opt/ml/processing/train/*.parquet or *.csv)"
                    )
                for item in model_dir.iterdir():
                    if item.is_file():
                        shutil.copy2(item, artifacts / item.name)
                tables = {f"{prefix}_{k}": v for k, v in found.items()}
                log = run.log
            timings["transform_s"] = time.perf_counter() - t1
            _tick(progress, "transform", 1.0)
            self._recheck(before, sql, database)
            self._ensure_database(output_database)
            t2 = time.perf_counter()
            written = self._write_tables(
                output_database, tables, f"output of processing job {job_id}"
            )
            split_of = {f"{prefix}_{k}": k for k in SPLIT_NAMES}
            outputs = {
                "tables": {split_of.get(v["table"], v["table"]): v for v in written.values()},
                "artifacts": str(artifacts),
                "counts": counts,
                "target": target,
            }
            timings["write_s"] = time.perf_counter() - t2
            timings["total_s"] = time.perf_counter() - t0
            _tick(progress, "write", 1.0)
        except MeshError as exc:
            self._finish_job(
                job_id,
                ok=False,
                error=f"{exc.kind}: {exc.message}",
                inputs=inputs,
                action="process",
            )
            raise
        except Exception as exc:
            self._finish_job(job_id, ok=False, error=repr(exc), inputs=inputs, action="process")
            raise
        return self._finish_job(
            job_id,
            ok=True,
            inputs=inputs,
            outputs=outputs,
            timings=timings,
            log=log,
            action="process",
        )

    # ------------------------------------------------------------ training
    def _resolve_job(self, job: MLJob | str, kind: str) -> MLJob:
        found = self.job(job.id if isinstance(job, MLJob) else job)
        if found.kind != kind:
            raise InvalidInputError(f"job {found.id} is a {found.kind} job, not a {kind} job")
        if found.state == "EXPIRED":
            raise ExpiredError(
                f"the working files of job {found.id} expired (the storage lifecycle keeps "
                "finished jobs' files for a limited time): run the job again"
            )
        if found.state != "SUCCEEDED":
            raise InvalidInputError(f"job {found.id} did not succeed ({found.state})")
        return found

    def _read_splits(
        self, processing: MLJob, job_id: str, service: str
    ) -> tuple[dict[str, pd.DataFrame], list[dict[str, Any]]]:
        """Read every split in one governed query (one audit event per table)."""
        return self._read_tables(processing.tables, job_id, service)

    def _read_tables(
        self, tables: dict[str, dict[str, Any]], job_id: str, service: str
    ) -> tuple[dict[str, pd.DataFrame], list[dict[str, Any]]]:
        parts = [
            f'SELECT \'{split}\' AS {SPLIT_COLUMN}, * FROM "{t["database"]}"."{t["table"]}"'
            for split, t in tables.items()
        ]
        df, info = self._read(" UNION ALL ".join(parts), None, service, job_id)
        frames = {
            split: df[df[SPLIT_COLUMN] == split].drop(columns=SPLIT_COLUMN).reset_index(drop=True)
            for split in tables
        }
        info["splits"] = list(tables)
        return frames, [info]

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
        progress: Progress | None = None,
        cache: bool = False,
    ) -> MLJob:
        """Train on a processing job's tables (read as the caller, ``service: training``).

        Built-in estimators (``xgboost``, ``logistic_regression``, ``random_forest``,
        ``hist_gradient_boosting``) stop early on the validation split where they can, and
        are evaluated on validation and test; ``script`` runs a SageMaker script-mode
        training script instead. Each training job is one MLflow run (params, metrics,
        model and featurizer, ROC and feature-importance PNGs).

        Args:
            job: a succeeded processing job (or its id).
            estimator: estimator name.
            hyperparameters: over the estimator's defaults (SageMaker names for XGBoost).
            seed: every random choice derives from it.
            cost: cost matrix (``{"false_positive": 5, "false_negative": 1}``).
            cv: ``{"k": 10, "repeats": 5}``: repeated stratified CV on the train split.
            search: a small grid searched by CV on the train split.
            script: a training script (SageMaker's training contract).
            name: a job name.
            progress: called with (stage, fraction done).
            cache: reuse a succeeded training job of the caller on the same tables (and
                snapshots) with the same code and parameters.

        Returns:
            The training job; ``run_id`` is its MLflow run, ``metrics`` its evaluation.
        """
        from meshlake.ml.estimators import resolve_hyperparameters

        self._require_principal()
        processing = self._resolve_job(job, "processing")
        target = processing.outputs.get("target") or processing.spec["features"]["target"]
        if isinstance(cost, dict):
            cost = CostMatrix(**cost)
        hp = (
            resolve_hyperparameters(estimator, hyperparameters)
            if script is None
            else dict(hyperparameters or {})
        )
        spec = {
            "processing_job": processing.id,
            "estimator": estimator if script is None else "script",
            "hyperparameters": hp,
            "seed": seed,
            "cost": cost.to_dict() if cost else None,
            "cv": cv,
            "search": {k: list(v) for k, v in (search or {}).items()} or None,
            "script": str(script) if script else None,
            "script_sha256": _sha256(script) if script else None,
        }
        tables = {
            k: (v["account"], v["database"], v["table"], v["snapshot_id"])
            for k, v in processing.tables.items()
        }
        fp = fingerprint(CODE_VERSION, "training", spec, tables)
        if cache and (hit := self._cached("training", fp)) is not None:
            return hit
        job_id = self._start_job("training", name, spec, fp)
        tracker = self.tracker
        run_id: str | None = None
        inputs: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        try:
            frames, inputs = self._read_splits(processing, job_id, "training")
            _tick(progress, "read", 1.0)
            run_id = tracker.start_run(
                EXPERIMENT,
                name or f"training-{job_id[:8]}",
                {
                    "meshlake.job_id": job_id,
                    "meshlake.principal": self.principal,
                    "meshlake.processing_job": processing.id,
                },
            )
            folder = self._job_folder(job_id)
            model_dir = folder / MODEL_ARTIFACTS
            featurizer_src = Path(processing.outputs.get("artifacts", "")) / "featurizer.json"
            if script is None:
                metrics, extra_params, step_metrics = self._fit_builtin(
                    frames, target, estimator, hp, seed, cost, cv, search, model_dir, progress
                )
            else:
                metrics, extra_params, step_metrics = self._fit_script(
                    script, frames, target, hp, folder, model_dir, cost
                )
            if featurizer_src.exists():
                shutil.copy2(featurizer_src, model_dir / "featurizer.json")
            (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
            params = {
                "estimator": spec["estimator"],
                "seed": seed,
                "processing_job": processing.id,
                "target": target,
                **{f"hp.{k}": v for k, v in hp.items()},
                **extra_params,
            }
            for info in inputs:
                params["input.query_id"] = info["query_id"]
            tracker.log(
                run_id,
                params=params,
                metrics=_flat_metrics(metrics),
                step_metrics=step_metrics,
            )
            tracker.log_artifacts(run_id, model_dir, MODEL_ARTIFACTS)
            plots = folder / "plots"
            if plots.exists():
                tracker.log_artifacts(run_id, plots, "plots")
            tracker.end_run(run_id, True)
            _tick(progress, "log", 1.0)
        except BaseException as exc:
            if run_id is not None:
                with contextlib.suppress(Exception):  # the store may be the problem
                    tracker.end_run(run_id, False)
            error = f"{exc.kind}: {exc.message}" if isinstance(exc, MeshError) else repr(exc)
            self._finish_job(
                job_id, ok=False, error=error, inputs=inputs, run_id=run_id, action="train"
            )
            raise
        return self._finish_job(
            job_id,
            ok=True,
            inputs=inputs,
            outputs={"model": str(model_dir), "run_id": run_id, "target": target},
            metrics=metrics,
            run_id=run_id,
            timings={"total_s": time.perf_counter() - t0},
            action="train",
        )

    def _fit_builtin(
        self,
        frames: dict[str, pd.DataFrame],
        target: str,
        estimator: str,
        hp: dict[str, Any],
        seed: int,
        cost: CostMatrix | None,
        cv: dict[str, int] | None,
        search: dict[str, Sequence[Any]] | None,
        model_dir: Path,
        progress: Progress | None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[float]]]:
        from meshlake.ml.plots import write_plots
        from meshlake.ml.training import train_on_splits

        result = train_on_splits(
            frames,
            target,
            estimator,
            hp,
            seed=seed,
            cost=cost,
            cv=cv,
            search=search,
            progress=progress,
        )
        result.model.save(model_dir)
        metrics: dict[str, Any] = dict(result.metrics)
        model = result.model
        if model.best_iteration is not None:
            metrics["best_iteration"] = model.best_iteration
            metrics["rounds_trained"] = model.rounds_trained
        if result.cv:
            metrics["cv"] = result.cv
        if result.search:
            metrics["search"] = result.search
        importance = model.feature_importance()
        metrics["feature_importance"] = dict(sorted(importance.items(), key=lambda kv: -kv[1])[:20])
        write_plots(model_dir.parent / "plots", result.metrics, importance)
        return metrics, {}, model.history

    def _fit_script(
        self,
        script: str | Path,
        frames: dict[str, pd.DataFrame],
        target: str,
        hp: dict[str, Any],
        folder: Path,
        model_dir: Path,
        cost: CostMatrix | None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[float]]]:
        from meshlake.ml.estimators import load_model
        from meshlake.ml.metrics import binary_metrics
        from meshlake.ml.scripts import run_training_script

        out_dir, script_metrics, run = run_training_script(
            script, frames, target, folder, hyperparameters=hp
        )
        shutil.copytree(out_dir, model_dir, dirs_exist_ok=True)
        (folder / "training.log").write_text(run.log)
        metrics: dict[str, Any] = {"script": script_metrics}
        names = [c for c in frames["train"].columns if c != target]
        try:
            model = load_model(model_dir, feature_names=names)
        except InvalidInputError:
            return metrics, {}, {}
        for split in ("validation", "test"):
            if split in frames and len(frames[split]):
                f = frames[split]
                metrics[split] = binary_metrics(
                    f[target].to_numpy().astype(int),
                    model.predict_proba(f[names].to_numpy(dtype="float64")),
                    cost=cost,
                )
        return metrics, {}, {}

    def evaluate(
        self,
        job: MLJob | str,
        *,
        cost: CostMatrix | dict[str, float] | None = None,
        splits: Sequence[str] = ("validation", "test"),
        cache: bool = False,
    ) -> MLJob:
        """Evaluate a training job's model on its processing job's held-out splits, read
        again through governed SQL (``service: training``); an ``evaluation`` job.

        Returns:
            The job; ``metrics`` holds one metrics dict per split.
        """
        from meshlake.ml.estimators import load_model
        from meshlake.ml.metrics import binary_metrics

        self._require_principal()
        training = self._resolve_job(job, "training")
        processing = self._resolve_job(training.spec["processing_job"], "processing")
        if isinstance(cost, dict):
            cost = CostMatrix(**cost)
        spec = {
            "training_job": training.id,
            "cost": cost.to_dict() if cost else None,
            "splits": list(splits),
        }
        fp = fingerprint(CODE_VERSION, "evaluation", spec, training.run_id)
        if cache and (hit := self._cached("evaluation", fp)) is not None:
            return hit
        job_id = self._start_job("evaluation", None, spec, fp)
        inputs: list[dict[str, Any]] = []
        try:
            target = training.outputs["target"]
            model = load_model(Path(training.outputs["model"]))
            metrics: dict[str, Any] = {}
            wanted = {s: processing.tables[s] for s in splits if s in processing.tables}
            frames, inputs = self._read_tables(wanted, job_id, "training")
            for split, df in frames.items():
                names = model.feature_names or [c for c in df.columns if c != target]
                metrics[split] = binary_metrics(
                    df[target].to_numpy().astype(int),
                    model.predict_proba(df[names].to_numpy(dtype="float64")),
                    cost=cost,
                )
        except MeshError as exc:
            self._finish_job(
                job_id,
                ok=False,
                error=f"{exc.kind}: {exc.message}",
                inputs=inputs,
                action="evaluate",
            )
            raise
        return self._finish_job(
            job_id,
            ok=True,
            inputs=inputs,
            metrics=metrics,
            outputs={"training_job": training.id},
            action="evaluate",
        )


# ---------------------------------------------------------------- helpers
def _catalog() -> Any:
    from meshlake.resources import Catalog

    return Catalog()


def _tick(progress: Progress | None, stage: str, done: float) -> None:
    if progress is not None:
        progress(stage, done)


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text.lower())
    return out.strip("_") or "job"


def _sha256(path: str | Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise InvalidInputError(f"cannot read script {path}: {exc}") from exc


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for split in ("train", "validation", "test"):
        for key, value in (metrics.get(split) or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{split}_{key}"] = float(value)
    for key in ("best_iteration", "rounds_trained"):
        if isinstance(metrics.get(key), int):
            out[key] = float(metrics[key])
    cv = metrics.get("cv") or {}
    for key in ("auc_mean", "auc_std", "cost_mean"):
        if key in cv:
            out[f"cv_{key}"] = float(cv[key])
    return out


class MLAPI(ModelRegistryMixin, MLCore):
    """Processing, training, registry, scoring, pipelines and lineage for one principal
    (``session.ml``)."""

    @cached_property
    def pipelines(self) -> PipelinesAPI:
        """Pipelines: declared steps, caching, conditions, executions."""
        from meshlake.service.ml_pipelines import PipelinesAPI

        return PipelinesAPI(self)

    # ------------------------------------------------------------ lineage
    def lineage(self, version: ModelVersion) -> Lineage:
        """The chain version -> run -> training tables -> processing job -> query ids ->
        product version (snapshot) -> recipe run -> crawl run -> source files; parts the
        caller may not DESCRIBE appear as "not visible"."""
        from meshlake.service.ml_lineage import build_lineage

        row = self._group_row(version.group, version.account, "DESCRIBE")
        return build_lineage(self, row, self._version_row(row, version.version))

    def export_openlineage(self, version: ModelVersion, path: str | Path | None = None) -> Path:
        """Write the version's lineage as OpenLineage run events (JSON lines, the file
        transport's format); returns the file."""
        from meshlake.service.ml_lineage import export_openlineage

        return export_openlineage(self.lineage(version), path or self._default_ol_path(version))

    def _default_ol_path(self, version: ModelVersion) -> Path:
        folder = self.rt.settings.home / "openlineage"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{version.account}.{version.group}.v{version.version}.jsonl"

    def product_models(self, product: str) -> builtins.list[dict[str, Any]]:
        """The model versions built on data product ``product`` (by name), that the caller
        may DESCRIBE: what a product's description lists under "models"."""
        from meshlake.service.products import ProductsAPI

        p = ProductsAPI(self.rt, self.principal).get(product)
        return self.models_of_product(p.table_account, p.database, p.table)

    def models_of_product(
        self, table_account: str, database: str, table: str
    ) -> builtins.list[dict[str, Any]]:
        """Model versions trained on data read from a product's table (that the caller may
        DESCRIBE)."""
        from meshlake.service.ml_lineage import models_built_on

        return models_built_on(self, table_account, database, table)
