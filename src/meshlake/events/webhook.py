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
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
import urllib.error
import urllib.request

from meshlake.events.cloud import CONTENT_TYPE, EventRecord, to_json

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


def post_event(
    url: str, secret: str | None, record: EventRecord, *, timeout_s: float
) -> PostResult:
    """POST ``record`` to ``url``, signed with ``secret``; never raises."""
    body = to_json(record)
    headers = {"Content-Type": CONTENT_TYPE, EVENT_ID_HEADER: record.id}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return PostResult(False, exc.code, f"HTTP {exc.code}")
    except Exception as exc:  # timeouts, refused connections, bad URLs: all retried
        return PostResult(False, None, f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return PostResult(True, status)
    return PostResult(False, status, f"HTTP {status}")
