"""``meshlake audit``: the newest events as the API returns them, checkpoints, verify."""

from __future__ import annotations

import json
import sqlite3

import pytest

import meshlake
from meshlake.audit.anchor import ENV_AUDIT_KEY

from .runner import Cli


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_AUDIT_KEY, raising=False)


def _api_seqs(cli: Cli, principal: str = "root", **query: int) -> list[int]:
    with meshlake.connect(cli.home) as mesh:
        return [e.seq for e in mesh.session(principal).audit(**query)]  # type: ignore[arg-type]


def test_list_shows_the_newest_events_like_the_api(mesh_cli: Cli) -> None:
    every = [e["seq"] for e in mesh_cli.json("audit", "list", "--limit", "0")]
    assert every == _api_seqs(mesh_cli) and len(every) > 3
    newest = [e["seq"] for e in mesh_cli.json("audit", "list", "--limit", "3")]
    assert newest == every[-3:] == _api_seqs(mesh_cli, limit=3)
    back = [
        e["seq"] for e in mesh_cli.json("audit", "list", "--limit", "2", "--before", str(newest[0]))
    ]
    assert back == every[-5:-3] == _api_seqs(mesh_cli, limit=2, before_seq=newest[0])
    on = [
        e["seq"] for e in mesh_cli.json("audit", "list", "--limit", "2", "--after", str(every[0]))
    ]
    assert on == every[1:3] == _api_seqs(mesh_cli, limit=2, after_seq=every[0])
    admin = [e["seq"] for e in mesh_cli.json("audit", "list", "--limit", "2", as_="consumer/admin")]
    assert admin == _api_seqs(mesh_cli, "consumer/admin", limit=2)


def test_list_tells_how_to_page_back(mesh_cli: Cli) -> None:
    result = mesh_cli("audit", "list", "--limit", "2")
    first = mesh_cli.json("audit", "list", "--limit", "2")[0]["seq"]
    assert f"meshlake audit list --before {first}" in result.stderr


def test_checkpoint_then_verify(mesh_cli: Cli) -> None:
    cp = mesh_cli.json("audit", "checkpoint")
    assert cp["seq"] == mesh_cli.json("audit", "list", "--limit", "1")[0]["seq"]
    assert (mesh_cli.home / "audit-digests" / cp["file"]).exists()
    again = mesh_cli("audit", "checkpoint")
    assert f"checkpoint {cp['number']} anchors event {cp['seq']}" in again.stdout
    result = mesh_cli("audit", "verify")
    assert "the audit log is intact" in result.stdout and "signed checkpoints" in result.stdout
    mesh_cli("account", "create", "later")
    result = mesh_cli("audit", "verify")
    assert "1 events after the last checkpoint" in result.stderr
    report = mesh_cli.json("audit", "verify")
    assert report["ok"] and report["unanchored"] == 1 and report["checkpoint_seq"] == cp["seq"]
    mesh_cli("audit", "checkpoint", as_="consumer/analyst", code=1)


def test_verify_fails_on_a_cut_tail(mesh_cli: Cli) -> None:
    mesh_cli("audit", "checkpoint")
    with sqlite3.connect(mesh_cli.home / "catalog.db") as db:
        (last,) = db.execute("SELECT max(seq) FROM ml_audit").fetchone()
        db.execute("DELETE FROM ml_audit WHERE seq = ?", (last,))
        (head,) = db.execute("SELECT hash FROM ml_audit WHERE seq = ?", (last - 1,)).fetchone()
        db.execute("UPDATE ml_meta SET value = ? WHERE key = 'audit_head'", (head,))
    result = mesh_cli("audit", "verify", code=1)
    assert "events were deleted from the tail" in result.stderr
    report = json.loads(mesh_cli("audit", "verify", json_mode=True, code=1).stdout)
    assert report["kind"] == "truncated"
