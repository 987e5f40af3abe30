"""Experiment tracking and the model registry on MLflow (``mlflow-skinny``).

By default MLflow's SQLAlchemy store runs on a SQLite file in the mesh home and artifacts live
in ``<home>/mlflow/artifacts``; any tracking URI (an MLflow server, PostgreSQL) works by
setting ``MESHLAKE_MLFLOW_TRACKING_URI``. Each training job is one MLflow run; each model group
is one registered model named ``<account>.<group>``; each version carries its approval status
as the tag ``approval_status`` (meshlake's store holds the governed copy).

MLflow is imported inside :class:`Tracker`'s methods only.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from meshlake.errors import StorageError

__all__ = ["ENV_TRACKING_URI", "Tracker"]

ENV_TRACKING_URI = "MESHLAKE_MLFLOW_TRACKING_URI"
APPROVAL_TAG = "approval_status"
_LOCK = threading.Lock()
_TEMPLATE: dict[str, Path] = {}  # a freshly migrated, empty MLflow SQLite store, per process


def _forget_engines(uri: str) -> None:
    """Drop MLflow's process-wide engines for ``uri`` (it keeps one per URI, whose pooled
    connections would still point at a deleted file of the same name)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    for store in (TrackingStore, RegistryStore):
        engines = getattr(store, "_engine_map", None)
        if isinstance(engines, dict):
            engine = engines.pop(uri, None)
            if engine is not None:
                engine.dispose()


class Tracker:
    """A thin, lazily connected MLflow client for one mesh.

    Args:
        home: the mesh home (default store and artifact folder).
        tracking_uri: MLflow tracking URI (default: ``$MESHLAKE_MLFLOW_TRACKING_URI`` or
            ``sqlite:///<home>/mlflow.db``).
    """

    def __init__(self, home: Path, tracking_uri: str | None = None) -> None:
        self.home = home
        self._default_db = home / "mlflow.db"
        self.tracking_uri = (
            tracking_uri or os.environ.get(ENV_TRACKING_URI) or f"sqlite:///{self._default_db}"
        )
        self.artifact_root = (home / "mlflow" / "artifacts").as_uri()
        self._client: Any = None
        self._experiments: dict[str, str] = {}

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` (created, with its store, on first use)."""
        if self._client is None:
            with _LOCK:
                if self._client is None:
                    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
                    from mlflow.tracking import MlflowClient

                    for name in ("mlflow", "alembic.runtime.migration"):
                        logging.getLogger(name).setLevel(logging.WARNING)

                    fresh = self._seed_from_template()
                    try:
                        self._client = MlflowClient(
                            tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                        )
                        self._client.search_experiments(max_results=1)  # opens the store
                        if fresh:
                            self._keep_template()
                    except Exception as exc:  # MLflow raises many kinds here
                        self._client = None
                        raise StorageError(
                            f"cannot open the MLflow tracking store {self.tracking_uri}: {exc}"
                        ) from exc
        return self._client

    def _default_store(self) -> bool:
        return self.tracking_uri == f"sqlite:///{self._default_db}"

    def _seed_from_template(self) -> bool:
        """A new default store starts as a copy of this process's freshly migrated empty one
        (MLflow's migrations take seconds). Returns True when the store is new and no template
        exists yet."""
        if not self._default_store() or self._default_db.exists():
            return False
        _forget_engines(self.tracking_uri)  # a store deleted and made again: no stale pool
        template = _TEMPLATE.get("sqlite")
        if template is not None and template.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, self._default_db)
            return False
        return True

    def _keep_template(self) -> None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="meshlake-mlflow-"))
        target = folder / "mlflow.db"
        shutil.copyfile(self._default_db, target)
        _TEMPLATE["sqlite"] = target

    # ------------------------------------------------------------ runs
    def experiment(self, name: str) -> str:
        """The id of experiment ``name`` (created with the mesh's artifact root)."""
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            if found is None:
                exp_id = self.client.create_experiment(
                    name, artifact_location=f"{self.artifact_root}/{name}"
                )
            else:
                exp_id = found.experiment_id
            self._experiments[name] = exp_id
        return self._experiments[name]

    def start_run(self, experiment: str, run_name: str, tags: dict[str, str]) -> str:
        """Start a run; returns its id."""
        run = self.client.create_run(self.experiment(experiment), run_name=run_name, tags=tags)
        return str(run.info.run_id)

    def log(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        step_metrics: dict[str, list[float]] | None = None,
    ) -> None:
        """Log parameters and metrics (finite values only) in batches."""
        import time

        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        ps = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        ms = [
            Metric(k, float(v), now, 0)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and math.isfinite(v)
        ]
        for key, values in (step_metrics or {}).items():  # at most ~100 points per curve
            stride = max(1, len(values) // 100)
            ms.extend(
                Metric(key, float(v), now, i)
                for i, v in enumerate(values)
                if i % stride == 0 or i == len(values) - 1
            )
        for i in range(0, max(len(ps), 1), 100):
            chunk = ps[i : i + 100]
            if chunk:
                self.client.log_batch(run_id, params=chunk)
        for i in range(0, len(ms), 900):
            self.client.log_batch(run_id, metrics=ms[i : i + 900])

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        """Copy a folder's files into the run's artifacts."""
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def end_run(self, run_id: str, ok: bool) -> None:
        """Mark a run FINISHED or FAILED."""
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")

    def download(self, run_id: str, path: str, destination: Path) -> Path:
        """Download a run's artifact folder; returns the local path."""
        destination.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, path, str(destination)))

    def run_info(self, run_id: str) -> dict[str, Any]:
        """A run's status, params and metrics."""
        run = self.client.get_run(run_id)
        return {
            "run_id": run_id,
            "status": run.info.status,
            "artifact_uri": run.info.artifact_uri,
            "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
        }

    # ------------------------------------------------------------ registry
    def ensure_registered_model(self, name: str, description: str = "") -> None:
        """Create the registered model ``name`` unless it exists."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=description or None)

    def create_version(self, name: str, run_id: str, artifact_path: str, status: str) -> int:
        """Register a run's model folder as a new version; returns its number."""
        mv = self.client.create_model_version(
            name, f"runs:/{run_id}/{artifact_path}", run_id, tags={APPROVAL_TAG: status}
        )
        return int(mv.version)

    def set_status(self, name: str, version: int, status: str) -> None:
        """Mirror a version's approval status onto its MLflow tag."""
        self.client.set_model_version_tag(name, str(version), APPROVAL_TAG, status)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at a version."""
        self.client.set_registered_model_alias(name, alias, str(version))

    def version_by_alias(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, if any."""
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def aliases(self, name: str) -> dict[str, int]:
        """Every alias of a registered model."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException:
            return {}
        return {k: int(v) for k, v in (model.aliases or {}).items()}
