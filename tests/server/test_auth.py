"""The REST routes check the bearer token in the endpoint's own worker thread."""

from __future__ import annotations

import inspect

from fastapi.routing import APIRoute

from meshlake.server.auth import SessionRoute, bearer, current_session
from meshlake.server.routes import (
    admin,
    catalog,
    events,
    governance,
    ml,
    operations,
    products,
    query,
    storage,
)

ROUTERS = (admin, catalog, events, governance, ml, operations, products, query, storage)


def _calls(route: APIRoute) -> set[object]:
    """Every dependency the route resolves before its endpoint runs."""
    out: set[object] = set()
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        out.add(dep.call)
        todo.extend(dep.dependencies)
    return out


def test_sync_routes_read_the_token_in_their_own_thread() -> None:
    checked = 0
    for module in ROUTERS:
        for route in module.router.routes:
            assert isinstance(route, SessionRoute), route
            endpoint = inspect.unwrap(route.endpoint)
            takes_session = current_session in _calls(route) or route.endpoint is not endpoint
            if not takes_session:
                continue
            calls = _calls(route)
            assert bearer in calls, route.path  # every route checks the token
            if inspect.iscoroutinefunction(endpoint):
                continue  # async endpoints keep the dependency (a hand-off of its own)
            assert current_session not in calls, route.path  # read in the endpoint's thread
            assert route.endpoint is not endpoint, route.path
            checked += 1
    assert checked > 80
