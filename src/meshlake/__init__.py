"""meshlake: a governed data mesh for machine learning.

>>> import meshlake
>>> sorted(meshlake.__all__)[:3]
['AccessDeniedError', 'AuditError', 'AuthenticationError']
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, overload

from meshlake.errors import (
    AccessDeniedError,
    AuditError,
    AuthenticationError,
    ConflictError,
    ExpiredError,
    InvalidInputError,
    InvalidQueryError,
    MeshError,
    NotFoundError,
    QueryCancelledError,
    QueryLimitError,
    QueryTimeoutError,
    StorageError,
)
from meshlake.resources import (
    Catalog,
    Column,
    Database,
    DataFilter,
    Location,
    ModelGroup,
    Table,
    TagKey,
    TagPolicy,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from meshlake.client import RemoteMesh
    from meshlake.governance.engine import Decision
    from meshlake.mesh import Mesh, Session

#: Names loaded on first use: importing ``meshlake`` (or ``meshlake.cli``) stays light, and
#: the storage, query and governance stack is imported only when a mesh is opened.
_LAZY = {
    "Decision": "meshlake.governance.engine",
    "Mesh": "meshlake.mesh",
    "Session": "meshlake.mesh",
}


def __getattr__(name: str) -> Any:
    """Import :data:`_LAZY` names on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'meshlake' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


@overload
def connect(home: str, *, token: str) -> RemoteMesh: ...


@overload
def connect(
    home: str | os.PathLike[str] | None = None,
    *,
    catalog_url: str | None = None,
    warehouse: str | None = None,
    allowed_roots: list[str] | None = None,
    webhook_allowed_hosts: list[str] | None = None,
) -> Mesh: ...


def connect(
    home: str | os.PathLike[str] | None = None,
    *,
    catalog_url: str | None = None,
    warehouse: str | None = None,
    allowed_roots: list[str] | None = None,
    webhook_allowed_hosts: list[str] | None = None,
    token: str | None = None,
) -> Mesh | RemoteMesh:
    """Open the embedded mesh at ``home``, or connect to a server when ``home`` is an
    ``http://`` or ``https://`` URL (then ``token`` is required).

    See :func:`meshlake.mesh.connect` for the embedded arguments and
    :func:`meshlake.client.connect` for the remote ones.
    """
    if isinstance(home, str) and home.startswith(("http://", "https://")):
        if token is None:
            raise InvalidInputError("connecting to a server needs token=...")
        from meshlake.client import connect as connect_remote  # httpx only when used

        return connect_remote(home, token=token)
    if token is not None:
        raise InvalidInputError("token=... is for server URLs (http://host:8470)")
    from meshlake.mesh import connect as _connect_embedded  # the whole stack: on use

    return _connect_embedded(
        home,
        catalog_url=catalog_url,
        warehouse=warehouse,
        allowed_roots=allowed_roots,
        webhook_allowed_hosts=webhook_allowed_hosts,
    )


__all__ = [
    "AccessDeniedError",
    "AuditError",
    "AuthenticationError",
    "Catalog",
    "Column",
    "ConflictError",
    "DataFilter",
    "Database",
    "Decision",
    "ExpiredError",
    "InvalidInputError",
    "InvalidQueryError",
    "Location",
    "Mesh",
    "MeshError",
    "ModelGroup",
    "NotFoundError",
    "QueryCancelledError",
    "QueryLimitError",
    "QueryTimeoutError",
    "Session",
    "StorageError",
    "Table",
    "TagKey",
    "TagPolicy",
    "__version__",
    "connect",
]
