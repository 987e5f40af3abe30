"""Signed checkpoints: what someone who can write the catalog database can no longer hide."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

import meshlake
from meshlake.audit.anchor import ENV_AUDIT_KEY, KEY_FILE

from .conftest import rehash_from, seqs


def _digests(mesh: meshlake.Mesh) -> list[Path]:
    return sorted(p for p in mesh.settings.digests_dir.iterdir() if not p.name.startswith("."))


def _sql(mesh: meshlake.Mesh, *statements: str) -> None:
    with mesh.runtime.store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_truncating_the_tail_and_rewriting_the_head_is_detected(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    root.checkpoint_audit()
    assert root.verify_audit().ok
    all_seqs = seqs(mesh)
    # delete the two newest events and make the head row name the new newest one
    _sql(mesh, f"DELETE FROM ml_audit WHERE seq > {all_seqs[-3]}")
    rehash_from(mesh, all_seqs[-1] + 1)  # touches no event: only the head row
    report = root.verify_audit()
    assert not report.ok
    assert report.kind == "truncated"
    assert f"ends at event {all_seqs[-3]}" in report.problem


def test_an_edit_with_every_later_hash_recomputed_is_detected(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    root.checkpoint_audit()
    third = seqs(mesh)[2]
    _sql(mesh, f"UPDATE ml_audit SET principal = 'p/mallory' WHERE seq = {third}")
    rehash_from(mesh, third)
    report = root.verify_audit()
    assert not report.ok and report.kind == "rewritten"
    assert "recomputed" in report.problem


def test_a_deletion_in_the_middle_rehashed_is_detected(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    root.checkpoint_audit()
    second = seqs(mesh)[1]
    _sql(mesh, f"DELETE FROM ml_audit WHERE seq = {second}")
    rehash_from(mesh, second)
    report = root.verify_audit()
    assert not report.ok and report.kind == "rewritten"


def test_events_after_the_last_checkpoint_are_not_anchored_and_verify_says_so(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    cp = root.checkpoint_audit()
    assert cp is not None
    root.accounts.create("q")
    root.accounts.create("r")
    report = root.verify_audit()
    assert report.ok and report.unanchored == 2 and report.checkpoint_seq == cp.seq
    assert "not anchored" in report.notes[0]
    # removing them (and fixing the head) goes unseen: the documented limit
    rehash_from(mesh, seqs(mesh)[-1] + 1)
    _sql(mesh, f"DELETE FROM ml_audit WHERE seq > {cp.seq}")
    rehash_from(mesh, cp.seq + 1)
    assert root.verify_audit().ok
    # a checkpoint anchors them: the next removal is seen
    root.accounts.create("s")
    root.checkpoint_audit()
    report = root.verify_audit()
    assert report.ok and report.unanchored == 0 and report.notes == ()


def test_digest_files_chain_and_are_never_rewritten(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    first = root.checkpoint_audit()
    assert first is not None
    before = {p.name: p.read_bytes() for p in _digests(mesh)}
    assert root.checkpoint_audit() == first, "nothing new: no new digest"
    root.accounts.create("q")
    second = root.checkpoint_audit()
    assert second is not None and second.number == first.number + 1
    files = _digests(mesh)
    assert {p.name: p.read_bytes() for p in files[:-1]} == before
    last = json.loads(files[-1].read_bytes())
    assert last["previous"] == {
        "file": files[-2].name,
        "sha256": hashlib.sha256(files[-2].read_bytes()).hexdigest(),
    }
    assert not os.access(files[-1], os.W_OK) or os.geteuid() == 0
    assert stat.S_IMODE(files[-1].stat().st_mode) == 0o444


def test_the_first_change_writes_the_first_checkpoint(mesh: meshlake.Mesh) -> None:
    mesh.bootstrap()
    (digest,) = _digests(mesh)
    assert json.loads(digest.read_bytes())["events"] == 1
    key = mesh.home / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_checkpoints_are_written_every_n_events(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    mesh.runtime.audit.anchor.every_events = 3  # type: ignore[union-attr]
    start = len(_digests(mesh))
    for name in ("a1", "a2", "a3", "a4", "a5", "a6"):
        root.accounts.create(name)
    assert len(_digests(mesh)) == start + 2
    report = root.verify_audit()
    assert report.ok and report.checkpoints == start + 2 and report.unanchored < 3


def test_a_tampered_digest_file_is_reported(mesh: meshlake.Mesh, root: meshlake.Session) -> None:
    root.checkpoint_audit()
    newest = _digests(mesh)[-1]
    doc = json.loads(newest.read_bytes())
    doc["seq"] -= 1
    newest.chmod(0o644)
    newest.write_text(json.dumps(doc))
    report = root.verify_audit()
    assert not report.ok and report.kind == "digest_tampered"
    assert newest.name in report.problem and "signature" in report.problem


def test_a_digest_signed_with_another_key_is_reported(
    mesh: meshlake.Mesh, root: meshlake.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_AUDIT_KEY, "a key the attacker chose")
    report = root.verify_audit()
    assert not report.ok and report.kind == "digest_tampered"
    assert "not the current key" in report.problem


def test_a_missing_digest_file_is_reported(mesh: meshlake.Mesh, root: meshlake.Session) -> None:
    root.checkpoint_audit()
    root.accounts.create("q")
    root.checkpoint_audit()
    files = _digests(mesh)
    files[-2].unlink()  # in the middle: the numbers have a gap
    report = root.verify_audit()
    assert not report.ok and report.kind == "digest_missing"
    files[-1].unlink()  # and the newest: the store's copy still names it
    report = root.verify_audit()
    assert not report.ok and report.kind == "digest_missing"


def test_deleting_every_digest_is_reported_while_the_key_file_exists(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    root.checkpoint_audit()
    _sql(mesh, "DELETE FROM ml_audit_checkpoints")
    for path in _digests(mesh):
        path.unlink()
    report = root.verify_audit()
    assert not report.ok and report.kind == "digest_missing"


def test_the_store_copy_is_not_trusted(mesh: meshlake.Mesh, root: meshlake.Session) -> None:
    """Rewriting the log and the store's copy of the checkpoints still fails verify."""
    root.checkpoint_audit()
    third = seqs(mesh)[2]
    _sql(mesh, f"UPDATE ml_audit SET action = 'nothing' WHERE seq = {third}")
    rehash_from(mesh, third)
    with mesh.runtime.store.engine.begin() as conn:
        head = conn.execute(text("SELECT hash FROM ml_audit ORDER BY seq DESC LIMIT 1")).scalar()
        conn.execute(text("UPDATE ml_audit_checkpoints SET head_hash = :h"), {"h": head})
    report = root.verify_audit()
    assert not report.ok and report.kind == "rewritten"


