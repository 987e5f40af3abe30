"""Store table of the server's bearer tokens: only their SHA-256 hashes, never the tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshlake.catalog.models import Base

__all__ = ["TokenRow"]


class TokenRow(Base):
    """One bearer token of one principal.

    The token text is ``mlk_<id>_<secret>``: ``id`` (the primary key) finds the row in one
    indexed lookup, ``token_hash`` is the SHA-256 of the whole token text.
    """

    __tablename__ = "ml_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(String(260), index=True)
    account: Mapped[str] = mapped_column(String(128), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(260))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(260), nullable=True)
