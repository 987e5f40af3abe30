"""Signing in and out, and the console's own stylesheet and script.

Signing in checks the token and keeps it in an ``HttpOnly``, ``SameSite=Strict`` cookie scoped
to ``/console`` (``Secure`` over https, or as :data:`~.pages.ENV_SECURE_COOKIE` says). The
token itself stays valid after signing out, until it expires or is revoked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from meshlake.errors import AuthenticationError, NotFoundError
from meshlake.server.auth import mesh_of
from meshlake.server.console.pages import (
    COOKIE,
    Acting,
    ConsoleRoute,
    render,
    secure_cookie,
    to_login,
)
from meshlake.service.tokens import authenticate

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

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


@router.get("/login")
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return render(request, "login.html", {}, None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """Check the token and keep it in the console's cookie."""
    mesh = mesh_of(request)
    try:
        principal = authenticate(mesh.runtime, token.strip())
    except AuthenticationError as exc:
        return render(request, "login.html", {}, None, status=401, error=exc)
    response: Response = RedirectResponse("/console", status_code=303)
    if request.query_params.get("format") == "json":
        from fastapi.responses import JSONResponse

        response = JSONResponse({"principal": principal})
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
