"""The wire form of the REST API: JSON bodies without storage paths, errors, pages.

Clients get rows and metadata, never file paths (ARCHITECTURE.md section 7): every response
body drops the keys in :data:`PATH_KEYS` and replaces the mesh's own folders (home,
warehouse) in any remaining text with ``<managed>``; error messages get the same treatment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from meshlake.audit.log import AuditEvent
from meshlake.config import Settings
from meshlake.errors import MeshError
from meshlake.jsonable import to_jsonable

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PATH_KEYS",
    "Scrubber",
    "audit_event",
    "error_body",
    "json_rows",
    "jsonable",
    "page",
]

#: Keys whose values are storage paths: never sent to a client.
PATH_KEYS = frozenset(
    {"location", "result_path", "result_location", "data_location", "files", "file", "uri"}
)
MANAGED = "<managed>"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


jsonable = to_jsonable
"""The JSON form of an API result (:func:`meshlake.jsonable.to_jsonable`)."""


def _native(t: pa.DataType) -> bool:
    """Whether ``to_pylist`` gives JSON values for every value of type ``t``."""
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_null(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


def json_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as JSON values: what :func:`jsonable` makes of each row, built
    column by column (integers, strings and booleans as they are, non-finite floats as
    ``null``, any other type value by value through :func:`jsonable`).

    >>> t = pa.table({"i": [1, None], "x": [0.5, float("nan")], "d": pa.array([0, 1], pa.date32())})
    >>> json_rows(t)
    [[1, 0.5, '1970-01-01'], [None, None, '1970-01-02']]
    """
    columns: list[list[Any]] = []
    for column in table.columns:
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = [v if v is None or math.isfinite(v) else None for v in values]
        elif not _native(column.type):
            values = [jsonable(v) for v in values]
        columns.append(values)
    return [list(row) for row in zip(*columns, strict=True)]


class Scrubber:
    """Removes storage paths from response bodies and messages.

    >>> from meshlake.config import load_settings
    >>> s = Scrubber(load_settings("/srv/mesh"))
    >>> s.body({"name": "t", "location": "file:///srv/mesh/warehouse/t", "n": 1})
    {'name': 't', 'n': 1}
    >>> s.body({"after": {"crawler.location": "file:///landing/x", "rows": 2}})
    {'after': {'rows': 2}}
    >>> s.text("cannot read /srv/mesh/warehouse/x")
    'cannot read <managed>/x'
    """

    def __init__(
        self, settings: Settings, locations: Callable[[], Iterable[str]] | None = None
    ) -> None:
        folders = {settings.warehouse, str(settings.home), settings.home.as_uri()}
        if settings.warehouse.startswith("file://"):
            folders.add(settings.warehouse[len("file://") :])
        # longest first, so the warehouse inside the home is replaced as a whole
        self.own = sorted((f.rstrip("/") for f in folders if f), key=len, reverse=True)
        self.locations = locations

    @property
    def folders(self) -> list[str]:
        """The mesh's folders and the registered locations (as URIs and as paths), longest
        first."""
        if self.locations is None:
            return self.own
        extra: set[str] = set()
        for uri in self.locations():
            extra.add(uri.rstrip("/"))
            if uri.startswith("file://"):
                extra.add(uri[len("file://") :].rstrip("/"))
        return sorted({*self.own, *(e for e in extra if e)}, key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with the mesh's folders replaced by ``<managed>``."""
        for folder in self.folders:
            if folder in value:
                value = value.replace(folder, MANAGED)
        return value

    def body(self, value: Any) -> Any:
        """A JSON value of an API result, without path keys or managed folders."""
        return self._clean(jsonable(value))

    def _clean(self, value: Any, folders: list[str] | None = None) -> Any:
        folders = self.folders if folders is None else folders
        if isinstance(value, str):
            if any(value.startswith(f) for f in folders):
                return MANAGED  # a path as a whole value: not even its inner names
            for folder in folders:
                if folder in value:
                    value = value.replace(folder, MANAGED)
            return value
        if isinstance(value, Mapping):
            return {
                k: self._clean(v, folders)
                for k, v in value.items()
                if str(k).rsplit(".", 1)[-1] not in PATH_KEYS  # also crawler.location
            }
        if isinstance(value, list):
            return [self._clean(v, folders) for v in value]
        return value


def error_body(exc: MeshError, scrubber: Scrubber) -> dict[str, Any]:
    """``{"error": {"type": kind, "message": ..., **details}}`` without paths."""
    body = scrubber.body(exc.to_dict())
    body["message"] = scrubber.text(exc.message)
    return {"error": body}


def page(items: Sequence[Any], limit: int, offset: int, scrubber: Scrubber) -> dict[str, Any]:
    """One page of a listing: ``{"items": [...], "next_offset": n | null}``."""
    chunk = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {"items": scrubber.body(list(chunk)), "next_offset": offset + limit if more else None}


def audit_event(event: AuditEvent) -> dict[str, Any]:
    """An audit event with its ``data`` kept apart (the client rebuilds the same value)."""
    return {
        "seq": event.seq,
        "time": event.time.isoformat(),
        "category": event.category,
        "principal": event.principal,
        "action": event.action,
        "resource": event.resource,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
