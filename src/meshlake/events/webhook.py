"""Webhook deliveries: the signed HTTP POST, its verification, and the retry schedule.

A delivery is one ``POST`` of the event's CloudEvents JSON (structured mode,
``Content-Type: application/cloudevents+json``) with the headers

- ``Meshlake-Event-Id``: the CloudEvents id (deduplicate on it: delivery is at least once);
- ``Meshlake-Signature``: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

A receiver recomputes the HMAC over the timestamp, a dot and the raw body with the
subscription's secret, compares in constant time, and refuses timestamps older than a few
minutes (a replayed capture): :func:`verify_signature` does exactly that. Any 2xx answer is a
success; anything else, a timeout or a connection error is retried after
:func:`backoff_delay` (exponential, full jitter).

Before each POST the URL is checked again against the mesh's destination policy
(:mod:`meshlake.events.destinations`): its host name is resolved, every address checked, and
the connection made to a checked address (the name is not resolved again, so a DNS answer
that changed since cannot lead elsewhere; TLS still verifies the certificate against the
name). A refused destination is a failed delivery that was never sent. Redirects are not
followed (a 3xx answer is a failure), and no proxy is used.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import random
import socket
import ssl
import time
from functools import cache

from meshlake.errors import InvalidInputError
from meshlake.events.cloud import CONTENT_TYPE, EventRecord, to_json
from meshlake.events.destinations import Destination, WebhookPolicy

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "PostResult",
    "backoff_delay",
    "post_event",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "Meshlake-Signature"
EVENT_ID_HEADER = "Meshlake-Event-Id"
USER_AGENT = "meshlake-webhooks"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Meshlake-Signature`` header value for ``body`` sent at ``timestamp``.

    >>> sign("s3cret", b"{}", 1700000000)[:15]
    't=1700000000,v1'
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is recent enough.

    >>> h = sign("s3cret", b"{}", 1700000000)
    >>> verify_signature("s3cret", b"{}", h, now=1700000010)
    True
    >>> verify_signature("s3cret", b"{ }", h, now=1700000010)
    False
    >>> verify_signature("s3cret", b"{}", h, now=1700009999)
    False
    """
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def backoff_delay(
    attempt: int, *, base_s: float = 1.0, cap_s: float = 300.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): full jitter over an exponential
    ceiling, ``uniform(0, min(cap, base * 2**(attempt-1)))``.

    >>> 0 <= backoff_delay(3, base_s=1.0) <= 4.0
    True
    """
    ceiling = min(cap_s, base_s * 2 ** max(attempt - 1, 0))
    return (rng or random).uniform(0, ceiling)


class PostResult:
    """The outcome of one POST: ``ok`` and, when not, why."""

    __slots__ = ("error", "ok", "status")

    def __init__(self, ok: bool, status: int | None = None, error: str | None = None) -> None:
        self.ok, self.status, self.error = ok, status, error


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to a destination's host that connects to one checked address
    (``host`` names the request's ``Host`` and the TLS server name; it is never resolved)."""

    def __init__(
        self, dest: Destination, address: str, timeout_s: float, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(dest.host, dest.port, timeout=timeout_s)
        self.default_port = 443 if tls is not None else 80  # no ":443" in the Host header
        self.address = address
        self.tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock


@cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context of HTTPS deliveries (system CAs, hostname checks), built once."""
    return ssl.create_default_context()


def _failure(exc: BaseException) -> PostResult:
    return PostResult(False, None, f"{type(exc).__name__}: {exc}")


def post_event(
    url: str,
    secret: str | None,
    record: EventRecord,
    *,
    timeout_s: float,
    policy: WebhookPolicy | None = None,
) -> PostResult:
    """POST ``record`` to ``url``, signed with ``secret``, if ``policy`` (default: public
    addresses only) allows the destination now; never raises.

    Each checked address is tried in turn until one accepts the connection; the request is
    sent once. A redirect is reported as a failure, never followed.
    """
    try:
        target = (policy or WebhookPolicy()).check(url)
    except InvalidInputError as exc:
        return PostResult(False, None, f"not sent: {exc.message}")
    dest = target.destination
    body = to_json(record)
    headers = {
        "Content-Type": CONTENT_TYPE,
        EVENT_ID_HEADER: record.id,
        "User-Agent": USER_AGENT,
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    tls = _tls_context() if dest.scheme == "https" else None
    refused: BaseException | None = None
    for address in target.addresses:
        connection = _PinnedConnection(dest, address, timeout_s, tls)
        try:
            connection.connect()
        except Exception as exc:  # refused, unreachable, TLS: try the next checked address
            connection.close()
            refused = exc
            continue
        try:
            connection.request("POST", dest.target, body=body, headers=headers)
            status = int(connection.getresponse().status)
        except Exception as exc:  # timeouts, resets, malformed answers: all retried
            return _failure(exc)
        finally:
            connection.close()
        if 200 <= status < 300:
            return PostResult(True, status)
        if 300 <= status < 400:
            return PostResult(
                False,
                status,
                f"HTTP {status} (redirects are not followed: subscribe the URL that answers)",
            )
        return PostResult(False, status, f"HTTP {status}")
    assert refused is not None  # a target has at least one address
    return _failure(refused)
