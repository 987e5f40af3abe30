"""Fixtures of the events tests: a small mesh with a producer and a consumer, and a local
webhook receiver."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import meshlake
from meshlake.config import ENV_WEBHOOK_ALLOWED_HOSTS
from meshlake.events.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature
from meshlake.service.events import DISPATCH_ENV


def setup_accounts(mesh: meshlake.Mesh) -> dict[str, meshlake.Session]:
    """central (owner of database ``sales``), consumer (admin + analyst)."""
    root = mesh.bootstrap()
    for account in ("central", "consumer"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    root.principals.create("consumer/analyst")
    owner = mesh.session("central/admin")
    owner.catalog.create_database("sales")
    return {
        "root": root,
        "owner": owner,
        "consumer": mesh.session("consumer/admin"),
        "analyst": mesh.session("consumer/analyst"),
    }


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST; ``fail`` makes it answer 500,
    ``delay`` makes it slow."""

    secret: str | None = None
    fail: bool = False
    delay: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)  # idempotent: id -> 1
    bad_signatures: int = 0
    hosts: list[str] = field(default_factory=list)  # the Host header of every POST
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: Any, body: bytes) -> int:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            return 500
        if self.secret is not None and not verify_signature(
            self.secret, body, headers.get(SIGNATURE_HEADER, "")
        ):
            with self.lock:
                self.bad_signatures += 1
            return 401
        doc = json.loads(body)
        with self.lock:
            self.posts.append(doc)
            event_id = headers.get(EVENT_ID_HEADER)
            self.processed.setdefault(event_id, 1)  # the idempotency key
        return 204


def start_receiver(
    rec: Receiver, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
) -> ThreadingHTTPServer:
    """Serve ``rec`` on ``host`` (a free port unless ``port``) in a thread, over TLS when
    ``tls`` is a server context."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with rec.lock:
                rec.hosts.append(self.headers.get("Host", ""))
            self.send_response(rec.handle(self.headers, body))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    rec.url = f"{scheme}://{host}:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """Make running :class:`Receiver` endpoints (stopped after the test); keyword arguments
    go to :func:`start_receiver`."""
    servers: list[ThreadingHTTPServer] = []

    def make(**where: Any) -> Receiver:
        rec = Receiver()
        servers.append(start_receiver(rec, **where))
        return rec

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _worker_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests deliver explicitly (``session.events.deliver()``), not in the background."""
    monkeypatch.setenv(DISPATCH_ENV, "worker")


@pytest.fixture(autouse=True)
def _local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers listen on 127.0.0.1, where a mesh sends no webhook by default: allow
    that address, and only it, explicitly (every mesh and worker these tests start reads it;
    ``test_webhook_policy.py`` removes it)."""
    monkeypatch.setenv(ENV_WEBHOOK_ALLOWED_HOSTS, "127.0.0.1")
