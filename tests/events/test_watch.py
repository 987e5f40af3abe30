"""The location watcher: files landing in a registered location become one
``location.files_added`` event, which a recrawl trigger turns into a crawl."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.events.conftest import setup_accounts

import meshlake
from meshlake.catalog.event_models import EventRow
from meshlake.errors import AccessDeniedError
from meshlake.events.watch import Fingerprint, changes, scan


def test_scan_fingerprints_files_and_skips_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.csv").write_text("x\n22\n")
    (tmp_path / ".tmp-upload").write_text("partial")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.csv").write_text("x\n")
    listing = scan(tmp_path)
    assert sorted(listing) == ["a.csv", "sub/b.csv"]
    assert listing["a.csv"].size == 4
    before = dict(listing)
    (tmp_path / "a.csv").write_text("x\n1\n2\n")
    os.utime(tmp_path / "a.csv", ns=(1, 10**18))
    (tmp_path / "sub" / "b.csv").unlink()
    (tmp_path / "new.csv").write_text("x\n")
    assert changes(scan(tmp_path), before) == (["new.csv"], ["a.csv"], ["sub/b.csv"])
    assert changes(before, before) == ([], [], [])
    assert changes({}, {"x": Fingerprint(1, 1)}) == ([], [], ["x"])


def test_new_files_in_a_registered_location_are_recrawled(
    sqlite_mesh: meshlake.Mesh, tmp_path: Path
) -> None:
    mesh = sqlite_mesh
    s = setup_accounts(mesh)
    owner = s["owner"]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "day1.csv").write_text("id,name\n1,a\n2,b\n")
    uri = owner.catalog.register_location(str(landing))
    owner.events.triggers.create(
        "recrawl-landing",
        on="location.files_added",
        where=f"data.location = '{uri}'",
        do="recrawl",
        params={"database": "sales", "table": "landing"},
    )
    with pytest.raises(AccessDeniedError):
        s["analyst"].events.watch()

    (first,) = owner.events.watch()  # files present at the first look count as landed
    assert first.type == "location.files_added" and first.data["files"] == ["day1.csv"]
    assert owner.events.watch() == []  # nothing new
    assert owner.events.triggers.run() == 1
    assert owner.query("SELECT count(*) FROM sales.landing").rows() == [(2,)]

    (landing / "day2.csv").write_text("id,name\n3,c\n")
    (landing / ".day3.csv.partial").write_text("id,name\n4,")
    (event,) = owner.events.watch()
    assert event.data["files"] == ["day2.csv"] and event.data["added"] == 1
    assert owner.events.watch() == []
    assert owner.events.triggers.run() == 1
    runs = owner.events.triggers.runs("recrawl-landing")
    assert [r["state"] for r in runs] == ["succeeded", "succeeded"], runs[-1]["error"]
    assert owner.query("SELECT count(*) FROM sales.landing").rows() == [(3,)]

    # only the account's admins see where files landed
    assert s["analyst"].events.triggers.runs() == []
    with mesh.runtime.store.read() as session:
        rows = list(
            session.scalars(select(EventRow).where(EventRow.type == "location.files_added"))
        )
    assert len(rows) == 2 and all(r.accounts == ["central"] for r in rows)
    consumer = s["consumer"]
    consumer.events.subscribe(type="location.*")
    (landing / "day4.csv").write_text("id,name\n5,e\n")
    owner.events.watch()
    assert consumer.events.inbox() == []
    owner.events.subscribe(type="location.*")
    (landing / "day5.csv").write_text("id,name\n6,f\n")
    owner.events.watch()
    assert [i.event.data["files"] for i in owner.events.inbox()] == [["day5.csv"]]


def test_worker_watches_locations(sqlite_mesh: meshlake.Mesh, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meshlake.cli import app

    mesh = sqlite_mesh
    owner = setup_accounts(mesh)["owner"]
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text("id\n1\n")
    owner.catalog.register_location(str(landing))
    owner.events.triggers.create(
        "recrawl", on="location.files_added", do="recrawl", params={"database": "sales"}
    )
    home = mesh.runtime.settings.home
    mesh.close()
    result = CliRunner().invoke(app, ["--home", str(home), "--json", "worker", "--once"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["locations_with_new_files"] == 1 and summary["trigger_runs"] == 1
    again = CliRunner().invoke(app, ["--home", str(home), "--json", "worker", "--once"])
    assert json.loads(again.stdout)["locations_with_new_files"] == 0
