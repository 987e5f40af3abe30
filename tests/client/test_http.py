"""The SDK's HTTP transport over a real socket (urllib3's pool): error mapping, request
encoding, proxies from the environment, and one connection shared by many threads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import meshlake
import meshlake.client
from meshlake.client.http import HttpTransport


class _Stub(BaseHTTPRequestHandler):
    """Answers by path; records every request line and its headers."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, dict(self.headers.items()), body))
        path = self.path.split("?")[0].removeprefix("http://upstream.test")
        if path == "/v1/denied":
            self._send(403, {"error": {"type": "access_denied", "message": "no", "why": "x"}})
        elif path == "/v1/gateway":
            self._send(502, b"<html>bad gateway</html>", "text/html")
        elif path == "/v1/empty":
            self._send(204, b"")
        else:
            self._send(200, {"path": self.path, "body": body.decode()})

    do_GET = do_POST = do_DELETE = _answer

    def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Meshlake-Echo", "yes")
        self.end_headers()
        if status != 204:
            self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    _Stub.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_requests_carry_the_token_json_and_query_parameters(stub: str) -> None:
    http = HttpTransport(stub, "mlk_t")
    body = http.json("POST", "/v1/echo", json={"a": [1, None]}, params={"x": True, "n": None})
    assert body["path"] == "/v1/echo?x=true" and json.loads(body["body"]) == {"a": [1, None]}
    method, _, headers, _ = _Stub.seen[-1]
    assert method == "POST" and headers["Authorization"] == "Bearer mlk_t"
    assert headers["Content-Type"] == "application/json"
    reply = http.call("GET", "/v1/echo", accept="application/vnd.apache.arrow.stream")
    assert reply.headers["x-meshlake-echo"] == "yes"  # header names are case-insensitive
    assert _Stub.seen[-1][2]["Accept"] == "application/vnd.apache.arrow.stream"
    assert http.json("DELETE", "/v1/empty") is None
    http.close()


def test_error_answers_raise_their_classes(stub: str) -> None:
    http = HttpTransport(stub, "mlk_t")
    with pytest.raises(meshlake.AccessDeniedError, match="no") as denied:
        http.call("GET", "/v1/denied")
    assert denied.value.details == {"why": "x"}
    with pytest.raises(meshlake.MeshError, match="answered 502 without a meshlake error"):
        http.call("GET", "/v1/gateway")


def test_no_answer_is_a_storage_error_naming_the_server() -> None:
    remote = meshlake.connect("http://127.0.0.1:1", token="mlk_x")
    with pytest.raises(meshlake.StorageError) as err:
        _ = remote.principal
    assert err.value.details == {"reason": "unreachable", "server": "http://127.0.0.1:1"}
    assert str(err.value).startswith("cannot reach the meshlake server at http://127.0.0.1:1: ")
    assert "HTTPConnection(" not in str(err.value)
    remote.close()


def test_proxies_come_from_the_environment(stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("no_proxy", "NO_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", stub)
    http = HttpTransport("http://upstream.test", "mlk_t")
    http.json("GET", "/v1/echo")
    assert _Stub.seen[-1][1] == "http://upstream.test/v1/echo"  # the proxy got the full URL
    http.close()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = HttpTransport(stub, "mlk_t")
    direct.json("GET", "/v1/echo")
    assert _Stub.seen[-1][1] == "/v1/echo"
    direct.close()


def test_threads_share_one_transport(stub: str) -> None:
    http = HttpTransport(stub, "mlk_t")
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                got = http.json("POST", "/v1/echo", json={"i": i, "j": j})
                assert json.loads(got["body"]) == {"i": i, "j": j}
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(_Stub.seen) == 160
    http.close()


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        remote = meshlake.client.connect(url, token="mlk_x", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(meshlake.StorageError, match="timed out") as err:
            _ = remote.principal
        assert time.monotonic() - started < 5
        assert err.value.details["reason"] == "unreachable"
        remote.close()


def test_the_sdk_loads_no_httpx() -> None:
    code = "import sys, meshlake.client; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
