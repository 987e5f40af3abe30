"""Fixtures of the events tests: a small mesh with a producer and a consumer, and a local
webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import meshlake
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


def start_receiver(rec: Receiver) -> ThreadingHTTPServer:
    """Serve ``rec`` on a free port of 127.0.0.1 in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(rec.handle(self.headers, body))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    """Make running :class:`Receiver` endpoints (stopped after the test)."""
    servers: list[ThreadingHTTPServer] = []

    def make() -> Receiver:
        rec = Receiver()
        servers.append(start_receiver(rec))
        return rec

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _worker_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests deliver explicitly (``session.events.deliver()``), not in the background."""
    monkeypatch.setenv(DISPATCH_ENV, "worker")
