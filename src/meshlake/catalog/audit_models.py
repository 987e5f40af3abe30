"""Store table of the audit anchor: the store's copy of every signed checkpoint."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import ID, Base

__all__ = ["AuditCheckpointRow"]


class AuditCheckpointRow(Base):
    """One signed checkpoint of the audit chain head (a copy of one digest file).

    The digest folder is the trusted record; this copy lets a reader list checkpoints
    without the folder and lets ``verify`` notice digest files that went missing.
    """

    __tablename__ = "ml_audit_checkpoints"
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    folder: Mapped[str] = mapped_column(Text)  # the digest folder the file was written to
    number: Mapped[int] = mapped_column(BigInteger)  # the digest's number in its folder
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seq: Mapped[int] = mapped_column(BigInteger)  # the checkpointed head event
    events: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(64))
    digest_file: Mapped[str] = mapped_column(String(128))
    digest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(64))
