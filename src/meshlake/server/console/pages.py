"""The console's core: who is signed in, CSRF, security headers, a page or its JSON twin.

Every console route is a :class:`ConsoleRoute`: its responses carry :data:`SECURITY_HEADERS`,
and a :class:`~meshlake.errors.MeshError` it raises becomes an error page (or, for the JSON
twin, the API's error body) with the error's HTTP status. A page handler builds one JSON-able
``data`` dict: :func:`render` sends it as JSON when the client asks for JSON
(``?format=json`` or ``Accept: application/json``) and otherwise renders the page's template
with it, so the HTML never shows more than its twin; both pass the path scrubber first.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from meshlake.errors import AccessDeniedError, AuthenticationError, InvalidInputError, MeshError
from meshlake.mesh import Session
from meshlake.server.auth import mesh_of, scrubber
from meshlake.server.wire import PATH_KEYS, error_body
from meshlake.service.tokens import authenticate

__all__ = [
    "COOKIE",
    "ENV_SECURE_COOKIE",
    "SECURITY_HEADERS",
    "Acting",
    "ConsoleRoute",
    "Signed",
    "administers",
    "attempt",
    "csrf_value",
    "done",
    "render",
    "secure_cookie",
    "wants_json",
    "whole_number",
]

log = logging.getLogger("meshlake.server.console")

COOKIE = "meshlake_token"
#: ``auto`` (default: Secure when the request came over https), ``true`` or ``false``.
ENV_SECURE_COOKIE = "MESHLAKE_CONSOLE_SECURE_COOKIE"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

#: Headers of every console response (scripts and styles only from the console itself).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


#: A storage URI in any text (external locations too: crawl sources, registered locations).
_URI = re.compile(r"\b(?:file|s3a?|gs|abfss?|hdfs)://[^\s\"',;)]*", re.IGNORECASE)
HIDDEN = "<location>"


def hide_locations(value: Any) -> Any:
    """``value`` (JSON) without storage locations: keys naming one (``location``,
    ``crawler.location``, ``result_path``, ...) are dropped and storage URIs in any text are
    replaced, on top of the API's scrubber (which keeps paths outside the mesh's folders).

    >>> hide_locations({"after": {"crawler.location": "file:///lake/x", "rows": 3},
    ...                 "note": "read s3://bucket/k ok"})
    {'after': {'rows': 3}, 'note': 'read <location> ok'}
    """
    if isinstance(value, str):
        return _URI.sub(HIDDEN, value)
    if isinstance(value, Mapping):
        return {k: hide_locations(v) for k, v in value.items() if not _names_location(str(k))}
    if isinstance(value, list):
        return [hide_locations(v) for v in value]
    return value


def _names_location(key: str) -> bool:
    last = key.rsplit(".", 1)[-1].lower()
    return last in PATH_KEYS or last.endswith(("location", "_path", "_uri"))


class SignInNeeded(Exception):
    """No valid console cookie: the browser goes to the sign-in page."""


def csrf_value(token: str) -> str:
    """The CSRF value of a signed-in token (another site can read neither).

    >>> len(csrf_value("mlk_x_y"))
    64
    """
    return hashlib.sha256(b"meshlake-console-csrf:" + token.encode()).hexdigest()


def wants_json(request: Request) -> bool:
    """Whether the client asked for the JSON twin of a page."""
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def secure_cookie(request: Request) -> bool:
    """Whether the sign-in cookie carries ``Secure`` (:data:`ENV_SECURE_COOKIE`, or the app's
    ``console_secure_cookie`` state when set)."""
    setting = getattr(request.app.state, "console_secure_cookie", None)
    if setting is None:
        setting = os.environ.get(ENV_SECURE_COOKIE, "auto").strip().lower()
    if isinstance(setting, bool):
        return setting
    if setting in ("true", "1", "yes", "always"):
        return True
    if setting in ("false", "0", "no", "never"):
        return False
    return request.url.scheme == "https"


def _signed_in(request: Request) -> Session:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded
    mesh = mesh_of(request)
    try:
        return mesh.session(authenticate(mesh.runtime, token))
    except MeshError as exc:
        raise SignInNeeded from exc


async def _acting(request: Request, session: Annotated[Session, Depends(_signed_in)]) -> Session:
    """The signed-in session of a form that changes something: its CSRF value must match."""
    form = await request.form()
    value = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, ""))
    if not hmac.compare_digest(value, csrf_value(request.cookies.get(COOKIE, ""))):
        raise AccessDeniedError("the form is stale or came from another site: reload the page")
    return session


Signed = Annotated[Session, Depends(_signed_in)]
"""The signed-in principal's session (pages)."""
Acting = Annotated[Session, Depends(_acting)]
"""The signed-in principal's session, CSRF checked (forms that change something)."""


