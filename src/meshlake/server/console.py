"""The web console: server-rendered pages over the same session facades as the REST API.

Signing in stores the bearer token in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped to
``/console``; every page checks it as the API checks its header (an expired or revoked token
sends the browser back to the sign-in page at once). Forms that change something carry a CSRF
value derived from the token (a page of another site can read neither). Templates escape
every value (Jinja2 autoescape); no JavaScript, nothing from a CDN.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from meshlake.errors import AccessDeniedError, AuthenticationError, MeshError
from meshlake.mesh import Session
from meshlake.server.auth import mesh_of, scrubber
from meshlake.service.tokens import authenticate

__all__ = ["COOKIE", "router"]

COOKIE = "meshlake_token"
MAX_ROWS = 1000
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True
)

router = APIRouter(prefix="/console", include_in_schema=False)


def _csrf(token: str) -> str:
    return hashlib.sha256(b"meshlake-console-csrf:" + token.encode()).hexdigest()


def _page(
    request: Request,
    template: str,
    session: Session | None = None,
    *,
    status: int = 200,
    error: MeshError | None = None,
    **context: Any,
) -> HTMLResponse:
    token = request.cookies.get(COOKIE, "")
    err = None
    if error is not None:
        err = {"type": error.kind, "message": scrubber(request).text(error.message)}
    html = _TEMPLATES.get_template(template).render(
        principal=session.principal if session else None,
        csrf=_csrf(token) if session else "",
        error=err,
        **context,
    )
    headers = {"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'"}
    return HTMLResponse(html, status_code=status, headers=headers)


def _session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    mesh = mesh_of(request)
    try:
        return mesh.session(authenticate(mesh.runtime, token))
    except MeshError:
        return None


def _to_login() -> RedirectResponse:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _check_csrf(request: Request, value: str) -> None:
    if not hmac.compare_digest(value, _csrf(request.cookies.get(COOKIE, ""))):
        raise AccessDeniedError("the form is stale or came from another site: reload the page")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return _page(request, "login.html")


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """Check the token and keep it in the console's cookie."""
    mesh = mesh_of(request)
    try:
        authenticate(mesh.runtime, token)
    except AuthenticationError as exc:
        return _page(request, "login.html", status=401, error=exc)
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the token (the token itself stays valid until it expires or is revoked)."""
    session = _session(request)
    if session is not None:
        try:
            _check_csrf(request, csrf)
        except AccessDeniedError as exc:
            return _page(request, "databases.html", session, status=403, error=exc)
    return _to_login()


@router.get("", response_class=HTMLResponse)
def databases(request: Request) -> Response:
    """The databases the principal can see."""
    session = _session(request)
    if session is None:
        return _to_login()
    return _page(request, "databases.html", session, databases=session.catalog.list_databases())


@router.get("/databases/{name}", response_class=HTMLResponse)
def tables(request: Request, name: str, account: str | None = None) -> Response:
    """The tables of one database the principal can see."""
    session = _session(request)
    if session is None:
        return _to_login()
    try:
        names = session.catalog.list_tables(name, account=account)
    except MeshError as exc:
        return _page(request, "tables.html", session, status=exc.status, error=exc, database=name)
    return _page(
        request, "tables.html", session, database=name, account=account or "", tables=names
    )


@router.get("/databases/{database}/tables/{name}", response_class=HTMLResponse)
def table(request: Request, database: str, name: str, account: str | None = None) -> Response:
    """A table's visible columns."""
    session = _session(request)
    if session is None:
        return _to_login()
    try:
        desc = session.catalog.get_table(database, name, account)
    except MeshError as exc:
        return _page(request, "databases.html", session, status=exc.status, error=exc)
    return _page(request, "table.html", session, table=desc)


@router.get("/query", response_class=HTMLResponse)
def query_page(request: Request) -> Response:
    """The query form."""
    session = _session(request)
    if session is None:
        return _to_login()
    return _page(request, "query.html", session, sql="")


@router.post("/query", response_class=HTMLResponse)
def run_query(
    request: Request, sql: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> Response:
    """Run one governed SELECT and show up to 1,000 rows."""
    session = _session(request)
    if session is None:
        return _to_login()
    try:
        _check_csrf(request, csrf)
        result = session.query(sql)
    except MeshError as exc:
        return _page(request, "query.html", session, status=exc.status, error=exc, sql=sql)
    rows = result.rows()[:MAX_ROWS]
    return _page(
        request,
        "query.html",
        session,
        sql=sql,
        result=result,
        rows=rows,
        truncated=result.num_rows > MAX_ROWS,
    )
