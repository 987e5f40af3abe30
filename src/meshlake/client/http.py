"""The HTTP transport of the client: one request, errors mapped back to MeshError classes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from meshlake.errors import MeshError, StorageError, error_class_for_kind

__all__ = ["ARROW_STREAM", "HttpTransport", "error_from", "outcome", "raise_for_error"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PAGE = 1000
OPERATION_POLL_S = 20.0  # seconds the server holds one status request of a running operation


def error_from(error: dict[str, Any]) -> MeshError:
    """The :class:`MeshError` subclass instance of an ``{"type", "message", ...}`` error
    (``MeshError`` itself for unknown kinds)."""
    err = dict(error)
    cls = error_class_for_kind(str(err.pop("type", "error")))
    message = str(err.pop("message", ""))
    try:
        return cls(message, **err)
    except TypeError:
        return cls(message)


def outcome(op: dict[str, Any]) -> Any:
    """An ended operation's result, or its error raised as its MeshError class."""
    if op["state"] == "FAILED":
        raise error_from(op.get("error") or {"type": "error", "message": "the operation failed"})
    return op.get("result")


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
    raise error_from(err)


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
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """One request (a JSON body, or raw ``content`` of ``content_type``); raises the
        mapped MeshError for an error answer."""
        headers = {"Accept": accept} if accept else {}
        if content_type:
            headers["Content-Type"] = content_type
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.client.request(
                method,
                path,
                json=json,
                content=content,
                params=clean or None,
                headers=headers or None,
            )
        except httpx.HTTPError as exc:
            raise StorageError(f"cannot reach the meshlake server at {self.url}: {exc}") from exc
        raise_for_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of one request (``None`` for 204)."""
        response = self.call(method, path, **kwargs)
        return None if response.status_code == 204 or not response.content else response.json()

    def operation(self, path: str, body: Any, *, wait: bool = True) -> Any:
        """Start an operation (``POST path`` answers ``202``): with ``wait``, its result once
        it SUCCEEDED; without, the operation (a dict) as first recorded.

        Raises:
            MeshError: the operation FAILED (its error's class), or the request failed.
        """
        op = self.json("POST", path, json=body)
        return outcome(self.follow(op)) if wait else op

    def follow(self, op: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """The operation once it ended, or as it is after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while op["state"] in ("QUEUED", "RUNNING"):
            left = OPERATION_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            op = self.json(
                "GET",
                f"/v1/operations/{op['id']}",
                params={"wait": min(left, OPERATION_POLL_S)},
            )
        return op

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
