"""Where webhooks may go: refused at subscription and again before every delivery (loopback,
private, link-local ... addresses in every spelling; names resolving there; DNS answers that
change; redirects), allowed only where the operator says."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.events.conftest import Receiver, setup_accounts

import meshlake
from meshlake import Database, InvalidInputError
from meshlake.config import ENV_WEBHOOK_ALLOWED_HOSTS, load_settings
from meshlake.events import webhook
from meshlake.events.cloud import EventRecord
from meshlake.events.destinations import WebhookPolicy, parse_entry
from meshlake.events.webhook import post_event
from meshlake.service.events import dispatcher

#: The fake DNS: host name -> its answers, one per lookup (the last one stays); an answer
#: is one address or several, comma-separated.
Answers = dict[str, list[str]]


@pytest.fixture(autouse=True)
def _default_policy(_local_receivers: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests configure the policy themselves: start from the default."""
    monkeypatch.delenv(ENV_WEBHOOK_ALLOWED_HOSTS)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Answers:
    """A fake DNS for names ending in ``.test``, beneath *every* caller of
    ``socket.getaddrinfo`` (the policy and any HTTP client alike)."""
    answers: Answers = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".test"):
            return real(host, port, *args, **kwargs)
        queue = answers.get(name)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        out = []
        for address in answer.split(","):
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _mesh(tmp_path: Path, allowed: list[str] | None = None) -> meshlake.Mesh:
    mesh = meshlake.connect(tmp_path / "home", webhook_allowed_hosts=allowed)
    dispatcher(mesh.runtime, base_delay_s=0.0, max_attempts=2, timeout_s=2.0)
    return mesh


