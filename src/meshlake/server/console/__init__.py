"""The web console: server-rendered pages over the same session facades as the REST API.

One module per page family (catalog, products, access, permissions, tags, SQL, audit,
models, events), all on :mod:`.pages`: the sign-in cookie (``HttpOnly``, ``SameSite=Strict``,
``Secure`` over https), CSRF on every form, security headers, and a JSON twin of every page
(``?format=json`` or ``Accept: application/json``). Charts are SVG drawn on the server
(:mod:`.charts`); the only script is the console's own ``static/console.js``.
"""

from __future__ import annotations

from fastapi import APIRouter

from meshlake.server.console import (
    access,
    audit,
    catalog,
    events,
    models,
    permissions,
    products,
    query,
    signin,
    tags,
)
from meshlake.server.console.pages import COOKIE, SECURITY_HEADERS

__all__ = ["COOKIE", "MODULES", "SECURITY_HEADERS", "router"]

#: The page families, each with its ``router`` (every route a :class:`.pages.ConsoleRoute`).
MODULES = (signin, catalog, products, access, permissions, tags, query, audit, models, events)

router = APIRouter()
for _module in MODULES:
    router.include_router(_module.router)
