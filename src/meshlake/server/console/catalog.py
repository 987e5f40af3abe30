"""Catalog pages: databases, a database's tables and tags, a table's columns as the principal
sees them (with the tags and permissions it may see) and its data cells filters.

The database and table pages carry the forms acting on them: assign and remove tags (on the
database, the table or one of its columns: ``session.tags``) and create and drop data
filters (``session.filters``). A form refused by its facade shows its page again with the
error. The forms keep the ``account`` the page was reached with (a resource link's account
names the link, not its target).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from meshlake.errors import InvalidInputError, MeshError
from meshlake.mesh import Session
from meshlake.resources import Column, Database, Resource, Table
from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, attempt, render

__all__ = ["database_url", "router", "table_url", "tag_pair"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

#: Table permissions the table page reports for the principal.
TABLE_ACTIONS = ("SELECT", "DESCRIBE", "INSERT", "DELETE", "ALTER", "DROP")
#: How a data filter's form limits columns: every column, only the ticked, all but the ticked.
COLUMN_MODES = ("all", "only", "except")

Text = Annotated[str, Form()]
"""A text field of a form (blank when left out)."""


def database_url(name: str, account: str | None) -> str:
    """The console page of a database.

    >>> database_url("credit card", "p")
    '/console/databases/credit%20card?account=p'
    """
    query = f"?{urlencode({'account': account})}" if account else ""
    return f"/console/databases/{quote(name, safe='')}{query}"


def table_url(database: str, name: str, account: str | None) -> str:
    """The console page of a table.

    >>> table_url("sales", "orders", None)
    '/console/databases/sales/tables/orders'
    """
    query = f"?{urlencode({'account': account})}" if account else ""
    return f"/console/databases/{quote(database, safe='')}/tables/{quote(name, safe='')}{query}"


def tag_pair(choice: str) -> dict[str, str]:
    """The ``{key: value}`` of a tag chosen as ``key=value`` (no key or value holds ``=``).

    >>> tag_pair("pii=true")
    {'pii': 'true'}

    Raises:
        InvalidInputError: not ``key=value``.
    """
    key, sep, value = choice.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise InvalidInputError(f"choose a tag as key=value, not {choice!r}")
    return {key.strip(): value.strip()}


def _tag_choices(session: Session, owner: str) -> list[str]:
    """``key=value`` of every tag the principal sees that may go on ``owner``'s resources
    (a key is assigned only to its own account's resources, rule 11)."""
    return [f"{k.key}={v}" for k in session.tags.list() if k.account == owner for v in k.values]


def _visible_tags(session: Session, resource: Resource) -> dict[str, str]:
    try:
        return session.tags.tags_of(resource)
    except MeshError:  # tags the principal may not see (or a link's) stay off the page
        return {}


def _status(error: MeshError | None) -> int:
    return error.status if error is not None else 200


@router.get("")
def databases(request: Request, session: Signed) -> Response:
    """The databases the principal can see."""
    data = {"databases": session.catalog.list_databases()}
    return render(request, "databases.html", data, session)


def _database_page(
    request: Request,
    session: Session,
    name: str,
    account: str | None,
    error: MeshError | None = None,
) -> Response:
    names = session.catalog.list_tables(name, account=account)
    db = session.catalog.get_database(name, account)
    link = db.link is not None
    data = {
        "database": name,
        "account": db.account,
        "link": db.link,
        "tables": names,
        "tags": {} if link else _visible_tags(session, Database(name, account)),
        "tag_choices": [] if link else _tag_choices(session, db.account),
    }
    return render(request, "tables.html", data, session, status=_status(error), error=error)


@router.get("/databases/{name}")
def tables(request: Request, session: Signed, name: str, account: str | None = None) -> Response:
    """The tables of one database the principal can see, and its tags."""
    return _database_page(request, session, name, account)


@router.post("/databases/{name}/tags")
def assign_database_tag(
    request: Request, session: Acting, name: str, account: Text = "", tag: Text = ""
) -> Response:
    """Assign (or change) a tag of a database (ASSOCIATE on the tag; rule 16)."""
    acc = account.strip() or None
    return attempt(
        request,
        lambda: session.tags.assign(Database(name, acc), tag_pair(tag)),
        database_url(name, acc),
        lambda exc: _database_page(request, session, name, acc, exc),
    )


@router.post("/databases/{name}/tags/remove")
def remove_database_tag(
    request: Request, session: Acting, name: str, account: Text = "", key: Text = ""
) -> Response:
    """Remove a tag assigned to a database."""
    acc = account.strip() or None

    def call() -> dict[str, str]:
        session.tags.remove(Database(name, acc), [key])
        return {"removed": key}

    return attempt(
        request,
        call,
        database_url(name, acc),
        lambda exc: _database_page(request, session, name, acc, exc),
    )


def _table_page(
    request: Request,
    session: Session,
    database: str,
    name: str,
    account: str | None,
    error: MeshError | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    desc = session.catalog.get_table(database, name, account)
    resource = Table(database, name, account=account)
    column_tags = {
        col: _visible_tags(session, Column(database, name, col, account))
        for col in desc.column_names
    }
    permissions = [a for a in TABLE_ACTIONS if session.check(a, resource)]
    choices = _tag_choices(session, desc.account)
    data: dict[str, Any] = {
        "table": {
            "database": desc.database,
            "name": desc.name,
            "account": desc.account,
            "creator": desc.creator,
            "description": desc.description,
            "columns": desc.columns,
        },
        "page": {"database": database, "name": name, "account": account or ""},
        "tags": _visible_tags(session, resource),
        "column_tags": column_tags,
        "permissions": permissions,
        "tag_choices": choices,
        "tag_keys": sorted({c.partition("=")[0] for c in choices}),
        "filters": session.filters.list(database, name, account),
    }
    extra = {"form": form or {}, "column_modes": COLUMN_MODES}
    return render(
        request, "table.html", data, session, status=_status(error), error=error, extra=extra
    )


@router.get("/databases/{database}/tables/{name}")
def table(
    request: Request, session: Signed, database: str, name: str, account: str | None = None
) -> Response:
    """A table's visible columns, its tags and data filters, and the principal's
    permissions on it."""
    return _table_page(request, session, database, name, account)


def _tag_target(database: str, name: str, account: str | None, column: str) -> Resource:
    if column.strip():
        return Column(database, name, column.strip(), account)
    return Table(database, name, account=account)


@router.post("/databases/{database}/tables/{name}/tags")
def assign_table_tag(
    request: Request,
    session: Acting,
    database: str,
    name: str,
    account: Text = "",
    column: Text = "",
    tag: Text = "",
) -> Response:
    """Assign (or change) a tag of a table or, with ``column``, of one of its columns."""
    acc = account.strip() or None
    return attempt(
        request,
        lambda: session.tags.assign(_tag_target(database, name, acc, column), tag_pair(tag)),
        table_url(database, name, acc),
        lambda exc: _table_page(request, session, database, name, acc, exc),
    )


@router.post("/databases/{database}/tables/{name}/tags/remove")
def remove_table_tag(
    request: Request,
    session: Acting,
    database: str,
    name: str,
    account: Text = "",
    column: Text = "",
    key: Text = "",
) -> Response:
    """Remove a tag assigned to a table or one of its columns (an override removed brings
    back the inherited value, rule 12)."""
    acc = account.strip() or None

    def call() -> dict[str, str]:
        session.tags.remove(_tag_target(database, name, acc, column), [key])
        return {"removed": key}

    return attempt(
        request,
        call,
        table_url(database, name, acc),
        lambda exc: _table_page(request, session, database, name, acc, exc),
    )


def _filter_columns(mode: str, columns: list[str]) -> dict[str, list[str] | None]:
    if mode not in COLUMN_MODES:
        raise InvalidInputError(f"columns are one of {', '.join(COLUMN_MODES)}, not {mode!r}")
    return {
        "columns": columns if mode == "only" else None,
        "excluded_columns": columns if mode == "except" else None,
    }


@router.post("/databases/{database}/tables/{name}/filters")
def create_filter(
    request: Request,
    session: Acting,
    database: str,
    name: str,
    account: Text = "",
    filter_name: Text = "",
    row_filter: Text = "",
    all_rows: Text = "",
    column_mode: Text = "all",
    columns: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a data cells filter on the table: a row filter expression (or every row) and
    every column, only some, or all but some (rules 18-19)."""
    acc = account.strip() or None
    form = {
        "filter_name": filter_name,
        "row_filter": row_filter,
        "all_rows": bool(all_rows),
        "column_mode": column_mode,
        "columns": columns or [],
    }

    def call() -> Any:
        return session.filters.create(
            database,
            name,
            filter_name.strip(),
            row_filter=row_filter.strip() or None,
            all_rows=bool(all_rows),
            account=acc,
            **_filter_columns(column_mode, columns or []),
        )

    return attempt(
        request,
        call,
        table_url(database, name, acc),
        lambda exc: _table_page(request, session, database, name, acc, exc, form),
    )


@router.post("/databases/{database}/tables/{name}/filters/{filter_name}/drop")
def drop_filter(
    request: Request,
    session: Acting,
    database: str,
    name: str,
    filter_name: str,
    account: Text = "",
) -> Response:
    """Drop a data filter (its creator or an admin of the table's account); its grants go."""
    acc = account.strip() or None

    def call() -> dict[str, str]:
        session.filters.drop(database, name, filter_name, acc)
        return {"dropped": filter_name}

    return attempt(
        request,
        call,
        table_url(database, name, acc),
        lambda exc: _table_page(request, session, database, name, acc, exc),
    )