# ---------------------------------------------------------------------- at subscription
#: (URL, allow-list entries that admit it (comma-separated), or None: never allowed)
ATTACKS: list[tuple[str, str | None]] = [
    ("http://127.0.0.1:5432/", "127.0.0.1"),
    ("http://127.8.9.10/", "127.0.0.0/8"),
    ("http://[::1]:8080/admin", "::1"),
    ("http://0.0.0.0:22/", "0.0.0.0"),
    ("http://[::]/", "::"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://10.1.2.3/", "10.0.0.0/8"),
    ("http://172.16.5.4:9200/", "172.16.0.0/12"),
    ("http://172.31.255.255/", "172.16.0.0/12:80"),
    ("http://192.168.1.10/", "192.168.0.0/16"),
    ("http://100.64.0.1/", "100.64.0.0/10"),
    ("http://224.0.0.251/", "224.0.0.0/4"),
    ("http://[fc00::1]/", "fc00::/7"),
    ("http://[fd12:3456::1]/", "[fc00::]/7"),
    ("http://[fe80::1]/", "fe80::/10"),
    ("http://[ff02::1]/", "ff00::/8"),
    ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
    ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254"),
    ("http://[2002:7f00:1::]/", "2002::/16"),
    ("http://[64:ff9b::a00:1]/", "64:ff9b::/96"),
    ("http://localhost:8470/", "localhost"),
    ("https://localhost/", "https://localhost:443"),
    ("http://internal.test/", "internal.test"),
    ("http://db.corp.test:5432/", "*.corp.test:5432"),
    ("http://mixed.test/", "public,10.9.9.9"),  # one public and one private address
    ("http://2130706433/", None),
    ("http://0x7f.1/", None),
    ("http://0x7f000001/", None),
    ("http://127.1/", None),
    ("http://0177.0.0.1/", None),
    ("http://017700000001/", None),
    ("http://1.2.3.4.5/", None),
    ("http://[127.0.0.1]/", None),
    ("http://[fe80::1%25eth0]/", None),
    ("file:///etc/passwd", None),
    ("gopher://127.0.0.1:70/_", None),
    ("ftp://8.8.8.8/", None),
    ("dict://127.0.0.1:11211/", None),
    ("http:///path-only", None),
    ("http://user:pass@8.8.8.8/", None),
    ("http://8.8.8.8@127.0.0.1/", None),
    ("http://evil.test\\@127.0.0.1/", None),
    ("http://8.8.8.8/\r\nX-Injected: 1", None),
    ("http://8.8.8.8:0/", None),
    ("http://8.8.8.8:99999/", None),
    ("http://8.8.8.8/" + "a" * 2048, None),
]


def _resolving(dns: Answers) -> None:
    dns["internal.test"] = ["10.20.30.40"]
    dns["db.corp.test"] = ["192.168.7.7"]
    dns["mixed.test"] = ["93.184.215.14,10.9.9.9"]
    dns["evil.test"] = ["127.0.0.1"]
    dns["hooks.test"] = ["93.184.215.14"]


def test_attack_urls_are_refused_at_subscription_and_change_nothing(
    tmp_path: Path, dns: Answers
) -> None:
    _resolving(dns)
    mesh = _mesh(tmp_path)
    owner = setup_accounts(mesh)["owner"]
    audited = len(mesh.bootstrap().audit())
    for url, _entry in [*ATTACKS, ("http://evil.test:8080/", None)]:
        with pytest.raises(InvalidInputError) as refused:
            owner.events.subscribe(type="grant.*", url=url)
        assert "refused" in refused.value.message or "webhook URL" in refused.value.message
    assert owner.events.subscriptions() == []
    assert len(mesh.bootstrap().audit()) == audited  # nothing written, nothing audited
    # what a principal may still do: a public address, a name resolving to public ones
    owner.events.subscribe(type="grant.*", url="https://8.8.8.8/hook")
    owner.events.subscribe(type="grant.*", url="http://hooks.test:8080/mesh?x=1")
    assert len(owner.events.subscriptions()) == 2
    mesh.close()


def test_refusals_say_why_and_how_to_allow(tmp_path: Path, dns: Answers) -> None:
    _resolving(dns)
    policy = WebhookPolicy()
    cases = {
        "http://169.254.169.254/": "169.254.169.254 is a link-local address",
        "http://[::ffff:127.0.0.1]/": "(127.0.0.1) is a loopback address",
        "http://[::]/": "is an unspecified address",
        "http://10.0.0.1/": "is a private address",
        "http://224.0.0.1/": "is a multicast address",
        "http://100.64.0.1/": "is not a public address",
    }
    for url, why in cases.items():
        with pytest.raises(InvalidInputError) as refused:
            policy.check(url)
        assert why in refused.value.message
        assert "public addresses only" in refused.value.message
        assert ENV_WEBHOOK_ALLOWED_HOSTS in refused.value.message
    # a name never tells what it resolved to (no probing the internal DNS through errors)
    messages = set()
    for url in ("http://evil.test/", "http://internal.test/", "http://nowhere.test/"):
        with pytest.raises(InvalidInputError) as refused:
            policy.check(url)
        messages.add(refused.value.message.replace(url, "URL").split(":", 1)[1])
        assert "127.0.0.1" not in refused.value.message
        assert "10.20.30.40" not in refused.value.message
    assert len({m.split(" does not", 1)[1] for m in messages}) == 1
    with pytest.raises(InvalidInputError, match="credentials"):
        policy.check("http://user:pass@8.8.8.8/")
    with pytest.raises(InvalidInputError, match="non-canonical"):
        policy.check("http://0x7f.1/")
    with pytest.raises(InvalidInputError, match="2048"):
        policy.check("http://8.8.8.8/" + "a" * 2048)


@pytest.mark.parametrize(("url", "entries"), [a for a in ATTACKS if a[1] is not None])
def test_each_destination_is_allowed_when_configured(url: str, entries: str, dns: Answers) -> None:
    _resolving(dns)
    with pytest.raises(InvalidInputError):
        WebhookPolicy().check(url)
    allowed = entries.split(",")
    target = WebhookPolicy.of(allowed).check(url)
    assert target.addresses  # the addresses a delivery will connect to
    assert WebhookPolicy.of([*allowed, "public"]).check(url) == target
    if "public" not in allowed:  # the list replaces the default: public addresses are out
        with pytest.raises(InvalidInputError):
            WebhookPolicy.of(allowed).check("http://8.8.8.8/")


def test_allowed_destinations_through_the_session(tmp_path: Path, dns: Answers) -> None:
    _resolving(dns)
    mesh = _mesh(tmp_path, ["127.0.0.1", "10.0.0.0/8:8443", "internal.test"])
    owner = setup_accounts(mesh)["owner"]
    for url in ("http://127.0.0.1:9/h", "https://10.1.1.1:8443/h", "http://internal.test/h"):
        assert owner.events.subscribe(type="grant.*", url=url).url == url
    for url in ("https://10.1.1.1/h", "http://8.8.8.8/h"):  # another port; public is off
        with pytest.raises(InvalidInputError, match="operator allowed only"):
            owner.events.subscribe(type="grant.*", url=url)
    evil = "http://evil.test/h"  # resolves to 127.0.0.1, which this list allows
    assert owner.events.subscribe(type="grant.*", url=evil).url == evil
    assert len(owner.events.subscriptions()) == 4
    mesh.close()


def test_entries_narrow_by_port_scheme_and_name() -> None:
    hooks = WebhookPolicy.of(["https://hooks.test:8443", "[fd00::]/8:9000"])
    resolver = lambda _h, _p: ["fd00::5"]  # noqa: E731
    assert hooks.check("https://hooks.test:8443/x", resolver).addresses == ("fd00::5",)
    for url in ("http://hooks.test:8443/x", "https://hooks.test/x", "https://a.hooks.test:8443"):
        with pytest.raises(InvalidInputError):
            hooks.check(url, resolver)
    assert hooks.check("http://[fd00::1]:9000/", resolver).addresses == ("fd00::1",)
    with pytest.raises(InvalidInputError):
        hooks.check("http://[fd00::1]:9001/", resolver)
    wildcard = WebhookPolicy.of(["*.corp.test"])
    assert wildcard.check("http://a.b.corp.test/", resolver)
    for url in ("http://corp.test/", "http://xcorp.test/"):
        with pytest.raises(InvalidInputError):
            wildcard.check(url, resolver)


def test_configuration_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(tmp_path).webhook_allowed_hosts is None
    assert WebhookPolicy.of(None).public_only
    monkeypatch.setenv(ENV_WEBHOOK_ALLOWED_HOSTS, " public , 127.0.0.1:9000 ,")
    assert load_settings(tmp_path).webhook_allowed_hosts == ("public", "127.0.0.1:9000")
    mesh = meshlake.connect(tmp_path / "a")
    assert mesh.runtime.webhooks.check("http://127.0.0.1:9000/").addresses == ("127.0.0.1",)
    assert dispatcher(mesh.runtime).policy is mesh.runtime.webhooks  # delivery checks the same
    mesh.close()
    monkeypatch.setenv(ENV_WEBHOOK_ALLOWED_HOSTS, "")  # set but empty: nowhere
    nowhere = meshlake.connect(tmp_path / "b")
    owner = setup_accounts(nowhere)["owner"]
    with pytest.raises(InvalidInputError, match="no destination at all"):
        owner.events.subscribe(type="grant.*", url="https://8.8.8.8/")
    owner.events.subscribe(type="grant.*")  # the inbox needs no destination
    nowhere.close()
    for bad in ("10.1.2.3/8", "ftp://x", "127.1", "[::1", "h:99999", "a b", "[10.0.0.1]"):
        with pytest.raises(InvalidInputError, match="webhook_allowed_hosts entry"):
            parse_entry(bad)
    with pytest.raises(InvalidInputError, match="webhook_allowed_hosts entry"):
        meshlake.connect(tmp_path / "c", webhook_allowed_hosts=["10.0.0.0/33"])


def test_a_server_passes_the_policy_to_its_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshlake.server.app import _export

    for variable in ("HOME", "CATALOG_URL", "WAREHOUSE", "ALLOWED_ROOTS", "WEBHOOK_ALLOWED_HOSTS"):
        monkeypatch.setenv(f"MESHLAKE_{variable}", "")  # restored after the test
    _export(load_settings(tmp_path, webhook_allowed_hosts=["127.0.0.1", "10.0.0.0/8"]))
    assert load_settings(tmp_path).webhook_allowed_hosts == ("127.0.0.1", "10.0.0.0/8")
    _export(load_settings(tmp_path, webhook_allowed_hosts=[]))
    assert load_settings(tmp_path).webhook_allowed_hosts == ()
    monkeypatch.delenv(ENV_WEBHOOK_ALLOWED_HOSTS)
    _export(load_settings(tmp_path))
    assert load_settings(tmp_path).webhook_allowed_hosts is None  # the default: public only


# ---------------------------------------------------------------------- at delivery
def test_a_name_that_now_resolves_to_loopback_is_not_sent_to(
    tmp_path: Path, dns: Answers, receivers: Callable[..., Receiver]
) -> None:
    rec = receivers()  # listening on 127.0.0.1, which this mesh does not allow
    port = rec.url.rsplit(":", 1)[1].split("/")[0]
    dns["hooks.test"] = ["93.184.215.14"]  # public when subscribed
    mesh = _mesh(tmp_path)
    owner = setup_accounts(mesh)["owner"]
    owner.events.subscribe(type="grant.*", url=f"http://hooks.test:{port}/hook")
    dns["hooks.test"] = ["127.0.0.1"]  # ... then the name points at the mesh's own host
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    for _ in range(3):
        owner.events.deliver()
    assert rec.posts == []  # never sent
    (dead,) = owner.events.dead_letters()
    assert dead["attempts"] == 2  # failed like an unreachable endpoint, then dead-lettered
    assert dead["last_error"].startswith("not sent: webhook URL")
    assert "does not resolve, or resolves to an address" in dead["last_error"]
    # the operator allows the address: the replayed delivery goes out
    mesh.close()
    mesh = _mesh(tmp_path, ["127.0.0.1"])
    owner = mesh.session("central/admin")
    assert owner.events.replay() == 1
    owner.events.deliver()
    assert [p["type"] for p in rec.posts] == ["grant.created"]
    assert rec.hosts == [f"hooks.test:{port}"]  # the name, though sent to the checked address
    mesh.close()


def test_a_delivery_connects_to_the_address_it_checked(
    tmp_path: Path, dns: Answers, receivers: Callable[..., Receiver]
) -> None:
    allowed = receivers(host="127.0.0.1")
    port = int(allowed.url.rsplit(":", 1)[1].split("/")[0])
    elsewhere = receivers(host="127.0.0.2", port=port)  # same port, an address not allowed
    mesh = _mesh(tmp_path, ["127.0.0.1"])
    owner = setup_accounts(mesh)["owner"]
    # subscription check, delivery check: 127.0.0.1; any later lookup: 127.0.0.2 (rebinding)
    dns["rebind.test"] = ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
    owner.events.subscribe(type="grant.*", url=f"http://rebind.test:{port}/hook")
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    owner.events.deliver()
    assert [p["type"] for p in allowed.posts] == ["grant.created"]
    assert elsewhere.posts == []
    assert {d["state"] for d in owner.events.deliveries()} == {"delivered"}
    mesh.close()


class _Redirector(BaseHTTPRequestHandler):
    """Answers every request with ``status`` and ``Location: location``; records requests
    of any method in ``seen``."""

    status = 302
    location = ""
    seen: list[tuple[str, str]] = []

    def _any(self) -> None:
        self.seen.append((self.command, self.path))
        if self.location:
            self.send_response(self.status)
            self.send_header("Location", self.location)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = _any

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirects() -> Iterator[Callable[[int, str], tuple[str, list[tuple[str, str]]]]]:
    """Start a server on 127.0.0.1 answering ``status`` with a ``Location``; yields its URL
    and the requests it saw."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, location: str) -> tuple[str, list[tuple[str, str]]]:
        handler = type("Handler", (_Redirector,), {"status": status, "location": location})
        handler.seen = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/hook", handler.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _record() -> EventRecord:
    now = dt.datetime.now(dt.UTC)
    return EventRecord(1, "e-1", "grant.created", "/grants/a", 1, "s", now, "a/b", {})


def test_redirects_are_never_followed(
    tmp_path: Path, redirects: Callable[[int, str], tuple[str, list[tuple[str, str]]]]
) -> None:
    inside_url, inside = redirects(200, "")  # the loopback place a redirect points at
    inside_port = inside_url.rsplit(":", 1)[1].split("/")[0]
    for status in (301, 302, 303, 307, 308):
        url, seen = redirects(status, inside_url)
        port = url.rsplit(":", 1)[1].split("/")[0]
        policy = WebhookPolicy.of([f"127.0.0.1:{port}"])  # the redirector's port only
        result = post_event(url, "s", _record(), timeout_s=2, policy=policy)
        assert not result.ok and result.status == status
        assert (result.error or "").startswith(f"HTTP {status} (redirects are not followed")
        assert seen == [("POST", "/hook")]
        # even where the policy would allow the redirect's target, it is not followed
        both = WebhookPolicy.of(["127.0.0.1"])
        assert not post_event(url, "s", _record(), timeout_s=2, policy=both).ok
    assert inside == []
    # the same through a mesh: a failed delivery, dead after its attempts
    url, seen = redirects(302, f"http://127.0.0.1:{inside_port}/")
    port = url.rsplit(":", 1)[1].split("/")[0]
    mesh = _mesh(tmp_path, [f"127.0.0.1:{port}"])
    owner = setup_accounts(mesh)["owner"]
    owner.events.subscribe(type="grant.*", url=url)
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    for _ in range(3):
        owner.events.deliver()
    (dead,) = owner.events.dead_letters()
    assert dead["last_error"].startswith("HTTP 302 (redirects are not followed")
    assert inside == [] and len(seen) == 2
    mesh.close()


def test_a_refused_url_already_stored_is_not_sent(
    tmp_path: Path, receivers: Callable[..., Receiver]
) -> None:
    """A subscription stored before the policy (or under a looser one) is held to the
    policy the sending process has now."""
    rec = receivers()
    mesh = _mesh(tmp_path, ["127.0.0.1"])
    owner = setup_accounts(mesh)["owner"]
    owner.events.subscribe(type="grant.*", url=rec.url)
    mesh.close()
    strict = _mesh(tmp_path)  # the default: public addresses only
    owner = strict.session("central/admin")
    owner.grant("consumer/analyst", Database("sales"), ["DESCRIBE"])
    for _ in range(3):
        owner.events.deliver()
    assert rec.posts == []
    (dead,) = owner.events.dead_letters()
    assert "127.0.0.1 is a loopback address" in dead["last_error"]
    strict.close()


# ---------------------------------------------------------------------- TLS
def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (and its key), as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_to_a_checked_address_still_verifies_the_name(
    tmp_path: Path,
    dns: Answers,
    receivers: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = _certificate(tmp_path, "hooks.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    rec = receivers(tls=server_tls)
    port = rec.url.rsplit(":", 1)[1].split("/")[0]
    client_tls = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(webhook, "_tls_context", lambda: client_tls)
    dns["hooks.test"] = ["127.0.0.1"]
    dns["impostor.test"] = ["127.0.0.1"]
    policy = WebhookPolicy.of(["127.0.0.1"])
    sent = post_event(
        f"https://hooks.test:{port}/hook", None, _record(), timeout_s=5, policy=policy
    )
    assert sent.ok, sent.error
    assert rec.hosts == [f"hooks.test:{port}"]
    # the same address under a name the certificate does not carry: refused by TLS
    other = post_event(
        f"https://impostor.test:{port}/hook", None, _record(), timeout_s=5, policy=policy
    )
    assert not other.ok and "CERTIFICATE_VERIFY_FAILED" in (other.error or "")
    assert len(rec.posts) == 1


def test_every_checked_address_is_tried_in_turn(
    dns: Answers, receivers: Callable[..., Receiver]
) -> None:
    rec = receivers()
    port = rec.url.rsplit(":", 1)[1].split("/")[0]
    dns["two.test"] = ["127.0.0.2,127.0.0.1"]  # nothing listens on the first one
    policy = WebhookPolicy.of(["127.0.0.0/8"])
    assert policy.check(f"http://two.test:{port}/").addresses == ("127.0.0.2", "127.0.0.1")
    sent = post_event(f"http://two.test:{port}/hook", None, _record(), timeout_s=2, policy=policy)
    assert sent.ok, sent.error
    assert len(rec.posts) == 1
    dns["two.test"] = ["127.0.0.2"]
    failed = post_event(f"http://two.test:{port}/hook", None, _record(), timeout_s=2, policy=policy)
    assert not failed.ok and "ConnectionRefusedError" in (failed.error or "")


def test_a_slow_name_lookup_counts_as_not_resolving(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshlake.events import destinations

    monkeypatch.setattr(destinations, "RESOLVE_TIMEOUT_S", 0.2)
    gate = threading.Event()

    def stuck(*_args: Any, **_kwargs: Any) -> list[Any]:  # a name server that never answers
        gate.wait(10)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    started = time.monotonic()
    try:
        with pytest.raises(OSError, match="longer than"):
            destinations.resolve("slow.example", 443)
        with pytest.raises(InvalidInputError, match="does not resolve"):
            WebhookPolicy.of(None).check("https://slow.example/hook")
        assert time.monotonic() - started < 3
    finally:
        gate.set()
