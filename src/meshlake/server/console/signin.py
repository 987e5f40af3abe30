"""Signing in and out, and the console's own stylesheet and script.

Signing in checks the token and keeps it in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped
to ``/console`` (``Secure`` over https, or as :data:`~.pages.ENV_SECURE_COOKIE` says). The
token itself stays valid after signing out, until it expires or is revoked.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from meshlake.errors import AccessDeniedError, AuthenticationError, MeshError, NotFoundError
from meshlake.server.auth import mesh_of
from meshlake.server.console.pages import (
    COOKIE,
    Acting,
    ConsoleRoute,
    render,
    secure_cookie,
    to_login,
    wants_json,
)
from meshlake.service.tokens import authenticate

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

#: The sign-in form's own CSRF cookie (there is no token yet to derive one from).
LOGIN_COOKIE = "meshlake_login"

_STATIC = Path(__file__).with_name("static")
#: The console's own assets (nothing from a CDN), read once.
ASSETS = {
    "console.css": ("text/css; charset=utf-8", (_STATIC / "console.css").read_bytes()),
    "console.js": ("text/javascript; charset=utf-8", (_STATIC / "console.js").read_bytes()),
}


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """The stylesheet and the script."""
    if name not in ASSETS:
        raise NotFoundError(f"no asset {name}")
    media_type, content = ASSETS[name]
    return Response(content, media_type=media_type, headers={"Cache-Control": "max-age=300"})


def _login_form(request: Request, *, status: int = 200, error: MeshError | None = None) -> Response:
    """The sign-in form with a fresh CSRF value, also kept in a cookie of the sign-in page
    (double submit: another site can neither read it nor send it, SameSite=Strict)."""
    value = secrets.token_hex(32)
    response = render(
        request,
        "login.html",
        {"csrf": value},
        None,
        status=status,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path="/console/login",
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    """The sign-in form (its JSON twin gives a script the CSRF value to post back)."""
    return _login_form(request)


@router.post("/login")
def login(
    request: Request, token: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> Response:
    """Check the form's CSRF value and the token; keep the token in the console's cookie."""
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        stale = AccessDeniedError("the form is stale or came from another site: reload the page")
        return _login_form(request, status=403, error=stale)
    mesh = mesh_of(request)
    try:
        principal = authenticate(mesh.runtime, token.strip())
    except AuthenticationError as exc:
        return _login_form(request, status=401, error=exc)
    response: Response = RedirectResponse("/console", status_code=303)
    if wants_json(request):
        response = JSONResponse({"principal": principal})
    response.delete_cookie(LOGIN_COOKIE, path="/console/login")
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path="/console",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: Acting) -> Response:
    """Forget the token in this browser."""
    del session
    response = to_login(request)
    response.delete_cookie(COOKIE, path="/console")
    return response
