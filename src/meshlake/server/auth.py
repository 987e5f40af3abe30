"""Who is asking: the bearer token of every request, resolved to one principal's session.

The lookup runs on every request (one indexed read of the token row on the store's probe
connection, ~0.05 ms on SQLite), so a token that expired or was revoked a moment ago, by any
process, is refused at once; there is no cache to wait out.

:func:`current_session` reads the store, so FastAPI runs it in its thread pool; the other
dependencies only read the app's state and are ``async`` so they run on the event loop
without a hand-off to a worker thread (each hand-off costs ~0.1 ms, more under load).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meshlake.errors import AuthenticationError
from meshlake.mesh import Mesh, Session
from meshlake.server.operations import OperationRunner
from meshlake.server.wire import Scrubber
from meshlake.service.tokens import authenticate

__all__ = ["CurrentSession", "Runner", "Scrub", "current_session", "mesh_of", "runner_of"]

_BEARER = HTTPBearer(auto_error=False, description="A token from `meshlake token create`.")


def mesh_of(request: Request) -> Mesh:
    """The mesh the app serves."""
    mesh: Mesh = request.app.state.mesh
    return mesh


def scrubber(request: Request) -> Scrubber:
    """The app's path scrubber."""
    scrub: Scrubber = request.app.state.scrubber
    return scrub


def runner_of(request: Request) -> OperationRunner:
    """The app's operation runner."""
    runner: OperationRunner = request.app.state.operations
    return runner


def current_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Session:
    """The session of the token's principal.

    Raises:
        AuthenticationError: no bearer token, or an unknown, expired or revoked one.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "this server needs a bearer token: send `Authorization: Bearer <token>` (an admin "
            "creates one with `meshlake token create --for ACCOUNT/NAME`)"
        )
    mesh = mesh_of(request)
    principal = authenticate(mesh.runtime, credentials.credentials)
    return mesh.session(principal)


async def _scrubber(request: Request) -> Scrubber:
    return scrubber(request)


async def _runner(request: Request) -> OperationRunner:
    return runner_of(request)


CurrentSession = Annotated[Session, Depends(current_session)]
Scrub = Annotated[Scrubber, Depends(_scrubber)]
Runner = Annotated[OperationRunner, Depends(_runner)]
