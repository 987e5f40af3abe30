"""Store models of the ML domain: jobs, model groups and versions, pipeline executions.

They use the catalog store's declarative ``Base``; the alembic migration
``catalog/migrations/versions/0008_ml.py`` creates them. Model groups are governed
resources (rule 30): grants on them are ordinary ``ml_grants`` rows of kind ``model_group``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import ID, Base

__all__ = ["MLJobRow", "ModelGroupRow", "ModelVersionRow", "PipelineExecutionRow"]


class MLJobRow(Base):
    """One processing, training or scoring job: who ran it, on what, what it produced."""

    __tablename__ = "ml_jobs"
    __table_args__ = (Index("ix_ml_jobs_cache", "principal", "kind", "fingerprint", "state"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # processing | training | scoring
    name: Mapped[str] = mapped_column(String(128))
    principal: Mapped[str] = mapped_column(String(260), index=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16))  # RUNNING | SUCCEEDED | FAILED
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inputs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # MLflow run
    log: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModelGroupRow(Base):
    """A model group of an account (a SageMaker model package group; an MLflow registered
    model named ``<account>.<name>``)."""

    __tablename__ = "ml_model_groups"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelVersionRow(Base):
    """One registered version: its training job, MLflow run, metrics and approval status."""

    __tablename__ = "ml_model_versions"
    __table_args__ = (UniqueConstraint("group_id", "version"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("ml_model_groups.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[str] = mapped_column(String(36))
    run_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(260), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PipelineExecutionRow(Base):
    """One pipeline execution with its per-step state, timings and cache hits."""

    __tablename__ = "ml_pipeline_executions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(128), index=True)
    principal: Mapped[str] = mapped_column(String(260), index=True)
    account: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
