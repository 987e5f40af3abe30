"""``meshlake serve`` as a real process on 127.0.0.1, used through the SDK."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

import meshlake

from .serving import serve_process
from .world import build_world


def test_serve_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    build_world(mesh)
    token = mesh.session("p/admin").tokens.create("p/u", "1h").token
    mesh.close()
    unset = {"MESHLAKE_ALLOWED_ROOTS": None, "MESHLAKE_WEBHOOK_ALLOWED_HOSTS": None}
    with serve_process(home, env=unset) as (url, _):
        remote = meshlake.connect(url, token=token)
        analyst = remote.session()
        assert analyst.principal == "p/u"
        result = analyst.query("SELECT id, amount FROM sales.orders ORDER BY id")
        assert result.rows() == [(1, 10.0), (3, 30.0)]
        with pytest.raises(meshlake.NotFoundError):
            analyst.query("SELECT ssn FROM sales.orders")
        with pytest.raises(meshlake.InvalidInputError):  # the server allows no folder
            remote.session().catalog.create_database("x", location=str(tmp_path))
        with pytest.raises(meshlake.InvalidInputError, match="public addresses only"):
            analyst.events.subscribe(type="table.*", url=f"{url}/v1/session")  # its own port
        assert analyst.events.subscriptions() == []
        remote.close()
        with pytest.raises(meshlake.AuthenticationError):
            meshlake.connect(url, token="mlk_0000000000000000_" + "x" * 43).session()
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "meshlake"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_serve_options_https_roots_webhooks_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    mesh = meshlake.connect(home)
    build_world(mesh)
    admin_token = mesh.session("root").tokens.create("p/admin", "1h").token
    mesh.close()
    landing = tmp_path / "landing"
    landing.mkdir()
    cert, key = _self_signed(tmp_path)
    args = [
        *("--allowed-root", str(landing), "--webhook-allowed-host", "127.0.0.1"),
        *("--query-threads", "1", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)),
    ]

    def ready(_proc: object, base: str) -> bool:
        try:
            return httpx.get(f"{base}/health", verify=str(cert), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    unset = {"MESHLAKE_ALLOWED_ROOTS": None, "MESHLAKE_WEBHOOK_ALLOWED_HOSTS": None}
    with serve_process(home, args=args, env=unset, ready=ready, scheme="https") as (url, _):
        # an unknown certificate authority: no answer is trusted
        with pytest.raises(meshlake.StorageError, match="CERTIFICATE_VERIFY_FAILED"):
            _ = meshlake.connect(url, token=admin_token).principal
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the standard OpenSSL variable
        with meshlake.connect(url, token=admin_token) as remote:
            admin = remote.session()
            assert admin.query("SELECT count(*) AS n FROM sales.orders").rows() == [(3,)]
            admin.catalog.create_database("landed", location=str(landing / "db"))
            with pytest.raises(meshlake.InvalidInputError):  # outside --allowed-root
                admin.catalog.create_database("stray", location=str(tmp_path / "elsewhere"))
            hook = admin.events.subscribe(type="table.*", url="http://127.0.0.1:9/hook")
            assert hook.url == "http://127.0.0.1:9/hook"  # --webhook-allowed-host
        with pytest.raises(meshlake.StorageError, match="cannot reach"):
            _ = meshlake.connect(url.replace("https", "http"), token=admin_token).principal


def test_serve_passes_its_options_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from meshlake.config import ENV_QUERY_THREADS, load_settings
    from meshlake.server.app import serve

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setenv(ENV_QUERY_THREADS, "")  # none set; restored afterwards
    settings = load_settings(tmp_path / "home", allowed_roots=[])
    serve(
        settings,
        host="127.0.0.1",
        port=8471,
        query_threads=3,
        forwarded_allow_ips="10.0.0.7",
        ssl_certfile="c.pem",
        ssl_keyfile="k.pem",
    )
    assert calls == [
        {
            "host": "127.0.0.1",
            "port": 8471,
            "log_level": "warning",
            "forwarded_allow_ips": "10.0.0.7",
            "ssl_certfile": "c.pem",
            "ssl_keyfile": "k.pem",
        }
    ]
    assert os.environ[ENV_QUERY_THREADS] == "3"  # the workers' engines read it
    with pytest.raises(meshlake.InvalidInputError, match="both"):
        serve(settings, host="127.0.0.1", port=8471, ssl_certfile="c.pem")
    monkeypatch.setenv(ENV_QUERY_THREADS, "many")
    with pytest.raises(meshlake.InvalidInputError, match="MESHLAKE_QUERY_THREADS"):
        serve(settings, host="127.0.0.1", port=8471)
    assert len(calls) == 1
