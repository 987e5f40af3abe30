"""meshlake: a governed data mesh for machine learning.

>>> import meshlake
>>> sorted(meshlake.__all__)[:3]
['AccessDeniedError', 'Catalog', 'Column']
"""

from __future__ import annotations

from meshlake.errors import (
    AccessDeniedError,
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
from meshlake.governance.engine import Decision
from meshlake.mesh import Mesh, Session, connect
from meshlake.resources import (
    Catalog,
    Column,
    Database,
    DataFilter,
    Location,
    Table,
    TagKey,
    TagPolicy,
)

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
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
