"""The FastAPI app of ``meshlake serve``: the mesh's security boundary.

Every route needs a bearer token (:mod:`meshlake.server.auth`) and calls one session facade;
no route decides on its own. Errors are ``{"error": {"type": kind, "message": ...}}`` with
the :class:`~meshlake.errors.MeshError`'s HTTP status; responses carry no storage paths.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from meshlake import __version__
from meshlake.config import (
    ENV_ALLOWED_ROOTS,
    ENV_CATALOG_URL,
    ENV_HOME,
    ENV_QUERY_THREADS,
    ENV_WAREHOUSE,
    ENV_WEBHOOK_ALLOWED_HOSTS,
    Settings,
    load_settings,
)
from meshlake.config import query_threads as config_query_threads
from meshlake.errors import InvalidInputError, MeshError
from meshlake.mesh import Mesh
from meshlake.server import console
from meshlake.server.operations import (
    DEFAULT_LEASE_S,
    DEFAULT_MAX_PENDING,
    DEFAULT_WORKERS,
    OperationRunner,
)
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
from meshlake.server.wire import Scrubber, error_body

__all__ = ["app_from_environment", "create_app", "serve"]

log = logging.getLogger("meshlake.server")


def registered_locations(mesh: Mesh) -> Callable[[], list[str]]:
    """The registered locations of ``mesh`` now (the scrubber hides them in responses)."""

    def locations() -> list[str]:
        return [uri for _, uri in mesh.runtime.engine.state().locations.values()]

    return locations


def create_app(
    mesh: Mesh,
    *,
    workers: int = DEFAULT_WORKERS,
    max_pending: int = DEFAULT_MAX_PENDING,
    lease_s: float = DEFAULT_LEASE_S,
) -> FastAPI:
    """The REST API over ``mesh`` (which must be bootstrapped).

    A mesh opened without ``allowed_roots`` gets none here: over HTTP no principal may name
    a folder as a location except registered locations (rule 29).

    Args:
        mesh: the embedded mesh the server holds (catalog URL and storage paths stay here).
        workers: operations (crawls, recipes, ML jobs, pipelines) running at once.
        max_pending: operations accepted at once (queued or running); more are refused.
        lease_s: how long a running operation's record outlives a stopped server before it
            is reported FAILED.
    """
    if mesh.runtime.managed.allowed_roots is None:
        mesh.runtime.managed = replace(mesh.runtime.managed, allowed_roots=())
    scrubber = Scrubber(mesh.settings, registered_locations(mesh))
    runner = OperationRunner(
        mesh, scrubber, workers=workers, max_pending=max_pending, lease_s=lease_s
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        runner.close()

    app = FastAPI(
        title="meshlake",
        version=__version__,
        description="A governed data mesh: catalog, tag-based access control, governed SQL, "
        "data products, ML, events and audit. Every request needs "
        "`Authorization: Bearer <token>`. Long work answers `202` with an operation "
        "(`GET /v1/operations/{id}`).",
        lifespan=lifespan,
    )
    app.state.mesh = mesh
    app.state.scrubber = scrubber
    app.state.operations = runner

    def answer(exc: MeshError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            error_body(exc, app.state.scrubber), status_code=exc.status, headers=headers
        )

    @app.exception_handler(MeshError)
    async def mesh_error(_: Request, exc: MeshError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return answer(InvalidInputError(f"malformed request: {problems}"))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return answer(MeshError("internal server error (see the server's log)"))

    @app.get("/health", tags=["session"])
    async def health() -> dict[str, Any]:  # async: no hand-off to a worker thread
        """Liveness (no token needed; says nothing about the mesh)."""
        return {"status": "ok"}

    # Starlette tries the routes in order, ~2 us each: the hottest ones (governed queries,
    # then who-am-I) come first; no two routes of the API share a path.
    for module in (
        query,
        admin,
        catalog,
        governance,
        products,
        storage,
        ml,
        events,
        operations,
        console,
    ):
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``meshlake serve --workers N``: the mesh of the
    settings the parent process put in the environment (``MESHLAKE_*``), closed when the
    worker stops. Each worker holds its own governance state, kept current from the store's
    change log (``governance/loading.py``)."""
    mesh = Mesh(load_settings())
    app = create_app(mesh)
    inner = app.router.lifespan_context  # the operation runner's

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(a):
                yield
        finally:
            mesh.close()

    app.router.lifespan_context = lifespan
    return app


def _export(settings: Settings) -> None:
    """Put ``settings`` in this process's environment (the workers read them from it)."""
    os.environ[ENV_HOME] = str(settings.home)
    os.environ[ENV_CATALOG_URL] = settings.catalog_url
    os.environ[ENV_WAREHOUSE] = settings.warehouse
    for variable, listed in (
        (ENV_ALLOWED_ROOTS, settings.allowed_roots),
        (ENV_WEBHOOK_ALLOWED_HOSTS, settings.webhook_allowed_hosts),
    ):
        if listed is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = ",".join(listed)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    log_level: str = "warning",
    workers: int = 1,
    query_threads: int | None = None,
    forwarded_allow_ips: str | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Open the mesh of ``settings`` and serve it with uvicorn until interrupted.

    Args:
        workers: uvicorn worker processes; above 1 each opens the mesh on its own (after this
            process has bootstrapped it once) and they share the catalog store.
        query_threads: query engine threads per worker process (default
            ``$MESHLAKE_QUERY_THREADS``, else one per core in every worker: under many
            concurrent queries the cores are shared anyway, and a lone large query keeps
            them all).
        forwarded_allow_ips: addresses of the reverse proxies whose ``X-Forwarded-For`` and
            ``X-Forwarded-Proto`` headers are trusted (comma-separated, ``*`` for any;
            default uvicorn's: ``$FORWARDED_ALLOW_IPS`` or 127.0.0.1).
        ssl_certfile: serve HTTPS with this certificate chain (PEM) ...
        ssl_keyfile: ... and this private key.

    Raises:
        InvalidInputError: a bad thread count, or only one of the certificate and the key.
    """
    import uvicorn

    if settings.allowed_roots is None:  # a server lets principals name no folder
        settings = replace(settings, allowed_roots=())
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise InvalidInputError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    if query_threads is not None:
        if query_threads < 1:
            raise InvalidInputError(f"query threads must be at least 1, not {query_threads}")
        os.environ[ENV_QUERY_THREADS] = str(query_threads)  # read when an engine starts
    config_query_threads()  # a bad $MESHLAKE_QUERY_THREADS fails here, not in each worker
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level}
    if forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = forwarded_allow_ips
    if ssl_certfile is not None:
        options.update(ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    mesh = Mesh(settings)
    mesh.bootstrap()
    if workers > 1:
        mesh.close()
        _export(settings)
        uvicorn.run(
            "meshlake.server.app:app_from_environment", factory=True, workers=workers, **options
        )
        return
    try:
        uvicorn.run(create_app(mesh), **options)
    finally:
        mesh.close()
