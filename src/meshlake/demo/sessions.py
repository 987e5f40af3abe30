"""Where the scenario gets its principals' sessions: an embedded mesh or a server.

The scenario acts as several principals. Embedded, the mesh hands out any principal's
session (``mesh.session(p)``); a server answers each token as exactly one principal, so
:class:`ServerSessions` holds the mesh root's token and creates one short-lived token per
principal the scenario acts as (``root.tokens.create``), connects with it, and revokes them
all when closed. The scenario's code is the same over both: it asks a :class:`Sessions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

import meshlake
from meshlake.errors import AccessDeniedError
from meshlake.ids import ROOT

if TYPE_CHECKING:
    from meshlake.mesh import Mesh, Session

__all__ = ["EmbeddedSessions", "ServerSessions", "SessionSource", "Sessions"]

#: How long a token the demo creates for one of its principals lives (revoked at the end).
TOKEN_TTL = "2h"


class SessionSource(Protocol):
    """Anything that hands out principals' sessions: a :class:`Sessions`, or an embedded
    :class:`~meshlake.mesh.Mesh` itself."""

    def session(self, principal: str) -> Session:
        """``principal``'s session (``root`` included)."""
        ...


class Sessions(SessionSource, Protocol):
    """Sessions of the mesh the scenario runs on."""

    #: True when the sessions go to a server (through the HTTP SDK).
    remote: bool

    def root(self) -> Session:
        """The mesh root's session (an embedded mesh is bootstrapped first)."""
        ...

    def close(self) -> None:
        """Release what the sessions hold."""
        ...


class EmbeddedSessions:
    """The sessions of an embedded mesh: ``mesh.session(principal)``.

    Args:
        mesh: the open mesh (closed by :meth:`close`).
    """

    remote = False

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    def root(self) -> Session:
        """Bootstrap the mesh (idempotent) and return the root's session."""
        return self.mesh.bootstrap()

    def session(self, principal: str) -> Session:
        """``mesh.session(principal)``.

        Raises:
            NotFoundError: no such principal.
        """
        return self.mesh.session(principal)

    def close(self) -> None:
        """Close the mesh."""
        self.mesh.close()


class ServerSessions:
    """The sessions of a server, through the HTTP SDK, from the mesh root's token.

    Args:
        url: the server (``http://host:8470``).
        token: a token of the mesh root (``meshlake token create --for root``).
        ttl: the lifetime of the tokens created for the other principals.
        description: the description those tokens are created with.
    """

    remote = True

    def __init__(
        self, url: str, token: str, *, ttl: str = TOKEN_TTL, description: str = "meshlake demo"
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.description = description
        self._meshes = [meshlake.connect(url, token=token)]
        self._root: Any = None
        self._sessions: dict[str, Any] = {}
        self._tokens: list[str] = []

    def root(self) -> Session:
        """The root's session (the server bootstrapped its mesh when it started).

        Raises:
            AccessDeniedError: the token is not the mesh root's.
            AuthenticationError: the token is unknown, expired or revoked.
        """
        if self._root is None:
            remote = self._meshes[0]
            if remote.principal != ROOT:
                raise AccessDeniedError(
                    f"the demo needs a token of the mesh root, not of {remote.principal}: "
                    "create one on the server's host with `meshlake --home HOME token create "
                    "--for root --ttl 1d`"
                )
            self._root = remote.session()
        return cast("Session", self._root)

    def session(self, principal: str) -> Session:
        """``principal``'s session: the first time, the root creates a token for it.

        Raises:
            NotFoundError: no such principal.
        """
        if principal == ROOT:
            return self.root()
        found = self._sessions.get(principal)
        if found is None:
            new = self.root().tokens.create(principal, self.ttl, description=self.description)
            self._tokens.append(new.info.id)
            remote = meshlake.connect(self.url, token=new.token)
            self._meshes.append(remote)
            found = self._sessions[principal] = remote.session()
        return cast("Session", found)

    def close(self) -> None:
        """Revoke the tokens created here and close every connection."""
        try:
            if self._root is not None:
                for token_id in self._tokens:
                    self._root.tokens.revoke(token_id)
        finally:
            self._tokens.clear()
            self._sessions.clear()
            for remote in self._meshes:
                remote.close()
