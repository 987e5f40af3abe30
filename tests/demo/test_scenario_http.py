"""The reference scenario through the HTTP SDK against a real ``meshlake serve`` process
gives the embedded run's results.

One run of each (about 15 s each): the remote one through ``meshlake demo --url --token
--files`` (the CLI, the demo's server sessions and the SDK), the embedded one through
``run(home)``. What may differ is what is minted per run (ids, snapshot ids, timestamps,
timings) and the audit log's length (the remote run's root creates a token per principal).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import meshlake
from meshlake.cli import app
from meshlake.demo.scenario import ACCOUNTS, run, run_remote
from meshlake.service.events import DISPATCH_ENV
from server.serving import serve_process  # tests/ is on sys.path (tests/conftest.py)

pytestmark = pytest.mark.xdist_group("demo-http")  # one pair of runs per module

#: Principals the scenario acts as besides the root (one demo token each).
ACTORS = 6


def _console() -> Console:
    return Console(file=io.StringIO(), width=120)


def _json(value: Any) -> Any:
    """``value`` as the CLI's --json prints it (keys as strings)."""
    return json.loads(json.dumps(value, default=str))


class Runs:
    """Both summaries, the server and its root token."""

    def __init__(self, remote: dict[str, Any], embedded: dict[str, Any], url: str, token: str):
        self.remote, self.embedded, self.url, self.token = remote, embedded, url, token


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    base = tmp_path_factory.mktemp("demo-http")
    server_home, files = base / "server", base / "files"
    mesh = meshlake.connect(server_home)
    token = mesh.bootstrap().tokens.create("root", "1h").token
    mesh.close()
    env = {"MESHLAKE_ALLOWED_ROOTS": str(files), DISPATCH_ENV: "embedded"}
    with serve_process(server_home, env=env) as (url, _):
        result = CliRunner().invoke(
            app,
            ["--json", "demo", "--url", url, "--token", token, "--files", str(files)],
            env={
                "COLUMNS": "120",
                "MESHLAKE_HOME": None,
                "MESHLAKE_URL": None,
                "MESHLAKE_PROFILE": None,
                "MESHLAKE_TOKEN": None,
            },
        )
        assert result.exit_code == 0, result.stderr
        remote = json.loads(result.stdout)
        embedded = _json(run(base / "embedded", console=_console()))
        yield Runs(remote, embedded, url, token)


def _stable_version(version: dict[str, Any]) -> dict[str, Any]:
    """A product version without what each run mints: its snapshot, times, and the
    freshness rule's observed age."""
    quality = {k: v for k, v in version["quality"].items() if k not in ("computed_at", "freshness")}
    quality["rules"] = [r for r in quality["rules"] if r["kind"] != "freshness"]
    return {
        **{k: v for k, v in version.items() if k not in ("snapshot_id", "published_at")},
        "quality": quality,
    }


def test_the_data_half_matches(runs: Runs) -> None:
    remote, embedded = runs.remote, runs.embedded
    assert remote["crawl"] == embedded["crawl"]
    assert remote["crawl"]["rows"] == 1000 and len(remote["crawl"]["columns"]) == 21
    assert _stable_version(remote["product"]) == _stable_version(embedded["product"])
    assert remote["product"]["quality"]["row_count"] == 1000
    assert remote["product"]["bias"]["columns"]  # the bias report came back whole
    assert remote["class_balance"] == embedded["class_balance"] == {"0": 300, "1": 700}
    assert remote["sample_columns"] == embedded["sample_columns"]
    # the analyst sees the curated English columns only, none of the raw export's
    assert "credit_risk" in remote["sample_columns"]
    assert not {"laufkont", "laufzeit", "kredit"} & set(remote["sample_columns"])
    assert remote["audit_verified"] is embedded["audit_verified"] is True
    # beyond the embedded run's events: the root's token, made before the server started,
    # and the one the root created for each principal the scenario acted as
    assert remote["audit_events"] == embedded["audit_events"] + 1 + ACTORS


def test_the_model_matches(runs: Runs) -> None:
    remote, embedded = runs.remote["ml"], runs.embedded["ml"]
    # seeded split and XGBoost (one thread): the same numbers, not just close ones
    assert remote["version"]["metrics"] == embedded["version"]["metrics"]
    assert remote["test_auc"] == embedded["test_auc"] > 0.75
    for key in ("group", "account", "version", "status", "threshold", "feature_names"):
        assert remote["version"].get(key) == embedded["version"].get(key), key
    assert remote["version"]["status"] == "Approved"
    steps = [(s["name"], s["state"]) for s in remote["pipeline"]["steps"]]
    assert steps == [(s["name"], s["state"]) for s in embedded["pipeline"]["steps"]]
    evaluate = next(s for s in remote["pipeline"]["steps"] if s["name"] == "evaluate")
    assert evaluate["outcome"] == next(
        s["outcome"] for s in embedded["pipeline"]["steps"] if s["name"] == "evaluate"
    )
    assert remote["scoring"] == embedded["scoring"]  # batch scoring: the same predictions
    strip = {"snapshot_id"}
    assert {k: v for k, v in remote["scores"]["scores"].items() if k not in strip} == {
        k: v for k, v in embedded["scores"]["scores"].items() if k not in strip
    }
    assert remote["lineage"] == embedded["lineage"]


def test_the_loop_matches(runs: Runs) -> None:
    remote, embedded = runs.remote["loop"], runs.embedded["loop"]
    minted = {"reference_snapshot", "current_snapshot"}
    for month in ("shifted", "steady"):
        r, e = remote[month], embedded[month]
        assert r["product_version"] == e["product_version"]
        assert {k: v for k, v in r["drift"].items() if k not in minted} == {
            k: v for k, v in e["drift"].items() if k not in minted
        }
        assert r["versions"] == e["versions"]
        assert r["inbox"] == e["inbox"]
    shifted = remote["shifted"]
    assert shifted["drift"]["drifted"] is True
    assert {"duration", "amount", "age", "purpose"} <= set(shifted["drift"]["drifted_columns"])
    assert shifted["top_features"] == embedded["shifted"]["top_features"]
    assert shifted["plots"] == embedded["shifted"]["plots"]
    registered = shifted["retrain"]["registered"]
    assert registered == embedded["shifted"]["retrain"]["registered"]
    assert (registered["version"], registered["status"]) == (2, "PendingManualApproval")
    assert remote["steady"]["drift"]["drifted"] is False and remote["steady"]["versions"] == 0


def test_the_server_holds_the_scenario_and_no_demo_token(runs: Runs, tmp_path: Path) -> None:
    with meshlake.connect(runs.url, token=runs.token) as remote:
        root = remote.session()
        assert root.verify_audit().ok
        tokens = [t for t in root.tokens.list() if t.principal != "root"]
        assert len(tokens) == ACTORS and not any(t.active for t in tokens)
        # a second run needs a fresh mesh, and the demo needs the root
        with pytest.raises(meshlake.InvalidInputError, match="fresh mesh"):
            run_remote(runs.url, runs.token, tmp_path / "again", console=_console())
        analyst = root.tokens.create("consumer/analyst1", "10m").token
        with pytest.raises(meshlake.AccessDeniedError, match="mesh root"):
            run_remote(runs.url, analyst, tmp_path / "analyst", console=_console())
        assert {a.name for a in root.accounts.list()} == set(ACCOUNTS)
