"""The reference scenario runs end to end, can be re-run, and protects foreign homes."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

import meshlake
from meshlake.demo import STATLOG
from meshlake.demo.scenario import MARKER, run


def _console() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_scenario_end_to_end_and_rerun(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    summary = run(home, console=_console())
    raw = pd.read_csv(STATLOG, sep=" ", header=None)
    assert summary["crawl"]["rows"] == len(raw) == 1000
    assert summary["crawl"]["columns"][:3] == ["laufkont", "laufzeit", "moral"]
    good = int((raw[20] == 1).sum())
    assert summary["class_balance"] == {1: good, 0: len(raw) - good}
    assert summary["product"]["version"] == 1
    loop = summary["loop"]  # the closing loop: drift -> retraining; no drift -> nothing
    assert loop["shifted"]["drift"]["drifted"] is True
    assert {"duration", "amount", "age", "purpose"} <= set(
        loop["shifted"]["drift"]["drifted_columns"]
    )
    assert loop["shifted"]["retrain"]["registered"]["version"] == 2
    assert loop["shifted"]["retrain"]["registered"]["status"] == "PendingManualApproval"
    assert loop["shifted"]["versions"] == 1
    assert "psi.png" in loop["shifted"]["plots"]
    assert loop["steady"]["drift"]["drifted"] is False
    assert loop["steady"]["versions"] == 0
    again = run(home, console=_console())
    assert again["class_balance"] == summary["class_balance"]

    mesh = meshlake.connect(home)
    analyst = mesh.session("consumer/analyst1")
    df = analyst.query(
        'SELECT purpose, count(*) AS n FROM "rl_credit-card".credit_card GROUP BY purpose'
    ).to_pandas()
    assert df["n"].sum() == 1000 + 2 * 150  # the two months of the closing loop
    assert "car (new)" in set(df["purpose"])
    with pytest.raises(meshlake.NotFoundError):
        mesh.session("consumer/ConsumerAdmin").query(
            'SELECT * FROM "rl_credit-card".credit_card_raw'
        )
    assert mesh.session("central/DataMeshOwner").verify_audit().ok
    mesh.close()


def test_refuses_a_home_it_did_not_create(tmp_path: Path) -> None:
    home = tmp_path / "mine"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    with pytest.raises(meshlake.InvalidInputError, match="--home"):
        run(home, console=_console())
    assert (home / "precious.txt").exists()
    assert not (home / MARKER).exists()
