"""Routes of the REST API, one module per area; every route calls one session facade."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from meshlake.server.wire import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["Limit", "Offset"]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip (the previous next_offset).")]
DEFAULT = DEFAULT_LIMIT