def test_a_missing_key_is_reported_and_stops_checkpoints(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    (mesh.home / KEY_FILE).unlink()
    report = root.verify_audit()
    assert not report.ok and report.kind == "key_missing"
    with pytest.raises(meshlake.MeshError, match="audit key"):
        root.checkpoint_audit()
    assert not (mesh.home / KEY_FILE).exists(), "a new key would hide the old digests"


def test_the_environment_key_wins(
    mesh: meshlake.Mesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_AUDIT_KEY, "from the environment")
    other = meshlake.connect(tmp_path / "other")
    try:
        root = other.bootstrap()
        assert not (other.home / KEY_FILE).exists()
        assert root.verify_audit().ok and len(_digests(other)) == 1
        monkeypatch.delenv(ENV_AUDIT_KEY)
        assert root.verify_audit().kind == "key_missing"
    finally:
        other.close()


def test_only_admins_write_checkpoints(mesh: meshlake.Mesh, root: meshlake.Session) -> None:
    root.principals.create("p/user", kind="user")
    with pytest.raises(meshlake.AccessDeniedError):
        mesh.session("p/user").checkpoint_audit()
    assert mesh.session("p/admin").checkpoint_audit() is not None


def test_an_unwritable_digest_folder_never_fails_a_change(
    mesh: meshlake.Mesh, root: meshlake.Session, tmp_path: Path
) -> None:
    anchor = mesh.runtime.audit.anchor
    assert anchor is not None
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    anchor.folder = blocker / "digests"  # no one, not even root, can create it
    anchor.every_events = 1
    root.accounts.create("q")  # the checkpoint after it fails; the change stands
    assert "q" in [a.name for a in root.accounts.list()]
    with pytest.raises(meshlake.MeshError, match="cannot write to the audit digest folder"):
        root.checkpoint_audit()
