"""The HTTP transport of the client: one request, errors mapped back to MeshError classes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from meshlake.errors import MeshError, StorageError, error_class_for_kind

__all__ = ["ARROW_STREAM", "HttpTransport", "raise_for_error"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PAGE = 1000


def raise_for_error(response: httpx.Response) -> None:
    """Raise the :class:`MeshError` subclass of an ``{"error": {"type", ...}}`` answer.

    Raises:
        MeshError: the class named by ``type`` (``MeshError`` itself for unknown kinds).
    """
    if response.status_code < 400:
        return
    try:
        body = response.json()
        err = dict(body["error"])
    except (ValueError, KeyError, TypeError):
        raise MeshError(
            f"the server answered {response.status_code} without a meshlake error: "
            f"{response.text[:200]}"
        ) from None
    cls = error_class_for_kind(str(err.pop("type", "error")))
    message = str(err.pop("message", ""))
    try:
        exc = cls(message, **err)
    except TypeError:
        exc = cls(message)
    raise exc


class HttpTransport:
    """Sends API calls with the bearer token.

    Args:
        url: the server's base URL (``http://host:8470``).
        token: the bearer token.
        transport: an httpx transport.
        timeout: seconds per request (queries may take long: default 300).
        client: a ready httpx client to send through instead (in-process tests pass
            FastAPI's ``TestClient(app)``); its ``Authorization`` header is set here.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 300.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        if client is None:
            client = httpx.Client(base_url=self.url, transport=transport, timeout=timeout)
        client.headers["Authorization"] = f"Bearer {token}"
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        """One request; raises the mapped MeshError for an error answer."""
        headers = {"Accept": accept} if accept else None
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.client.request(method, path, json=json, params=clean, headers=headers)
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot reach the meshlake server at {self.url}: {exc}") from exc
        raise_for_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of one request (``None`` for 204)."""
        response = self.call(method, path, **kwargs)
        return None if response.status_code == 204 or not response.content else response.json()

    def items(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a paged listing (following ``next_offset``)."""
        offset: int | None = 0
        while offset is not None:
            body = self.json(
                "GET", path, params={**(params or {}), "limit": PAGE, "offset": offset}
            )
            yield from body["items"]
            offset = body.get("next_offset")

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
