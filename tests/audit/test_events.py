"""Reading the audit log: the newest N events, in order, with cursors to page."""

from __future__ import annotations

import meshlake


def test_limit_returns_the_newest_events_in_order(root: meshlake.Session) -> None:
    every = root.audit()
    assert [e.seq for e in every] == sorted(e.seq for e in every) and len(every) >= 6
    newest = root.audit(limit=3)
    assert newest == every[-3:]
    assert root.audit(limit=0) == []
    assert root.audit(limit=len(every) + 10) == every


def test_cursors_page_back_and_forward(root: meshlake.Session) -> None:
    every = root.audit()
    page = root.audit(limit=2)
    pages = [page]
    while page:
        page = root.audit(limit=2, before_seq=page[0].seq)
        pages.insert(0, page)
    assert [e for p in pages for e in p] == every
    # forward from a cursor: the oldest events after it, so tailing misses none
    assert root.audit(limit=2, after_seq=every[0].seq) == every[1:3]
    assert root.audit(after_seq=every[-2].seq) == every[-1:]
    assert root.audit(after_seq=every[0].seq, before_seq=every[3].seq) == every[1:3]


def test_a_non_root_reader_gets_its_newest_visible_events(
    mesh: meshlake.Mesh, root: meshlake.Session
) -> None:
    root.accounts.create("q")  # the newest event, which p/admin may not see
    admin = mesh.session("p/admin")
    visible = admin.audit()
    assert "bootstrap" not in [e.action for e in visible]
    assert [e.action for e in admin.audit(limit=2)] == ["create_database", "create_tag"]
    assert admin.audit(limit=2) == visible[-2:]
    assert (
        admin.audit(category="change", limit=1)
        == [e for e in visible if e.category == "change"][-1:]
    )
