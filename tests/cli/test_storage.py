"""``meshlake crawl``, ``meshlake recipe`` and ``meshlake append`` on an embedded mesh."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .runner import Cli

OWNER = "central/owner"


def _landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True)
    (folder / "part-1.csv").write_text("id,region,amount\n1,us,10.5\n2,eu,20.0\n")
    return folder.parent


def test_crawl_recipe_and_append(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    cli("database", "create", "raw", as_=OWNER)
    cli("database", "create", "curated", as_=OWNER)
    landing = _landing(tmp_path)

    run = cli.json("crawl", "run", str(landing), "--database", "raw", as_=OWNER)
    assert run["state"] == "SUCCEEDED"
    assert run["rows_added"] == 2 and run["files_read"] == 1
    assert run["tables_created"] == ["orders"]
    again = cli("crawl", "run", str(landing), "--database", "raw", as_=OWNER)
    assert "SUCCEEDED" in again.stdout and "files skipped" in again.stdout
    runs = cli.json("crawl", "runs", as_=OWNER)
    assert [r["id"] for r in runs][-1] == run["id"] and len(runs) == 2
    assert cli.json("crawl", "runs", "--location", str(landing), as_=OWNER)[0]["database"] == "raw"
    assert "rows_added" in cli("crawl", "runs", as_=OWNER).stdout

    recipe = tmp_path / "clean.yaml"
    recipe.write_text(
        "name: clean\nsteps:\n  - action: rename\n    mapping:\n      amount: total\n"
        "  - action: filter\n    condition: \"region = 'us'\"\n"
    )
    done = cli.json(
        "recipe",
        "run",
        str(recipe),
        "--source",
        "raw.orders",
        "--target",
        "curated.orders",
        as_=OWNER,
    )
    assert done["recipe_name"] == "clean"
    assert (done["rows_in"], done["rows_out"]) == (2, 1)
    assert done["target"]["table"] == "curated.orders"
    listed = cli.json("recipe", "runs", "--target", "curated.orders", as_=OWNER)
    assert [r["id"] for r in listed] == [done["id"]] and listed[0]["principal"] == OWNER
    assert "clean" in cli("recipe", "runs", as_=OWNER).stdout

    more = tmp_path / "more.csv"
    more.write_text("id,region,amount\n3,us,30.0\n")
    added = cli.json("append", "raw.orders", str(more), as_=OWNER)
    assert added["rows"] == 1 and added["table"] == "raw.orders"
    assert isinstance(added["snapshot_id"], int)
    parquet = tmp_path / "more.parquet"
    pq.write_table(
        pa.table({"region": ["eu"], "id": pa.array([4], pa.int32()), "amount": [40.0]}), parquet
    )
    human = cli("append", "raw.orders", str(parquet), as_=OWNER)
    assert "appended 1 rows to raw.orders" in human.stdout
    rows = cli.json("query", "SELECT id FROM raw.orders ORDER BY id", as_=OWNER)["rows"]
    assert rows == [[1], [2], [3], [4]]


def test_bad_input_changes_nothing(mesh_cli: Cli, tmp_path: Path) -> None:
    cli = mesh_cli
    cli("database", "create", "raw", as_=OWNER)
    cli.json("crawl", "run", str(_landing(tmp_path)), "--database", "raw", as_=OWNER)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,colour\n9,red\n")
    failed = cli("append", "raw.orders", str(wrong), as_=OWNER, json_mode=True, code=1)
    assert '"type": "invalid_input"' in failed.stderr
    assert "missing region, amount" in failed.stderr and "colour" in failed.stderr
    unfit = tmp_path / "unfit.csv"
    unfit.write_text("id,region,amount\nx,us,1\n")
    assert "do not fit" in cli("append", "raw.orders", str(unfit), as_=OWNER, code=1).stderr
    unknown = tmp_path / "rows.txt"
    unknown.write_text("id\n1\n")
    usage = cli("append", "raw.orders", str(unknown), as_=OWNER, code=2)
    assert "--format" in usage.stderr
    assert cli.json("query", "SELECT count(*) FROM raw.orders", as_=OWNER)["rows"] == [[2]]

    missing_db = cli(
        "crawl", "run", str(tmp_path / "landing"), "--database", "nope", as_=OWNER, code=1
    )
    assert missing_db.stderr.startswith("error (not_found)")
    assert cli(
        "recipe",
        "run",
        str(tmp_path / "none.yaml"),
        "--source",
        "raw.orders",
        "--target",
        "raw.x",
        as_=OWNER,
        code=2,
    )
    bad_target = cli(
        "recipe",
        "run",
        str(tmp_path / "none.yaml"),
        "--source",
        "raw.orders",
        "--target",
        "x",
        as_=OWNER,
        code=2,
    )
    assert "DB.TABLE" in bad_target.stderr
    not_recipe = tmp_path / "list.yaml"
    not_recipe.write_text("- a\n- b\n")
    assert (
        "holds no recipe"
        in cli(
            "recipe",
            "run",
            str(not_recipe),
            "--source",
            "raw.orders",
            "--target",
            "raw.y",
            as_=OWNER,
            code=2,
        ).stderr
    )
    usage = cli("crawl", "run", str(tmp_path), as_=OWNER, json_mode=True, code=2)
    assert json.loads(usage.stderr)["error"]["type"] == "usage"
    assert "--database" in json.loads(usage.stderr)["error"]["message"]
    assert cli.json("crawl", "runs", as_=OWNER)[0]["state"] == "SUCCEEDED"
