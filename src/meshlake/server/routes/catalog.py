"""Databases, resource links, tables (and writing their rows), tags and data filters."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from meshlake.errors import InvalidInputError
from meshlake.resources import resource_from_dict
from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import DEFAULT, Limit, Offset
from meshlake.server.wire import page
from meshlake.storage.types import arrow_type

__all__ = ["router"]

router = APIRouter(prefix="/v1", route_class=SessionRoute)


# ---------------------------------------------------------------- databases
class DatabaseBody(BaseModel):
    name: str
    description: str = ""
    location: str | None = None


class LinkBody(BaseModel):
    name: str
    account: str
    database: str


@router.get("/databases", tags=["catalog"])
def list_databases(
    s: CurrentSession, scrub: Scrub, limit: Limit = DEFAULT, offset: Offset = 0
) -> dict[str, Any]:
    """Databases and links the caller can see."""
    return page(s.catalog.list_databases(), limit, offset, scrub)


@router.post("/databases", tags=["catalog"], status_code=201)
def create_database(body: DatabaseBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a database in the caller's account (CREATE_DATABASE)."""
    return scrub.body(s.catalog.create_database(body.name, body.description, body.location))


@router.post("/links", tags=["catalog"], status_code=201)
def create_link(body: LinkBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a resource link to another account's database."""
    return scrub.body(
        s.catalog.create_resource_link(body.name, account=body.account, database=body.database)
    )


class LocationBody(BaseModel):
    uri: str


@router.post("/locations", tags=["catalog"], status_code=201)
def register_location(body: LocationBody, s: CurrentSession) -> dict[str, bool]:
    """Register a data location (admins; rule 29 applies). The answer names no path, and
    registered locations are not listed over HTTP."""
    s.catalog.register_location(body.uri)
    return {"registered": True}


@router.get("/databases/{name}", tags=["catalog"])
def get_database(name: str, s: CurrentSession, scrub: Scrub, account: str | None = None) -> Any:
    """One database or link."""
    return scrub.body(s.catalog.get_database(name, account))


@router.delete("/databases/{name}", tags=["catalog"], status_code=204)
def drop_database(name: str, s: CurrentSession) -> None:
    """Drop an empty database or a link."""
    s.catalog.drop_database(name)


# ---------------------------------------------------------------- tables
class TableBody(BaseModel):
    name: str
    columns: dict[str, str]
    rows: list[list[Any]] | None = None
    description: str = ""
    account: str | None = None
    location: str | None = None


@router.get("/databases/{database}/tables", tags=["catalog"])
def list_tables(
    database: str,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Names of the tables the caller holds some permission on."""
    return page(s.catalog.list_tables(database, account=account), limit, offset, scrub)


@router.post("/databases/{database}/tables", tags=["catalog"], status_code=201)
def create_table(database: str, body: TableBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a table from columns and rows (CREATE_TABLE)."""
    return scrub.body(
        s.catalog.create_table(
            database,
            body.name,
            body.columns,
            body.rows,
            location=body.location,
            description=body.description,
            account=body.account,
        )
    )


@router.get("/databases/{database}/tables/{name}", tags=["catalog"])
def get_table(
    database: str, name: str, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """A table's visible columns (rule 8); never its storage location."""
    return scrub.body(s.catalog.get_table(database, name, account))


@router.get("/databases/{database}/tables/{name}/description", tags=["catalog"])
def describe_table(
    database: str, name: str, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """A table's visible columns, its snapshots and its schema history (visible columns
    only); never its storage location."""
    return scrub.body(s.catalog.describe_table(database, name, account))


@router.get("/databases/{database}/tables/{name}/snapshot", tags=["catalog"])
def current_snapshot(
    database: str, name: str, s: CurrentSession, account: str | None = None
) -> dict[str, Any]:
    """The id of a visible table's current snapshot (``null`` before any data)."""
    return {"snapshot_id": s.catalog.current_snapshot(database, name, account=account)}


class RenameColumnBody(BaseModel):
    to: str


@router.post("/databases/{database}/tables/{name}/columns/{column}/rename", tags=["catalog"])
def rename_column(
    database: str,
    name: str,
    column: str,
    body: RenameColumnBody,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Rename a column (ALTER); its data and tags follow it. Refused (409) while a grant
    or data filter names the column."""
    return scrub.body(s.catalog.rename_column(database, name, column, body.to, account=account))


class PropertiesBody(BaseModel):
    properties: dict[str, str | None]


@router.get("/databases/{database}/tables/{name}/properties", tags=["catalog"])
def table_properties(
    database: str, name: str, s: CurrentSession, account: str | None = None
) -> dict[str, Any]:
    """A visible table's properties."""
    return {"properties": s.catalog.properties(database, name, account=account)}


@router.patch("/databases/{database}/tables/{name}/properties", tags=["catalog"])
def set_table_properties(
    database: str, name: str, body: PropertiesBody, s: CurrentSession, account: str | None = None
) -> dict[str, Any]:
    """Set table properties (ALTER); a ``null`` value removes the key. Answers them all."""
    s.catalog.set_properties(database, name, dict(body.properties), account=account)
    return {"properties": s.catalog.properties(database, name, account=account)}


@router.delete("/databases/{database}/tables/{name}", tags=["catalog"])
def drop_table(
    database: str, name: str, s: CurrentSession, scrub: Scrub, account: str | None = None
) -> Any:
    """Drop a table (DROP)."""
    return scrub.body(s.catalog.drop_table(database, name, account))


ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_WRITE_BYTES = 256 << 20
_ROWS_BODY = {
    "requestBody": {
        "required": True,
        "description": 'JSON `{"rows": [[...], ...]}` in the table\'s column order, or an '
        f"Arrow IPC stream (`Content-Type: {ARROW_STREAM}`) with the table's columns.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "items": {"type": "array"}}},
                    "required": ["rows"],
                }
            }
        },
    }
}


async def _arrow_or_json(request: Request) -> tuple[pa.Table | None, Any]:
    """The body of a write: an Arrow IPC stream (as a table) or JSON (parsed).

    Raises:
        InvalidInputError: larger than :data:`MAX_WRITE_BYTES`, or not what its
            ``Content-Type`` says.
    """
    too_large = InvalidInputError(
        f"the body is larger than {MAX_WRITE_BYTES >> 20} MiB: send the rows in parts"
    )
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_WRITE_BYTES:
        raise too_large
    raw = await request.body()
    if len(raw) > MAX_WRITE_BYTES:
        raise too_large
    if ARROW_STREAM in request.headers.get("content-type", ""):
        try:
            with pa.ipc.open_stream(raw) as reader:
                return reader.read_all(), None
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInputError(f"the body is not an Arrow IPC stream: {exc}") from exc
    try:
        return None, json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"the body is not JSON: {exc}") from exc


async def _rows_of(request: Request) -> tuple[list[list[Any]] | None, pa.Table | None]:
    """The rows of a write: an Arrow IPC stream or JSON ``{"rows": [...]}``.

    Raises:
        InvalidInputError: too large, not an Arrow stream, or not ``{"rows": [[...]]}``.
    """
    data, body = await _arrow_or_json(request)
    if data is not None:
        return None, data
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise InvalidInputError('send {"rows": [[...], ...]} or an Arrow IPC stream')
    return rows, None


@router.post("/databases/{database}/tables/{name}/rows", tags=["catalog"], openapi_extra=_ROWS_BODY)
async def append_rows(
    database: str, name: str, request: Request, s: CurrentSession, account: str | None = None
) -> dict[str, Any]:
    """Append rows (INSERT): JSON rows or an Arrow IPC stream; answers the new snapshot."""
    rows, data = await _rows_of(request)
    snap = await run_in_threadpool(
        s.catalog.append, database, name, rows, data=data, account=account
    )
    return {"snapshot_id": snap}


@router.put("/databases/{database}/tables/{name}/rows", tags=["catalog"], openapi_extra=_ROWS_BODY)
async def overwrite_rows(
    database: str, name: str, request: Request, s: CurrentSession, account: str | None = None
) -> dict[str, Any]:
    """Replace every row (INSERT and DELETE): JSON rows or an Arrow IPC stream."""
    rows, data = await _rows_of(request)
    snap = await run_in_threadpool(
        s.catalog.overwrite, database, name, rows, data=data, account=account
    )
    return {"snapshot_id": snap}


_SCHEMA_BODY = {
    "requestBody": {
        "required": True,
        "description": 'JSON `{"columns": {"name": "type", ...}}` (the type names of table '
        f"creation), or an Arrow IPC stream (`Content-Type: {ARROW_STREAM}`) whose schema is "
        "the columns; its rows, if any, are ignored.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "columns": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                    "required": ["columns"],
                }
            }
        },
    }
}


