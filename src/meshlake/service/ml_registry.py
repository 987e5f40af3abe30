"""The model registry half of the ML facade: model groups (governed resources, rule 30),
versions with approval status, aliases, loading and batch scoring.

:class:`ModelRegistryMixin` is mixed into :class:`meshlake.service.ml.MLAPI`; MLflow's
registry mirrors the governed rows kept in the store.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import shutil
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import func, select

from meshlake.catalog.ml_models import ModelGroupRow, ModelVersionRow
from meshlake.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidInputError,
    MeshError,
    NotFoundError,
)
from meshlake.governance.models import find_model_group, model_group_access
from meshlake.ids import ROOT, check_name
from meshlake.ml.features import Featurizer
from meshlake.ml.records import (
    APPROVED,
    PENDING,
    REJECTED,
    LoadedModel,
    MLJob,
    ModelGroupView,
    ModelVersion,
    check_status,
    iso,
)
from meshlake.resources import ModelGroup
from meshlake.service.events import model_group_scope

if TYPE_CHECKING:
    from meshlake.service.ml import MLCore as _Host
else:
    _Host = object

__all__ = ["MODEL_ARTIFACTS", "ModelRegistryMixin"]

MODEL_ARTIFACTS = "model"  # the run's artifact folder holding the model and its featurizer


def _now() -> datetime:
    return datetime.now(UTC)


class ModelRegistryMixin(_Host):
    """Model groups, versions, approval, aliases, loading and scoring (see the module)."""

    # ------------------------------------------------------------ model groups
    def _group_row(self, name: str, account: str | None, action: str) -> ModelGroupRow:
        """A group the caller may see and act on (rule 0's errors)."""
        st = self.state()
        info = find_model_group(st, self.principal, name, account)
        if info is None:
            raise NotFoundError(f"model group {name} not found")
        decision = self.rt.engine.decide(self.principal, action, ModelGroup(name, info.account))
        if not decision.allowed:
            raise AccessDeniedError(
                f"{action} on model group {info.account}.{name} is not granted to "
                f"{self.principal}: ask its creator or an admin of {info.account}"
            )
        with self.rt.store.read() as session:
            row = session.get(ModelGroupRow, info.id)
        assert row is not None
        return row

    def create_model_group(self, name: str, description: str = "") -> ModelGroupView:
        """Create a model group in the caller's account; the caller holds ALL on it with the
        grant option (rule 30).

        Raises:
            ConflictError: a group of that name exists in the account.
        """
        self._require_principal()
        check_name("model group", name)
        with self.rt.store.read() as session:
            exists = session.scalars(
                select(ModelGroupRow.id).where(
                    ModelGroupRow.account == self.account, ModelGroupRow.name == name
                )
            ).first()
        if exists is not None:
            raise ConflictError(f"model group {name} already exists in {self.account}")
        self.tracker.ensure_registered_model(f"{self.account}.{name}", description)
        with self.change(
            "create_model_group",
            f"model_group:{self.account}.{name}",
            [self.account],
            after={"description": description},
        ) as (session, _):
            session.add(
                ModelGroupRow(
                    account=self.account,
                    name=name,
                    description=description,
                    creator=self.principal,
                    created_at=_now(),
                )
            )
        return self.describe_model_group(name)

    def list_model_groups(self) -> builtins.list[ModelGroupView]:
        """Model groups the caller may DESCRIBE (without their versions)."""
        from meshlake.governance.models import model_groups

        st = self.state()
        out = []
        with self.rt.store.read() as session:
            for info in sorted(model_groups(st).values(), key=lambda g: g.label):
                acc = model_group_access(st, self.principal, info)
                if not acc.visible and self.principal != ROOT:
                    continue
                row = session.get(ModelGroupRow, info.id)
                if row is not None:
                    out.append(
                        ModelGroupView(
                            row.name,
                            row.account,
                            row.description,
                            row.creator,
                            iso(row.created_at),
                            permissions=tuple(sorted(acc.perms)),
                        )
                    )
        return out

    def describe_model_group(self, name: str, account: str | None = None) -> ModelGroupView:
        """A group with its versions, metrics and approval status (needs DESCRIBE)."""
        row = self._group_row(name, account, "DESCRIBE")
        acc = model_group_access(
            self.state(),
            self.principal,
            find_model_group(self.state(), self.principal, name, row.account),  # type: ignore[arg-type]
        )
        versions = self._versions(row)
        return ModelGroupView(
            row.name,
            row.account,
            row.description,
            row.creator,
            iso(row.created_at),
            tuple(versions),
            tuple(sorted(acc.perms)),
        )

    def _versions(self, group: ModelGroupRow) -> builtins.list[ModelVersion]:
        aliases = self.tracker.aliases(f"{group.account}.{group.name}")
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.group_id == group.id)
                .order_by(ModelVersionRow.version)
            ).all()
        return [_version(group, r, aliases) for r in rows]

    def _version_row(self, group: ModelGroupRow, version: int) -> ModelVersionRow:
        with self.rt.store.read() as session:
            row = session.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.group_id == group.id, ModelVersionRow.version == version
                )
            ).first()
        if row is None:
            raise NotFoundError(f"version {version} of model group {group.name} not found")
        return row

    # ------------------------------------------------------------ registry
    def register(
        self,
        job: MLJob | str,
        group: str,
        *,
        account: str | None = None,
        description: str = "",
        status: str = PENDING,
    ) -> ModelVersion:
        """Register a training job's model as a new version of ``group`` (needs REGISTER;
        a missing group of the caller's own account is created first).

        Returns:
            The version, ``PendingManualApproval`` unless ``status`` says otherwise (setting
            another status needs APPROVE too).
        """
        self._require_principal()
        training = self._resolve_job(job, "training")
        if not training.run_id:
            raise InvalidInputError(f"training job {training.id} has no MLflow run")
        status = check_status(status)
        st = self.state()
        if find_model_group(st, self.principal, group, account) is None and (
            account in (None, self.account)
        ):
            with self.rt.store.read() as session:
                exists = session.scalars(
                    select(ModelGroupRow.id).where(
                        ModelGroupRow.account == self.account, ModelGroupRow.name == group
                    )
                ).first()
            if exists is None:
                self.create_model_group(group)
        row = self._group_row(group, account, "REGISTER")
        if status != PENDING:
            self._group_row(group, row.account, "APPROVE")
        mlflow_name = f"{row.account}.{row.name}"
        self.tracker.ensure_registered_model(mlflow_name, row.description)
        number = self.tracker.create_version(mlflow_name, training.run_id, MODEL_ARTIFACTS, status)
        try:
            with self.change(
                "register_model_version",
                f"model_group:{row.account}.{row.name}",
                [row.account, self.account],
                after={"version": number, "job_id": training.id, "status": status},
            ) as (session, _):
                taken = session.scalar(
                    select(func.count())
                    .select_from(ModelVersionRow)
                    .where(ModelVersionRow.group_id == row.id, ModelVersionRow.version == number)
                )
                if taken:
                    raise ConflictError(f"version {number} of {mlflow_name} is already registered")
                session.add(
                    ModelVersionRow(
                        group_id=row.id,
                        version=number,
                        job_id=training.id,
                        run_id=training.run_id,
                        status=status,
                        metrics=_summary_metrics(training.metrics),
                        description=description,
                        created_by=self.principal,
                        created_at=_now(),
                    )
                )
                self.emit(
                    "model.registered",
                    f"/model-groups/{row.account}/{row.name}",
                    f"model_group:{row.account}.{row.name}/{number}",
                    {"group": row.name, "version": number, "job_id": training.id, "status": status},
                    model_group_scope(row.account, row.name, self.account),
                )
        except BaseException:
            with contextlib.suppress(Exception):  # undo the MLflow side (§4's two stores)
                self.tracker.client.delete_model_version(mlflow_name, str(number))
            raise
        return self.model_version(group, number, account=row.account)

    def model_version(
        self,
        group: str,
        version: int | None = None,
        *,
        account: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """One version (needs DESCRIBE): by number, by alias, or the newest with ``status``
        (default: the newest)."""
        row = self._group_row(group, account, "DESCRIBE")
        aliases = self.tracker.aliases(f"{row.account}.{row.name}")
        if alias is not None:
            if alias not in aliases:
                raise NotFoundError(f"model group {group} has no alias {alias}")
            version = aliases[alias]
        if version is not None:
            return _version(row, self._version_row(row, int(version)), aliases)
        versions = self._versions(row)
        if status is not None:
            wanted = check_status(status)
            versions = [v for v in versions if v.status == wanted]
        if not versions:
            raise NotFoundError(
                f"model group {group} has no {'version' if status is None else status + ' version'}"
            )
        return versions[-1]

    def set_status(self, version: ModelVersion, status: str, *, reason: str = "") -> ModelVersion:
        """Change a version's approval status (needs APPROVE on the group; audited)."""
        status = check_status(status)
        row = self._group_row(version.group, version.account, "APPROVE")
        current = self._version_row(row, version.version)
        with self.change(
            "set_model_approval",
            f"model_group:{row.account}.{row.name}/{version.version}",
            [row.account, self.account],
            before={"status": current.status},
            after={"status": status, "reason": reason},
        ) as (session, _):
            live = session.get(ModelVersionRow, current.id)
            assert live is not None
            live.status = status
            live.updated_by = self.principal
            live.updated_at = _now()
            self.emit(
                "model.approved" if status == "Approved" else "model.status_changed",
                f"/model-groups/{row.account}/{row.name}",
                f"model_group:{row.account}.{row.name}/{version.version}",
                {
                    "group": row.name,
                    "version": version.version,
                    "before": current.status,
                    "status": status,
                    "reason": reason,
                },
                model_group_scope(row.account, row.name, self.account),
            )
        self.tracker.set_status(f"{row.account}.{row.name}", version.version, status)
        return self.model_version(row.name, version.version, account=row.account)

    def approve(self, version: ModelVersion, *, reason: str = "") -> ModelVersion:
        """Set a version ``Approved`` (needs APPROVE)."""
        return self.set_status(version, APPROVED, reason=reason)

    def reject(self, version: ModelVersion, *, reason: str = "") -> ModelVersion:
        """Set a version ``Rejected`` (needs APPROVE)."""
        return self.set_status(version, REJECTED, reason=reason)

    def set_alias(self, version: ModelVersion, alias: str) -> ModelVersion:
        """Point ``alias`` (``champion``, ``production`` ...) at a version (needs APPROVE)."""
        check_name("alias", alias)
        row = self._group_row(version.group, version.account, "APPROVE")
        self._version_row(row, version.version)
        with self.change(
            "set_model_alias",
            f"model_group:{row.account}.{row.name}",
            [row.account, self.account],
            after={"alias": alias, "version": version.version},
        ):
            pass
        self.tracker.set_alias(f"{row.account}.{row.name}", alias, version.version)
        return self.model_version(row.name, version.version, account=row.account)

    def load_model(
        self,
        group: str,
        version: int | None = None,
        *,
        account: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> LoadedModel:
        """Load a version to score with (needs USE): by number, alias, or newest with
        ``status`` (e.g. ``Approved``)."""
        from meshlake.ml.estimators import load_model

        row = self._group_row(group, account, "USE")
        mv = self.model_version(group, version, account=row.account, status=status, alias=alias)
        cache = self.rt.settings.home / "mlflow" / "cache" / mv.run_id
        local = cache / MODEL_ARTIFACTS
        if not (local / "featurizer.json").exists():
            if cache.exists():
                shutil.rmtree(cache)
            local = self.tracker.download(mv.run_id, MODEL_ARTIFACTS, cache)
        featurizer_file = local / "featurizer.json"
        if not featurizer_file.exists():
            raise InvalidInputError(f"version {mv.ref} has no featurizer: it cannot score raw rows")
        featurizer = Featurizer.from_dict(json.loads(featurizer_file.read_text()))
        model = load_model(local, feature_names=featurizer.feature_names)
        return LoadedModel(mv, featurizer, model)

    def model_metadata(
        self,
        group: str,
        version: int | None = None,
        *,
        account: str | None = None,
        status: str | None = None,
        alias: str | None = None,
    ) -> dict[str, Any]:
        """What :meth:`load_model` would load, without the model itself (needs USE): the
        version, its decision threshold, the target, the feature names it scores on, the
        estimator and its hyperparameters."""
        loaded = self.load_model(group, version, account=account, status=status, alias=alias)
        featurizer = loaded.featurizer
        return {
            "version": loaded.version.to_dict(),
            "threshold": loaded.threshold,
            "target": featurizer.spec.target,
            "positive": featurizer.positive,
            "features": list(featurizer.feature_names),
            "estimator": loaded.model.estimator,
            "hyperparameters": dict(loaded.model.hyperparameters),
        }

    # ------------------------------------------------------------ scoring
    def score(
        self,
        sql: str,
        *,
        group: str,
        output_database: str,
        output_table: str,
        version: int | None = None,
        status: str | None = APPROVED,
        alias: str | None = None,
        account: str | None = None,
        database: str | None = None,
        name: str | None = None,
    ) -> MLJob:
        """Batch-score a governed query into a governed table (``score`` = P(label 1),
        ``prediction`` at the version's threshold), reading as the caller with
        ``service: scoring``. Needs USE on the group.

        By default the newest ``Approved`` version scores; give ``version``, ``alias`` or
        ``status=None`` (newest of any status) to choose another.
        """
        from meshlake.service.ml import CODE_VERSION, fingerprint

        self._require_principal()
        check_name("database", output_database)
        check_name("table", output_table)
        loaded = self.load_model(
            group,
            version,
            account=account,
            status=None if (version is not None or alias is not None) else status,
            alias=alias,
        )
        before = self.input_state(sql, database)
        spec = {
            "sql": sql,
            "database": database,
            "model": loaded.version.ref,
            "output_database": output_database,
            "output_table": output_table,
        }
        job_id = self._start_job("scoring", name, spec, fingerprint(CODE_VERSION, spec, before))
        inputs: list[dict[str, Any]] = []
        try:
            df, info = self._read(sql, database, "scoring", job_id)
            inputs.append(info)
            scores = loaded.predict_proba(df)
            out = df.copy()
            out["score"] = scores
            out["prediction"] = (scores > loaded.threshold).astype("int64")
            self._recheck(before, sql, database)
            self._ensure_database(output_database)
            written = self._write_tables(
                output_database,
                {output_table: pa.Table.from_pandas(out, preserve_index=False)},
                f"scores of {loaded.version.ref} (job {job_id})",
            )
        except MeshError as exc:
            self._finish_job(
                job_id,
                ok=False,
                error=f"{exc.kind}: {exc.message}",
                inputs=inputs,
                action="score",
            )
            raise
        return self._finish_job(
            job_id,
            ok=True,
            inputs=inputs,
            outputs={"tables": {"scores": written[output_table]}, "model": loaded.version.ref},
            metrics={"rows": len(df), "predicted_positive": int(out["prediction"].sum())},
            action="score",
        )


def _summary_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "roc_auc",
        "pr_auc",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "log_loss",
        "cost",
        "threshold",
        "rows",
        "roc_points",
    )
    out: dict[str, Any] = {
        split: {k: v for k, v in (metrics.get(split) or {}).items() if k in keep}
        for split in ("validation", "test")
        if metrics.get(split)
    }
    if metrics.get("cv"):
        out["cv"] = {k: metrics["cv"][k] for k in ("auc_mean", "auc_std", "k", "repeats")}
    return out


def _version(group: ModelGroupRow, row: ModelVersionRow, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        group.name,
        group.account,
        row.version,
        row.status,
        row.job_id,
        row.run_id,
        dict(row.metrics or {}),
        row.created_by,
        iso(row.created_at),
        tuple(sorted(a for a, v in aliases.items() if v == row.version)),
        row.description,
    )
