"""The HTTP transport of the client: one request, errors mapped back to MeshError classes.

Requests to a server go through urllib3's connection pool: its client-side work per call is
a little over half of httpx's (0.23 against 0.40 ms on an idle core; ``bench/README.md``). An
httpx client (FastAPI's ``TestClient`` in in-process tests) or transport can be given instead.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

from meshlake.errors import MeshError, StorageError, error_class_for_kind

if TYPE_CHECKING:
    import httpx

__all__ = ["ARROW_STREAM", "HttpTransport", "Reply", "error_from", "outcome", "raise_for_error"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PAGE = 1000
OPERATION_POLL_S = 20.0  # seconds the server holds one status request of a running operation
IDLE_CONNECTIONS = 20  # connections kept open per server for threads sharing one connection
CONNECT_TIMEOUT_S = 30.0
_CONNECTION_PREFIX = re.compile(r"^HTTPS?Connection(?:Pool)?\([^)]*\): ")


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: status, headers (case-insensitive names) and the whole body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", "replace")


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


def raise_for_error(response: Reply) -> None:
    """Raise the :class:`MeshError` subclass of an ``{"error": {"type", ...}}`` answer.

    Raises:
        MeshError: the class named by ``type`` (``MeshError`` itself for unknown kinds).
    """
    if response.status_code < 400:
        return
    try:
        err = dict(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        raise MeshError(
            f"the server answered {response.status_code} without a meshlake error: "
            f"{response.text[:200]}"
        ) from None
    raise error_from(err)


def unreachable(url: str, exc: BaseException) -> StorageError:
    """The error of a request that got no answer (refused, timed out, connection lost)."""
    # urllib3 names its connection first ("HTTPConnection(host=..., port=...): ..."): the
    # URL already says which server
    detail = _CONNECTION_PREFIX.sub("", str(exc)) or type(exc).__name__
    return StorageError(
        f"cannot reach the meshlake server at {url}: {detail}", reason="unreachable", server=url
    )


class _Sender(Protocol):
    def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Reply: ...

    def close(self) -> None: ...


class _PoolSender:
    """Requests through urllib3's thread-safe pool (keep-alive connections, no retries, no
    redirects followed). ``HTTP(S)_PROXY`` and ``NO_PROXY`` apply as for other clients."""

    def __init__(self, url: str, timeout: float) -> None:
        import urllib3

        self.url = url
        self._errors: type[Exception] = urllib3.exceptions.HTTPError
        options: dict[str, Any] = {
            "maxsize": IDLE_CONNECTIONS,
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=min(timeout, CONNECT_TIMEOUT_S), read=timeout),
        }
        proxy = _proxy_for(url)
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Reply:
        try:
            r = self.pool.request(
                method, self.url + target, body=body, headers=headers, redirect=False
            )
        except self._errors as exc:
            raise unreachable(self.url, exc) from exc
        return Reply(r.status, r.headers, r.data)

    def close(self) -> None:
        self.pool.clear()


class _HttpxSender:
    """Requests through a given httpx client (in-process tests: FastAPI's ``TestClient``)."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self.client = client

    def send(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Reply:
        import httpx

        try:
            r = self.client.request(method, target, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return Reply(r.status_code, r.headers, r.content)

    def close(self) -> None:
        self.client.close()


def _param(value: Any) -> Any:
    """A query parameter's value as the API reads it (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``None`` when none applies)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy


class HttpTransport:
    """Sends API calls with the bearer token.

    Args:
        url: the server's base URL (``http://host:8470``).
        token: the bearer token.
        transport: an httpx transport to send through (tests, custom networking).
        timeout: seconds per request (queries may take long: default 300).
        client: a ready httpx client to send through instead (in-process tests pass
            FastAPI's ``TestClient(app)``).
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
        self.headers = {"Authorization": f"Bearer {token}"}
        self._sender: _Sender
        if client is None and transport is None:
            self._sender = _PoolSender(self.url, timeout)
        else:
            if client is None:
                import httpx

                client = httpx.Client(base_url=self.url, transport=transport, timeout=timeout)
            self._sender = _HttpxSender(self.url, client)

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
    ) -> Reply:
        """One request (a JSON body, or raw ``content`` of ``content_type``); raises the
        mapped MeshError for an error answer, and a :class:`StorageError` (reason
        ``unreachable``) when no answer came."""
        headers = dict(self.headers)
        if accept:
            headers["Accept"] = accept
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":")).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        target = f"{path}?{urlencode(clean, doseq=True)}" if clean else path
        response = self._sender.send(method, target, headers, content)
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
        """Close the open connections."""
        self._sender.close()