def render(
    request: Request,
    template: str,
    data: dict[str, Any],
    session: Session | None,
    *,
    status: int = 200,
    error: MeshError | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The page ``template`` over ``data``, or ``data`` itself as the JSON twin.

    Args:
        data: everything the page shows (JSON-able after :func:`meshlake.jsonable.to_jsonable`;
            storage paths are removed).
        extra: template-only values derived from ``data`` (charts, form defaults).
        error: shown above the page (the JSON twin answers the error body instead).
    """
    scrub = scrubber(request)
    body = hide_locations(scrub.body(data))
    if wants_json(request):
        if error is not None:
            return JSONResponse(hide_locations(error_body(error, scrub)), status_code=status)
        return JSONResponse(body, status_code=status)
    err = None
    if error is not None:
        err = {"type": error.kind, "message": hide_locations(scrub.text(error.message))}
    context = {"csrf": csrf_value(request.cookies.get(COOKIE, "")) if session else ""}
    context.update(body)
    html = TEMPLATES.get_template(template).render(
        **context,
        **(extra or {}),
        principal=session.principal if session else None,
        error=err,
        path=request.url.path,
    )
    return HTMLResponse(html, status_code=status)


def done(request: Request, location: str, result: Any = None) -> Response:
    """The answer of a form that changed something: back to ``location`` (303), or the
    scrubbed result for a JSON client."""
    if wants_json(request):
        body = scrubber(request).body(result if result is not None else {})
        return JSONResponse(hide_locations(body))
    return RedirectResponse(location, status_code=303)


def administers(session: Session) -> bool:
    """Whether the principal administers its own account (only which forms a page offers
    depends on it; the facades decide every change)."""
    try:
        return session.principal in session.accounts.get(session.account).admins
    except MeshError:  # the mesh root belongs to no account
        return False


def attempt(
    request: Request,
    call: Callable[[], Any],
    location: str,
    again: Callable[[MeshError], Response],
) -> Response:
    """Run a form's facade ``call``: on success :func:`done` back to ``location``; a
    :class:`~meshlake.errors.MeshError` shows the form's page again with the typed message
    (``again(error)``, the error's status; nothing changed: each facade call is one unit of
    work).
    """
    try:
        result = call()
    except MeshError as exc:
        try:
            return again(exc)
        except MeshError:  # the page itself is gone: the error page shows the form's error
            raise exc from None
    return done(request, location, result)


def whole_number(name: str, text: str, *, most: int) -> int | None:
    """A form's whole-number field (``None`` when blank).

    >>> whole_number("max_runtime_s", " 60 ", most=100)
    60
    >>> whole_number("max_runtime_s", "", most=100) is None
    True

    Raises:
        InvalidInputError: not a whole number from 0 to ``most``.
    """
    text = text.strip().replace("_", "")
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{1,30}", text) or int(text) > most:
        raise InvalidInputError(f"{name} must be a whole number from 0 to {most}, not {text!r}")
    return int(text)


def to_login(request: Request) -> Response:
    """Sign in again (a JSON client gets 401)."""
    if wants_json(request):
        exc = AuthenticationError("sign in to the console first (POST /console/login)")
        return JSONResponse(error_body(exc, scrubber(request)), status_code=401)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _error_page(request: Request, exc: MeshError) -> Response:
    session = None
    with contextlib.suppress(SignInNeeded):
        session = _signed_in(request)
    return render(request, "error.html", {}, session, status=exc.status, error=exc)


class ConsoleRoute(APIRoute):
    """A console route: security headers on every response, errors as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded:
                response = to_login(request)
            except MeshError as exc:
                response = _error_page(request, exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                response = _error_page(request, InvalidInputError(f"malformed form: {problems}"))
            except Exception as exc:  # the error page keeps the headers; details go to the log
                log.exception("unexpected error in %s", request.url.path, exc_info=exc)
                response = _error_page(
                    request, MeshError("internal server error (see the server's log)")
                )
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            return response

        return route
