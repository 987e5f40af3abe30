"""Who is asking: the bearer token of every request, resolved to one principal's session.

The lookup runs on every request (one indexed read of the token row on the store's probe
connection, ~0.05 ms on SQLite), so a token that expired or was revoked a moment ago, by any
process, is refused at once; there is no cache to wait out.

Thread hand-offs: FastAPI runs a sync dependency and a sync endpoint each in a worker thread
of its own hand-off (~0.1 ms each when the machine is idle, several under load). The REST
routes use :class:`SessionRoute`: a sync endpoint taking a :data:`CurrentSession` gets the
request's :class:`Bearer` token from an ``async`` dependency (the header's form only, on the
event loop) and checks it against the store in its own worker thread, before any of its
code runs, so a request makes one hand-off instead of two. The other dependencies only read
the app's state and are ``async`` too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_origin, get_type_hints

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meshlake.errors import AuthenticationError
from meshlake.mesh import Mesh, Session
from meshlake.server.operations import OperationRunner
from meshlake.server.wire import Scrubber
from meshlake.service.tokens import authenticate, token_id

__all__ = [
    "Bearer",
    "CurrentSession",
    "Runner",
    "Scrub",
    "SessionRoute",
    "bearer",
    "current_session",
    "mesh_of",
    "runner_of",
]

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


@dataclass(frozen=True)
class Bearer:
    """A request's bearer token, of the right form but not yet checked against the store."""

    mesh: Mesh
    token: str

    def session(self) -> Session:
        """The session of the token's principal (reads the token's row: call it in a worker
        thread).

        Raises:
            AuthenticationError: an unknown, expired or revoked token.
        """
        return self.mesh.session(authenticate(self.mesh.runtime, self.token))


async def bearer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Bearer:
    """The request's bearer token (its form only: no store read, so on the event loop).

    Raises:
        AuthenticationError: no bearer token, or not a meshlake token's form.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError(
            "this server needs a bearer token: send `Authorization: Bearer <token>` (an admin "
            "creates one with `meshlake token create --for ACCOUNT/NAME`)"
        )
    token_id(credentials.credentials)
    return Bearer(mesh_of(request), credentials.credentials)


def current_session(token: Annotated[Bearer, Depends(bearer)]) -> Session:
    """The session of the token's principal.

    Raises:
        AuthenticationError: no bearer token, or an unknown, expired or revoked one.
    """
    return token.session()


async def _scrubber(request: Request) -> Scrubber:
    return scrubber(request)


async def _runner(request: Request) -> OperationRunner:
    return runner_of(request)


CurrentSession = Annotated[Session, Depends(current_session)]
Scrub = Annotated[Scrubber, Depends(_scrubber)]
Runner = Annotated[OperationRunner, Depends(_runner)]
_BearerToken = Annotated[Bearer, Depends(bearer)]


def _is_current_session(hint: Any) -> bool:
    return get_origin(hint) is Annotated and any(
        isinstance(m, DependsParam) and m.dependency is current_session for m in hint.__metadata__
    )


def authenticating(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` (a plain function taking :data:`CurrentSession` parameters) as a function
    taking the request's :class:`Bearer` token in their place, which turns each into the
    principal's session first, in the thread it runs in; any other callable unchanged.

    The wrapper's signature is ``endpoint``'s with its annotations resolved, so FastAPI
    reads the same parameters, return type and documentation.
    """
    if not inspect.isfunction(endpoint) or (
        inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    ):
        return endpoint
    hints = get_type_hints(endpoint, include_extras=True)
    names = [n for n, hint in hints.items() if n != "return" and _is_current_session(hint)]
    if not names:
        return endpoint
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=_BearerToken if p.name in names else hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
    ]

    @functools.wraps(endpoint)
    def authenticated(**kwargs: Any) -> Any:
        for name in names:
            kwargs[name] = kwargs[name].session()
        return endpoint(**kwargs)

    returns = hints.get("return", signature.return_annotation)
    authenticated.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters,
        return_annotation=None if returns is type(None) else returns,  # as FastAPI reads it
    )
    return authenticated


class SessionRoute(APIRoute):
    """A REST route whose plain (sync) endpoint checks the bearer token in its own worker
    thread (:func:`authenticating`): one hand-off from the event loop per request."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, authenticating(endpoint), **kwargs)
