"""The state every command shares: global options, the open mesh, the acting session.

A command runs against an embedded mesh (``--home``, the default) or against a server
(``--url``, ``--profile``, ``$MESHLAKE_URL``, ``$MESHLAKE_PROFILE``, or the ``default``
profile that ``meshlake login`` saved when no home is named). Either way it gets a session
with the same method names and errors (:meth:`CliState.session`), and reaches operations
through :meth:`CliState.op`, which says "not available against a server yet" for those the
SDK does not offer.

Nothing heavy is imported here: the mesh (storage, query engine, governance) and the HTTP
client are imported when a command opens them, so ``meshlake --help`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from meshlake.cli.errors import RemoteUnavailableError
from meshlake.cli.output import Output
from meshlake.cli.profiles import (
    DEFAULT_PROFILE,
    ENV_TOKEN,
    Profile,
    check_url,
    load_profiles,
)
from meshlake.config import Settings, load_settings
from meshlake.errors import AuthenticationError, InvalidInputError, NotFoundError
from meshlake.ids import ROOT

if TYPE_CHECKING:
    from meshlake.client import RemoteMesh
    from meshlake.mesh import Mesh, Session

__all__ = ["CliState", "Connection", "get_state", "resolve_connection"]


@dataclass(frozen=True)
class Connection:
    """Where commands go: a server (``url`` and ``token``) or, when ``url`` is None, the
    embedded mesh of the home."""

    url: str | None = None
    token: str | None = field(default=None, repr=False)
    profile: str | None = None

    @property
    def remote(self) -> bool:
        """True against a server."""
        return self.url is not None


def resolve_connection(
    *,
    url: str | None,
    profile: str | None,
    home_named: bool,
    environ: dict[str, str] | None = None,
) -> Connection:
    """Pick the server (or none) from the options, the environment and saved profiles.

    Args:
        url: the ``--url`` option (or ``$MESHLAKE_URL``).
        profile: the ``--profile`` option (or ``$MESHLAKE_PROFILE``).
        home_named: ``--home`` or ``$MESHLAKE_HOME`` names a mesh home.
        environ: the environment (default ``os.environ``), for ``$MESHLAKE_TOKEN``.

    Order: ``url`` / ``profile``, then the ``default`` profile when no home is named; else
    the embedded mesh. The token is ``$MESHLAKE_TOKEN``, or the profile's when it names the
    same server (for a URL alone: a saved profile of that server, ``default`` first).

    Raises:
        NotFoundError: a named profile does not exist.
        AuthenticationError: a server is named but no token is known for it.
        InvalidInputError: a malformed URL.
    """
    env = os.environ if environ is None else environ
    url = url or None
    name = profile or None
    profiles: dict[str, Profile] = {}
    if name or url or not home_named:
        profiles = load_profiles()
    if name is not None and name not in profiles:
        raise NotFoundError(
            f"no profile {name}: save one with `meshlake login --profile {name} --url URL`"
            + (f" (saved: {', '.join(sorted(profiles))})" if profiles else "")
        )
    if name is None and url is None and not home_named and DEFAULT_PROFILE in profiles:
        name = DEFAULT_PROFILE
    chosen = profiles.get(name) if name else None
    if url is None and chosen is None:
        return Connection()
    url = check_url(url or cast(Profile, chosen).url)
    if chosen is None:  # a URL alone: the token of a profile of that server (default first)
        same = [p for p in profiles.values() if check_url(p.url) == url]
        same.sort(key=lambda p: (p.name != DEFAULT_PROFILE, p.name))
        chosen = same[0] if same else None
        name = chosen.name if chosen else None
    token = env.get(ENV_TOKEN) or None
    if token is None and chosen is not None and check_url(chosen.url) == url:
        token = chosen.token
    if token is None:
        raise AuthenticationError(
            f"no token for {url}: run `meshlake login --url {url}` (it saves one), or set "
            f"{ENV_TOKEN}"
        )
    return Connection(url, token, name)


@dataclass
class CliState:
    """Global options of one invocation and the mesh (or server) they open.

    Args:
        home: the ``--home`` option (``None``: ``$MESHLAKE_HOME`` or ``./.meshlake``).
        principal: who acts (``--as``).
        out: where results and errors go.
        url: the ``--url`` option.
        profile: the ``--profile`` option.
        principal_named: ``--as`` (or ``$MESHLAKE_PRINCIPAL``) was given; against a server
            it must then be the token's principal.
        home_named: ``--home`` or ``$MESHLAKE_HOME`` was given.
    """

    home: Path | None
    principal: str
    out: Output
    url: str | None = None
    profile: str | None = None
    principal_named: bool = False
    home_named: bool = False
    command_path: str = "meshlake"
    _mesh: Mesh | None = field(default=None, repr=False)
    _remote: RemoteMesh | None = field(default=None, repr=False)
    _connection: Connection | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        """True under ``--json``."""
        return self.out.json

    def connection(self) -> Connection:
        """Where this invocation's commands go (resolved once)."""
        if self._connection is None:
            if self.home_named and (self.url or self.profile):
                raise InvalidInputError(
                    "give --home (a mesh on this machine) or --url / --profile (a server), not both"
                )
            self._connection = resolve_connection(
                url=self.url, profile=self.profile, home_named=self.home_named
            )
        return self._connection

    @property
    def remote(self) -> bool:
        """True when commands go to a server."""
        return self.connection().remote

    def settings(self) -> Settings:
        """Where the mesh lives (options, then environment, then defaults)."""
        return load_settings(self.home)

    def server_settings(
        self,
        *,
        allowed_roots: list[str] | None = None,
        webhook_allowed_hosts: list[str] | None = None,
    ) -> Settings:
        """Settings for ``meshlake serve``: clients may name no folder as a location unless
        ``allowed_roots`` (or ``MESHLAKE_ALLOWED_ROOTS``) says which (rule 29); webhooks
        go where ``webhook_allowed_hosts`` (or its variable) allows."""
        settings = load_settings(
            self.home,
            allowed_roots=allowed_roots or None,
            webhook_allowed_hosts=webhook_allowed_hosts or None,
        )
        if settings.allowed_roots is None:
            settings = replace(settings, allowed_roots=())
        return settings

    def require_home(self) -> None:
        """Refuse to run against a server (for commands that work on a mesh home).

        Raises:
            RemoteUnavailableError: commands go to a server.
        """
        if self.remote:
            raise RemoteUnavailableError(
                f"`{self.command_path}` works on a mesh home, not against a server: run it on "
                "the server's host with --home"
            )

    def mesh(self, *, create: bool = False) -> Mesh:
        """Open the embedded mesh once per invocation.

        Args:
            create: create a new mesh when the home has none (only ``init`` does).

        Raises:
            NotFoundError: no mesh at the home and ``create`` is false.
            RemoteUnavailableError: commands go to a server (this one needs a home).
        """
        self.require_home()
        if self._mesh is None:
            from meshlake.mesh import Mesh  # the whole stack: imported when a mesh is opened

            settings = self.settings()
            if not create and not _store_exists(settings):
                raise NotFoundError(
                    f"no mesh at {settings.home}: run `meshlake init` to create one, or point "
                    "--home (or MESHLAKE_HOME) at an existing mesh"
                )
            self._mesh = Mesh(settings)
        return self._mesh

    def session(self) -> Session:
        """The session of the acting principal: ``--as`` on the embedded mesh, the token's
        principal on a server (the remote session has the same methods and errors).

        Raises:
            NotFoundError: the mesh is not initialised or the principal does not exist.
            AccessDeniedError: against a server, ``--as`` names another principal.
        """
        if self.remote:
            return cast("Session", self._remote_session())
        mesh = self.mesh()
        if not mesh.bootstrapped:
            raise NotFoundError(
                f"the mesh at {mesh.home} is not initialised: run `meshlake init` first"
            )
        try:
            return mesh.session(self.principal)
        except NotFoundError as exc:
            raise NotFoundError(
                f"principal {self.principal} not found: check --as (or MESHLAKE_PRINCIPAL); "
                "`meshlake principal list` shows the principals, and the mesh root creates "
                f"new ones with `meshlake --as {ROOT} principal create ACCOUNT/NAME`"
            ) from exc

    def _remote_session(self) -> Any:
        if self._remote is None:
            from meshlake.client import connect  # httpx and the SDK: only against a server

            conn = self.connection()
            self._remote = connect(cast(str, conn.url), token=cast(str, conn.token))
        return self._remote.session(self.principal if self.principal_named else None)

    def op(self, path: str) -> Any:
        """The session's operation at ``path`` (``"storage.crawl"``, ``"queries.cancel"``).

        Raises:
            RemoteUnavailableError: against a server whose SDK does not offer it yet.
        """
        target: Any = self.session()
        for part in path.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                if not self.remote:
                    raise
                raise RemoteUnavailableError(
                    f"`{self.command_path}` is not available against a server yet (the server's "
                    f"API has no {path}): run it on the mesh's host with --home",
                    operation=path,
                ) from None
        return target

    def embedded_only(self, **kwargs: Any) -> dict[str, Any]:
        """``kwargs`` on the embedded mesh, nothing against a server: for arguments that only
        make sense in this process (progress callbacks)."""
        return {} if self.remote else kwargs

    def close(self) -> None:
        """Release the mesh's database connections (or the HTTP connection pool)."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None


def _store_exists(settings: Settings) -> bool:
    """False only when the catalog store is a SQLite file that does not exist yet."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.catalog_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return True
    if url.database == ":memory:":
        return True
    return os.path.exists(url.database)


def get_state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` the main callback stored on the root context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # a command invoked without the main callback
        raise RuntimeError("meshlake CLI state is missing: invoke commands through the app")
    obj.command_path = ctx.command_path
    return obj