async def _schema_of(request: Request) -> pa.Schema:
    """The columns of a schema change: an Arrow IPC stream's schema or JSON ``columns``.

    Raises:
        InvalidInputError: not an Arrow stream, or not ``{"columns": {"name": "type"}}``, or
            an unknown type name.
    """
    data, body = await _arrow_or_json(request)
    if data is not None:
        return data.schema
    columns = body.get("columns") if isinstance(body, dict) else None
    if (
        not isinstance(columns, dict)
        or not columns
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items())
    ):
        raise InvalidInputError('send {"columns": {"name": "type", ...}} or an Arrow IPC stream')
    return pa.schema([(k, arrow_type(v)) for k, v in columns.items()])


@router.post(
    "/databases/{database}/tables/{name}/schema", tags=["catalog"], openapi_extra=_SCHEMA_BODY
)
async def evolve_schema(
    database: str,
    name: str,
    request: Request,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
) -> Any:
    """Union columns into the table's schema (ALTER): new columns (old rows read NULL) and
    widened types. Answers the table as the caller now sees it."""
    schema = await _schema_of(request)
    desc = await run_in_threadpool(s.catalog.evolve_schema, database, name, schema, account=account)
    return scrub.body(desc)


# ---------------------------------------------------------------- tags
class TagBody(BaseModel):
    key: str
    values: list[str]


