"""The meshlake error tree.

Every failure a user can cause is a subclass of :class:`MeshError`. Each class carries the
HTTP ``status`` the server answers with and a short ``kind`` used by JSON output and the
acceptance vectors::

    MeshError (500, "error")
    ├── InvalidInputError (400, "invalid_input")     malformed request or one the rules forbid
    ├── InvalidQueryError (400, "invalid_query")     SQL that is not one allowed SELECT
    ├── AuthenticationError (401, "unauthenticated") no valid bearer token (server only)
    ├── AccessDeniedError (403, "access_denied")     visible, but the permission is missing
    ├── NotFoundError     (404, "not_found")         missing, or invisible to the caller
    ├── ConflictError     (409, "conflict")          conflicts with the current state
    ├── ExpiredError      (410, "expired")           a stored result past its retention
    ├── QueryLimitError   (400, "query_limit")       a query over its workgroup's limits
    │   └── QueryTimeoutError (408, "query_timeout") ran longer than ``max_runtime_s``
    ├── QueryCancelledError (409, "query_cancelled") stopped by ``queries.cancel``
    ├── StorageError      (500, "storage_error")     the table store failed (not the user's fault)
    └── AuditError        (500, "audit_error")       the audit key or digest folder is unusable

When several kinds apply, rule 0 of the permission model decides the order:
``NotFoundError`` before ``InvalidInputError`` before ``AccessDeniedError`` before
``ConflictError``. A failed request changes nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "AuthenticationError",
    "ConflictError",
    "ExpiredError",
    "InvalidInputError",
    "InvalidQueryError",
    "MeshError",
    "NotFoundError",
    "QueryCancelledError",
    "QueryLimitError",
    "QueryTimeoutError",
    "StorageError",
    "error_class_for_kind",
]


class MeshError(Exception):
    """Base of every meshlake error.

    Args:
        message: what went wrong and, where it helps, what to do next.
        **details: structured fields (shown in JSON output and server responses).
    """

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"type": ..., "message": ..., **details}``."""
        return {"type": self.kind, "message": self.message, **self.details}


class InvalidInputError(MeshError):
    """A malformed request, or one the permission rules forbid for anyone."""

    status = 400
    kind = "invalid_input"


class InvalidQueryError(MeshError):
    """SQL that is not exactly one allowed SELECT statement.

    ``line`` and ``column`` point at the offending text when the parser knows it.
    """

    status = 400
    kind = "invalid_query"

    def __init__(
        self, message: str, *, line: int | None = None, column: int | None = None, **details: Any
    ) -> None:
        if line is not None:
            details["line"] = line
        if column is not None:
            details["column"] = column
        super().__init__(message, **details)
        self.line = line
        self.column = column


class AuthenticationError(MeshError):
    """The request carries no bearer token, or one that is unknown, expired or revoked."""

    status = 401
    kind = "unauthenticated"


class AccessDeniedError(MeshError):
    """The resource is visible to the caller, who lacks the permission asked for."""

    status = 403
    kind = "access_denied"


class NotFoundError(MeshError):
    """The resource does not exist or the caller may not know it exists."""

    status = 404
    kind = "not_found"


class ConflictError(MeshError):
    """The request conflicts with the current state (already exists, still in use, ...)."""

    status = 409
    kind = "conflict"


class ExpiredError(MeshError):
    """A stored object (a query result) has passed its retention and was deleted."""

    status = 410
    kind = "expired"


class QueryLimitError(MeshError):
    """A query exceeds a limit of its workgroup (bytes scanned, memory, run time).

    ``limit`` names the workgroup setting (``max_bytes_scanned``, ``max_runtime_s`` ...).
    """

    status = 400
    kind = "query_limit"


class QueryTimeoutError(QueryLimitError):
    """A query ran longer than its workgroup's ``max_runtime_s`` and was stopped."""

    status = 408
    kind = "query_timeout"


class QueryCancelledError(MeshError):
    """A query was stopped by ``queries.cancel`` before it finished."""

    status = 409
    kind = "query_cancelled"


class StorageError(MeshError):
    """The table store or catalog database failed in a way that is not the caller's doing."""

    status = 500
    kind = "storage_error"


class AuditError(MeshError):
    """The audit anchor cannot work: its key or digest folder is unreadable, unwritable, or
    the newest digest does not verify (so no checkpoint may chain onto it)."""

    status = 500
    kind = "audit_error"


_BY_KIND: dict[str, type[MeshError]] = {
    cls.kind: cls
    for cls in (
        MeshError,
        InvalidInputError,
        InvalidQueryError,
        AuthenticationError,
        AccessDeniedError,
        NotFoundError,
        ConflictError,
        ExpiredError,
        QueryLimitError,
        QueryTimeoutError,
        QueryCancelledError,
        StorageError,
        AuditError,
    )
}


def error_class_for_kind(kind: str) -> type[MeshError]:
    """Map a ``kind`` string back to its class (used by the HTTP client and vectors).

    >>> error_class_for_kind("not_found").__name__
    'NotFoundError'
    """
    return _BY_KIND.get(kind, MeshError)
