"""SQLAlchemy models of the catalog store.

One schema for SQLite (embedded) and PostgreSQL (server). The alembic migrations in
``catalog/migrations`` create it; ``tests/catalog/test_migrations.py`` checks they match.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccountAdminRow",
    "AccountRow",
    "AuditRow",
    "Base",
    "ColumnRow",
    "DatabaseRow",
    "FilterRow",
    "GrantRow",
    "LocationRow",
    "MetaRow",
    "PrincipalRow",
    "TableRow",
    "TagAssignmentRow",
    "TagKeyRow",
    "TagValueRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = BigInteger().with_variant(Integer, "sqlite")
PENDING_VERSION = -1  # a grant written by a transaction that has not bumped the version yet


class Base(DeclarativeBase):
    """Declarative base of every meshlake store table (``ml_`` prefix)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class MetaRow(Base):
    """Key/value facts about the store (``version`` counts governance changes)."""

    __tablename__ = "ml_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AccountRow(Base):
    """An account (tenant) of the mesh."""

    __tablename__ = "ml_accounts"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PrincipalRow(Base):
    """A user or role ``account/name``; ``token_hash`` for the server's bearer tokens."""

    __tablename__ = "ml_principals"
    id: Mapped[str] = mapped_column(String(260), primary_key=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="role")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountAdminRow(Base):
    """Membership of a principal in its account's admins."""

    __tablename__ = "ml_account_admins"
    account: Mapped[str] = mapped_column(
        ForeignKey("ml_accounts.name", ondelete="CASCADE"), primary_key=True
    )
    principal: Mapped[str] = mapped_column(
        ForeignKey("ml_principals.id", ondelete="CASCADE"), primary_key=True
    )


class DatabaseRow(Base):
    """A database, or a resource link when ``link_account`` is set."""

    __tablename__ = "ml_databases"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    creator: Mapped[str] = mapped_column(String(260))
    link_account: Mapped[str | None] = mapped_column(String(128), nullable=True)
    link_database: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TableRow(Base):
    """A table; its data is the Iceberg table ``iceberg_id`` in the shared SQL catalog."""

    __tablename__ = "ml_tables"
    __table_args__ = (UniqueConstraint("database_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    database_id: Mapped[int] = mapped_column(ForeignKey("ml_databases.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(260))
    location: Mapped[str] = mapped_column(Text)
    iceberg_id: Mapped[str] = mapped_column(String(300))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ColumnRow(Base):
    """A column of a table's current schema (mirrors the Iceberg schema)."""

    __tablename__ = "ml_columns"
    __table_args__ = (UniqueConstraint("table_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("ml_tables.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(128))
    field_id: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class TagKeyRow(Base):
    """A tag key owned by an account."""

    __tablename__ = "ml_tag_keys"
    __table_args__ = (UniqueConstraint("account", "key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    key: Mapped[str] = mapped_column(String(50))
    creator: Mapped[str] = mapped_column(String(260))


class TagValueRow(Base):
    """An allowed value of a tag key."""

    __tablename__ = "ml_tag_values"
    key_id: Mapped[int] = mapped_column(
        ForeignKey("ml_tag_keys.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(String(50), primary_key=True)


class TagAssignmentRow(Base):
    """A tag ``key=value`` assigned to a database, table or column (``kind`` + ``target_id``)."""

    __tablename__ = "ml_tag_assignments"
    __table_args__ = (UniqueConstraint("kind", "target_id", "key_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(ID)
    key_id: Mapped[int] = mapped_column(ForeignKey("ml_tag_keys.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(50))


class FilterRow(Base):
    """A data filter on a table (row filter in canonical SQL, column include/exclude)."""

    __tablename__ = "ml_data_filters"
    __table_args__ = (UniqueConstraint("table_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("ml_tables.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    row_filter: Mapped[str | None] = mapped_column(Text, nullable=True)
    row_filter_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    columns: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    excluded_columns: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    creator: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LocationRow(Base):
    """A data location registered with an account's catalog."""

    __tablename__ = "ml_locations"
    __table_args__ = (UniqueConstraint("account", "uri"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    uri: Mapped[str] = mapped_column(Text)
    registered_by: Mapped[str] = mapped_column(String(260))


class GrantRow(Base):
    """Permissions (and grant options) of one grantee on one resource.

    ``kind`` is one of catalog, database, table, table_wildcard, filter, location, tag,
    tag_policy; ``target_id`` points at the row of that kind (none for catalog and
    tag_policy); ``spec`` holds the columns / excluded columns / tag values / expression.
    """

    __tablename__ = "ml_grants"
    __table_args__ = (
        UniqueConstraint("grantee", "kind", "target_account", "target_id", "spec_key"),
        Index("ix_ml_grants_target", "kind", "target_id"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    grantee: Mapped[str] = mapped_column(String(260), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_account: Mapped[str] = mapped_column(String(128))
    target_id: Mapped[int] = mapped_column(ID, default=0)
    spec_key: Mapped[str] = mapped_column(String(2048), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    permissions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    grantable: Mapped[list[Any]] = mapped_column(JSON, default=list)
    grantor: Mapped[str] = mapped_column(String(260))
    bounded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The store version whose transaction last wrote the row; PENDING_VERSION until that
    # transaction bumps the version (CatalogStore stamps its rows), so a reload can read only
    # the grants written since it last loaded.
    changed_version: Mapped[int] = mapped_column(
        BigInteger,
        default=PENDING_VERSION,
        onupdate=PENDING_VERSION,
        server_default="0",
        index=True,
    )


class AuditRow(Base):
    """One append-only, hash-chained audit event (a change or a data read)."""

    __tablename__ = "ml_audit"
    seq: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    category: Mapped[str] = mapped_column(String(16))  # change | read
    principal: Mapped[str] = mapped_column(String(260), index=True)
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    accounts: Mapped[list[Any]] = mapped_column(JSON, default=list)  # whose admins see it
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class WorkgroupRow(Base):
    """A query workgroup: where results are stored and how long they are kept."""

    __tablename__ = "ml_workgroups"
    __table_args__ = (UniqueConstraint("account", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("ml_accounts.name"))
    name: Mapped[str] = mapped_column(String(128))
    result_location: Mapped[str] = mapped_column(Text)
    retention_seconds: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_runtime_s: Mapped[int] = mapped_column(Integer, default=300, server_default="300")
    memory_limit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    max_bytes_scanned: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class QueryExecutionRow(Base):
    """One governed query: who ran what, what it read, how it went."""

    __tablename__ = "ml_query_executions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal: Mapped[str] = mapped_column(String(260), index=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    workgroup: Mapped[str] = mapped_column(String(128))
    sql: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    tables: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    bytes_scanned: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cancel_requested_by: Mapped[str | None] = mapped_column(String(260), nullable=True)
    # a small result as Arrow IPC (larger ones are Parquet files at result_path); loaded only
    # when asked for
    result_inline: Mapped[builtins.bytes | None] = mapped_column(
        LargeBinary, nullable=True, deferred=True
    )


class IntentRow(Base):
    """A change about to be committed to Iceberg, written before that commit.

    Iceberg commits outside the store transaction. An intent row is committed first (what,
    on which table, by whom, from which process), then the Iceberg commit, then the store
    transaction that completes the change also completes the intent. An intent still
    ``pending`` whose process is gone is finished or rolled back by the repair that runs
    when a mesh is opened (and by ``meshlake repair``).
    """

    __tablename__ = "ml_intents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    iceberg_id: Mapped[str] = mapped_column(String(300), index=True)
    principal: Mapped[str] = mapped_column(String(260))
    owner: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