class TagUpdateBody(BaseModel):
    add: list[str] = []
    remove: list[str] = []


class AssignBody(BaseModel):
    resource: dict[str, Any]
    tags: dict[str, str]


class RemoveTagsBody(BaseModel):
    resource: dict[str, Any]
    keys: list[str]


class ResourceBody(BaseModel):
    resource: dict[str, Any]


@router.get("/tags", tags=["tags"])
def list_tags(
    s: CurrentSession, scrub: Scrub, limit: Limit = DEFAULT, offset: Offset = 0
) -> dict[str, Any]:
    """Tag keys the caller can see."""
    return page(s.tags.list(), limit, offset, scrub)


@router.post("/tags", tags=["tags"], status_code=201)
def create_tag(body: TagBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a tag key with its allowed values."""
    return scrub.body(s.tags.create(body.key, body.values))


@router.patch("/tags/{key}", tags=["tags"])
def update_tag(key: str, body: TagUpdateBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Add and remove allowed values."""
    return scrub.body(s.tags.update(key, add=body.add, remove=body.remove))


@router.delete("/tags/{key}", tags=["tags"], status_code=204)
def delete_tag(key: str, s: CurrentSession) -> None:
    """Delete a tag key."""
    s.tags.delete(key)


@router.post("/tags/assign", tags=["tags"])
def assign_tags(body: AssignBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Assign tags to a database, table or column (ASSOCIATE)."""
    return scrub.body(s.tags.assign(resource_from_dict(body.resource), body.tags))


@router.post("/tags/remove", tags=["tags"], status_code=204)
def remove_tags(body: RemoveTagsBody, s: CurrentSession) -> None:
    """Remove tag assignments."""
    s.tags.remove(resource_from_dict(body.resource), body.keys)


@router.post("/tags/of", tags=["tags"])
def tags_of(body: ResourceBody, s: CurrentSession, scrub: Scrub) -> Any:
    """A resource's effective tags (inherited and overridden)."""
    return scrub.body(s.tags.tags_of(resource_from_dict(body.resource)))


# ---------------------------------------------------------------- filters
class FilterBody(BaseModel):
    name: str
    row_filter: str | None = None
    all_rows: bool = False
    columns: list[str] | None = None
    excluded_columns: list[str] | None = None
    account: str | None = None


@router.get("/databases/{database}/tables/{table}/filters", tags=["filters"])
def list_filters(
    database: str,
    table: str,
    s: CurrentSession,
    scrub: Scrub,
    account: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Data filters of a table."""
    return page(s.filters.list(database, table, account), limit, offset, scrub)


@router.post("/databases/{database}/tables/{table}/filters", tags=["filters"], status_code=201)
def create_filter(
    database: str, table: str, body: FilterBody, s: CurrentSession, scrub: Scrub
) -> Any:
    """Create a data filter (row filter and column include/exclude)."""
    return scrub.body(
        s.filters.create(
            database,
            table,
            body.name,
            row_filter=body.row_filter,
            all_rows=body.all_rows,
            columns=body.columns,
            excluded_columns=body.excluded_columns,
            account=body.account,
        )
    )


@router.delete("/databases/{database}/tables/{table}/filters/{name}", tags=["filters"])
def drop_filter(
    database: str,
    table: str,
    name: str,
    s: CurrentSession,
    account: str | None = None,
) -> dict[str, Any]:
    """Drop a data filter."""
    s.filters.drop(database, table, name, account)
    return {"dropped": name}
