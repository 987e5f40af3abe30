"""Store models of the data products service: products, their versions and access requests.

They use the catalog store's declarative ``Base``; the alembic migration
``catalog/migrations/versions/0003_products.py`` creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import ID, Base

__all__ = ["REQUEST_STATES", "AccessRequestRow", "ProductRow", "ProductVersionRow"]

REQUEST_STATES = ("PENDING", "APPROVED", "DENIED", "REVOKED")


class ProductRow(Base):
    """A published data product: a contract bound to one table of its owner account."""

    __tablename__ = "ml_products"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    owner_account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    table_account: Mapped[str] = mapped_column(String(128))
    database: Mapped[str] = mapped_column(String(128))
    table: Mapped[str] = mapped_column(String(128))
    contract_yaml: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductVersionRow(Base):
    """One published version: the snapshot it describes and its quality, bias and schema."""

    __tablename__ = "ml_product_versions"
    product_id: Mapped[int] = mapped_column(
        ForeignKey("ml_products.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int | None] = mapped_column(ID, nullable=True)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    bias: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    schema: Mapped[list[Any]] = mapped_column(JSON)
    changelog: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_by: Mapped[str] = mapped_column(String(260))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessRequestRow(Base):
    """A request for access to a product, and its decision."""

    __tablename__ = "ml_access_requests"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("ml_products.id", ondelete="CASCADE"))
    requester: Mapped[str] = mapped_column(String(260))
    for_principal: Mapped[str] = mapped_column(String(260))
    permissions: Mapped[list[Any]] = mapped_column(JSON)
    columns: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    decided_by: Mapped[str | None] = mapped_column(String(260), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
