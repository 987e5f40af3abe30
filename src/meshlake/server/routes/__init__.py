"""Routes of the REST API, one module per area; every route calls one session facade."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import Field

from meshlake.server.wire import DEFAULT_LIMIT, MAX_LIMIT

__all__ = ["STORE_INT_MAX", "Limit", "Offset", "StoreInt"]

#: The largest whole number the store holds (a signed 64-bit integer).
STORE_INT_MAX = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip (the previous next_offset).")]
DEFAULT = DEFAULT_LIMIT
StoreInt = Annotated[int, Field(ge=0, le=STORE_INT_MAX)]
"""A whole number a body may carry to the store (ids, sizes)."""
