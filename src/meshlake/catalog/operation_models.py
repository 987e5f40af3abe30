"""Store table of the server's asynchronous operations (crawls, recipes, ML jobs, pipelines).

A row outlives the server process that ran it: a restarted server reports an operation whose
runner stopped renewing its lease as FAILED (interrupted), never as running forever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import Base

__all__ = ["OperationRow"]


class OperationRow(Base):
    """One asynchronous operation of one principal.

    ``state`` is QUEUED, RUNNING, SUCCEEDED or FAILED; ``result`` holds the operation's JSON
    result (paths removed), ``error`` its ``{"type", "message"}``. While the operation is
    QUEUED or RUNNING its runner renews ``lease_until``.
    """

    __tablename__ = "ml_operations"
    __table_args__ = (Index("ix_ml_operations_principal_created", "principal", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal: Mapped[str] = mapped_column(String(260))
    account: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    runner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
