"""Bearer tokens: who may manage them, hashes only, expiry and revocation refused at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

import meshlake
from meshlake.catalog.token_models import TokenRow
from meshlake.cli import app
from meshlake.server import create_app
from meshlake.service.tokens import authenticate, parse_ttl

from .world import build_world


@pytest.fixture
def world(tmp_path: Path, backend_url: str | None) -> Iterator[meshlake.Mesh]:
    """The small world on each catalog backend (tokens live in the store)."""
    mesh = meshlake.connect(tmp_path / "home", catalog_url=backend_url, allowed_roots=[])
    build_world(mesh)
    yield mesh
    mesh.close()


@pytest.fixture
def client(world: meshlake.Mesh) -> TestClient:
    """An HTTP client of the world's server, without a token."""
    return TestClient(create_app(world))


def test_admins_manage_their_accounts_tokens_root_all(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    new = admin.tokens.create("p/u", "2h", description="notebook")
    assert new.token.startswith(f"mlk_{new.info.id}_")
    assert new.info.principal == "p/u" and new.info.active
    assert timedelta(hours=1, minutes=59) < new.info.expires_at - new.info.created_at
    with pytest.raises(meshlake.AccessDeniedError):
        admin.tokens.create("c/u")  # another account's principal
    with pytest.raises(meshlake.AccessDeniedError):
        world.session("p/u").tokens.create("p/u")  # not an admin
    with pytest.raises(meshlake.AccessDeniedError):
        admin.tokens.create("root")
    with pytest.raises(meshlake.NotFoundError):
        admin.tokens.create("p/ghost")
    with pytest.raises(meshlake.InvalidInputError):
        admin.tokens.create("p")  # an account is not one principal
    other = world.session("root").tokens.create("c/u")
    assert [t.id for t in admin.tokens.list()] == [new.info.id]
    assert {t.id for t in world.session("root").tokens.list()} == {new.info.id, other.info.id}
    assert world.session("c/admin").tokens.list() == [other.info]
    with pytest.raises(meshlake.NotFoundError):  # rule 0: another account's token is not there
        admin.tokens.revoke(other.info.id)
    assert admin.tokens.revoke(new.info.id).revoked_by == "p/admin"


def test_only_the_hash_is_stored_and_audit_never_holds_the_token(world: meshlake.Mesh) -> None:
    root = world.session("root")
    new = root.tokens.create("p/u")
    root.tokens.revoke(new.info.id)
    secret = new.token.split("_", 2)[2]  # mlk_<id>_<secret>; the secret may hold "_"
    with world.runtime.store.read() as session:
        row = session.get(TokenRow, new.info.id)
        assert row is not None and row.token_hash != new.token and secret not in row.token_hash
    events = [e.to_dict() for e in root.audit()]
    actions = [e["action"] for e in events]
    assert actions[-2:] == ["create_token", "revoke_token"]
    assert all(secret not in str(e) for e in events)


def test_ttl_forms() -> None:
    assert parse_ttl("30d") == timedelta(days=30)
    assert parse_ttl(None) == timedelta(days=30)
    for bad in ("0s", "-1d", "soon", "400d", True):
        with pytest.raises(meshlake.InvalidInputError):
            parse_ttl(bad)


def test_expired_and_revoked_tokens_are_refused_at_once(
    world: meshlake.Mesh, client: TestClient
) -> None:
    root = world.session("root")
    live, doomed = root.tokens.create("p/u"), root.tokens.create("p/u")
    for t in (live, doomed):
        r = client.get("/v1/session", headers={"Authorization": f"Bearer {t.token}"})
        assert r.status_code == 200 and r.json()["principal"] == "p/u"
    root.tokens.revoke(doomed.info.id)
    r = client.get("/v1/session", headers={"Authorization": f"Bearer {doomed.token}"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthenticated"
    with world.runtime.store.transaction(bump=False) as session:  # the clock passes expiry
        session.execute(
            update(TokenRow)
            .where(TokenRow.id == live.info.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = client.get("/v1/session", headers={"Authorization": f"Bearer {live.token}"})
    assert r.status_code == 401
    assert not [t for t in root.tokens.list() if t.active]


def test_a_token_revoked_or_expired_by_another_process_is_refused_at_once(
    world: meshlake.Mesh, client: TestClient, tmp_path: Path, backend_url: str | None
) -> None:
    root = world.session("root")
    revoked, expired = root.tokens.create("p/u"), root.tokens.create("p/u")
    heads = {t.info.id: {"Authorization": f"Bearer {t.token}"} for t in (revoked, expired)}
    for h in heads.values():  # the server has read both tokens (its probe connection is open)
        assert client.get("/v1/session", headers=h).status_code == 200
    other = meshlake.connect(tmp_path / "home", catalog_url=backend_url)  # another process
    try:
        other.session("root").tokens.revoke(revoked.info.id)
        assert client.get("/v1/session", headers=heads[revoked.info.id]).status_code == 401
        with other.runtime.store.transaction(bump=False) as session:  # no version change
            session.execute(
                update(TokenRow)
                .where(TokenRow.id == expired.info.id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert client.get("/v1/session", headers=heads[expired.info.id]).status_code == 401
    finally:
        other.close()
    with pytest.raises(meshlake.AuthenticationError):
        authenticate(world.runtime, revoked.token)


def test_forged_and_malformed_tokens_are_refused(world: meshlake.Mesh) -> None:
    new = world.session("root").tokens.create("p/u")
    forged = new.token[:-4] + ("AAAA" if not new.token.endswith("AAAA") else "BBBB")
    for bad in (forged, "mlk_0123456789abcdef_" + "x" * 43, "", "Bearer", new.info.id):
        with pytest.raises(meshlake.AuthenticationError):
            authenticate(world.runtime, bad)
    assert authenticate(world.runtime, new.token) == "p/u"
    with world.runtime.store.read() as session:
        assert len(list(session.scalars(select(TokenRow)))) == 1


def test_token_cli(tmp_path: Path) -> None:

    home = str(tmp_path / "home")
    runner = CliRunner()

    def run(*args: str, both: bool = False) -> str:
        result = runner.invoke(app, ["--home", home, *args], env={"MESHLAKE_HOME": None})
        assert result.exit_code == 0, result.stdout + result.stderr
        return result.stdout + result.stderr if both else result.stdout

    run("init")
    run("account", "create", "p")
    run("principal", "create", "p/u")

    made = json.loads(run("--json", "token", "create", "--for", "p/u", "--ttl", "30d"))
    assert made["token"].startswith("mlk_") and made["principal"] == "p/u"
    human = run("token", "create", "--for", "p/u", "--ttl", "12h", both=True)
    assert "mlk_" in human and "cannot be shown again" in human
    listed = json.loads(run("--json", "token", "list"))
    assert len(listed) == 2 and all("token" not in t for t in listed)
    run("token", "revoke", made["id"])
    listed = json.loads(run("--json", "token", "list", "--for", "p/u"))
    assert [t["active"] for t in listed if t["id"] == made["id"]] == [False]
