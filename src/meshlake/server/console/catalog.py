"""Catalog pages: databases, a database's tables, a table's columns as the principal sees
them (with the tags and permissions it may see)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meshlake.errors import MeshError
from meshlake.resources import Column, Table
from meshlake.server.console.pages import ConsoleRoute, Signed, render

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

#: Table permissions the table page reports for the principal.
TABLE_ACTIONS = ("SELECT", "DESCRIBE", "INSERT", "DELETE", "ALTER", "DROP")


@router.get("")
def databases(request: Request, session: Signed) -> Response:
    """The databases the principal can see."""
    data = {"databases": session.catalog.list_databases()}
    return render(request, "databases.html", data, session)


@router.get("/databases/{name}")
def tables(request: Request, session: Signed, name: str, account: str | None = None) -> Response:
    """The tables of one database the principal can see."""
    names = session.catalog.list_tables(name, account=account)
    db = session.catalog.get_database(name, account)
    data = {"database": name, "account": db.account, "tables": names}
    return render(request, "tables.html", data, session)


@router.get("/databases/{database}/tables/{name}")
def table(
    request: Request, session: Signed, database: str, name: str, account: str | None = None
) -> Response:
    """A table's visible columns, its tags and the principal's permissions on it."""
    desc = session.catalog.get_table(database, name, account)
    resource = Table(database, name, account=account)
    tags: dict[str, str] = {}
    column_tags: dict[str, dict[str, str]] = {}
    try:
        tags = session.tags.tags_of(resource)
        for col in desc.column_names:
            column_tags[col] = session.tags.tags_of(Column(database, name, col, account))
    except MeshError:
        pass  # tags the principal may not see stay off the page
    permissions = [a for a in TABLE_ACTIONS if session.check(a, resource)]
    data: dict[str, Any] = {
        "table": {
            "database": desc.database,
            "name": desc.name,
            "account": desc.account,
            "creator": desc.creator,
            "description": desc.description,
            "columns": desc.columns,
        },
        "tags": tags,
        "column_tags": column_tags,
        "permissions": permissions,
    }
    return render(request, "table.html", data, session)
