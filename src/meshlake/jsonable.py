"""JSON forms of API results, shared by every face (CLI ``--json``, the server's responses)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any

__all__ = ["to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Turn API results (``to_dict()`` objects, dataclasses, tuples, dates) into JSON values.

    Non-finite floats become ``null`` so that every output is strict JSON.

    >>> to_jsonable({"a": (1, 2), "b": date(2024, 1, 31), "c": float("nan")})
    {'a': [1, 2], 'b': '2024-01-31', 'c': None}
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (Decimal, PurePath)):
        return str(value)
    return str(value)
