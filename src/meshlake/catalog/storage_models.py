"""Store tables of the storage layer: recipe runs (lineage)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import Base

__all__ = ["RecipeRunRow"]


class RecipeRunRow(Base):
    """One recipe run: source snapshot -> target snapshot, recipe hash."""

    __tablename__ = "ml_recipe_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(260), index=True)
    recipe_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    recipe_sha256: Mapped[str] = mapped_column(String(64))
    source_table: Mapped[str] = mapped_column(String(300), index=True)
    source_snapshot: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    target_table: Mapped[str] = mapped_column(String(300), index=True)
    target_snapshot: Mapped[int] = mapped_column(BigInteger)
    rows_in: Mapped[int] = mapped_column(BigInteger)
    rows_out: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
