"""A model version's lineage over HTTP names no storage path, visible or not."""

from __future__ import annotations

from pathlib import Path

import meshlake
from meshlake.server.routes.ml import lineage_body
from meshlake.server.wire import Scrubber


def test_lineage_names_files_but_no_paths(tmp_path: Path) -> None:
    settings = meshlake.connect(tmp_path / "home").settings
    landing = "/data/landing/credit"
    lineage = {
        "version": "c.risk/1",
        "nodes": [
            {
                "kind": "crawl_run",
                "id": "crawl:1",
                "label": f"crawl run 1 of {landing} (10 rows)",
                "visible": True,
                "detail": {"location": landing, "rows": 10},
                "parents": [f"file:{landing}/a.csv", f"file:{landing}/sub/b.csv"],
            },
            {
                "kind": "source_file",
                "id": f"file:{landing}/a.csv",
                "label": f"{landing}/a.csv",
                "visible": True,
                "detail": {"uri": f"{landing}/a.csv"},
                "parents": [],
            },
            {
                "kind": "source_file",
                "id": f"file:{landing}/sub/b.csv",
                "label": "not visible",
                "visible": False,
            },
        ],
    }
    body = lineage_body(lineage, Scrubber(settings))
    assert landing not in str(body) and "/data" not in str(body)
    crawl, a, b = body["nodes"]
    assert (
        crawl["label"] == "crawl run 1 of <location> (10 rows)"
        and "location" not in crawl["detail"]
    )
    assert crawl["parents"] == ["file:a.csv", "file:b.csv"]
    assert (a["id"], a["label"], a["detail"]) == ("file:a.csv", "a.csv", {})
    assert (b["id"], b["label"]) == ("file:b.csv", "not visible")
