"""The HTTP SDK: ``meshlake.connect("http://host:8470", token=...)``.

>>> import meshlake
>>> callable(meshlake.connect)
True

The remote mesh's :meth:`RemoteMesh.session` acts as the token's principal with the embedded
session's method names, return values and error classes (for the covered methods).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshlake.client.http import HttpTransport
from meshlake.client.session import Record, RemoteSession
from meshlake.errors import AccessDeniedError

if TYPE_CHECKING:
    import httpx

__all__ = ["Record", "RemoteMesh", "RemoteSession", "connect"]


class RemoteMesh:
    """A mesh served by ``meshlake serve``, seen through one bearer token.

    Args:
        url: the server's base URL.
        token: a bearer token (``meshlake token create``).
        transport: an httpx transport to send through instead of the SDK's own pool.
        client: a ready httpx client (in-process tests: FastAPI's ``TestClient(app)``).
        timeout: seconds a request may wait for its answer (queries may take long).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.http = HttpTransport(url, token, transport=transport, client=client, timeout=timeout)
        self._principal: str | None = None

    @property
    def principal(self) -> str:
        """The token's principal (asked once)."""
        if self._principal is None:
            self._principal = str(self.http.json("GET", "/v1/session")["principal"])
        return self._principal

    def session(self, principal: str | None = None) -> RemoteSession:
        """The token's principal's session.

        Raises:
            AccessDeniedError: ``principal`` names someone else (a token is one principal).
            AuthenticationError: the token is unknown, expired or revoked.
        """
        if principal is not None and principal != self.principal:
            raise AccessDeniedError(
                f"this connection's token stands for {self.principal}, not {principal}: "
                "connect with that principal's token"
            )
        return RemoteSession(self.http, self.principal)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> RemoteMesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    url: str, *, token: str, transport: Any = None, client: Any = None, timeout: float = 300.0
) -> RemoteMesh:
    """Connect to a meshlake server.

    Args:
        url: ``http://host:8470`` or ``https://...``.
        token: a bearer token.
        transport: an httpx transport to send through instead of the SDK's own pool.
        client: a ready httpx client (in-process tests: FastAPI's ``TestClient(app)``).
        timeout: seconds a request may wait for its answer (default 300).
    """
    return RemoteMesh(url, token, transport=transport, client=client, timeout=timeout)
