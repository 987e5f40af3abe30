"""``meshlake --help`` imports none of the heavy parts of meshlake (deterministic: it looks
at the modules a fresh interpreter loaded, not at the time it took)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: What ``--help`` must not import: engines, data libraries, ML, the web stack, and
#: meshlake's own layers below the CLI (they import those).
HEAVY = (
    "pyarrow",
    "duckdb",
    "pyiceberg",
    "sqlalchemy",
    "alembic",
    "mlflow",
    "pandas",
    "numpy",
    "xgboost",
    "sklearn",
    "httpx",
    "fastapi",
    "uvicorn",
    "yaml",
    "meshlake.mesh",
    "meshlake.service",
    "meshlake.storage",
    "meshlake.query",
    "meshlake.governance",
    "meshlake.catalog",
    "meshlake.client",
    "meshlake.server",
    "meshlake.ml",
)

PROBE = """
import json, sys
from typer.testing import CliRunner
from meshlake.cli import app
runner = CliRunner()
codes = [runner.invoke(app, [*args, "--help"]).exit_code for args in ARGS]
heavy = sorted(
    m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY)
)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def _probe(args: list[list[str]]) -> dict[str, object]:
    code = f"ARGS = {args!r}\nHEAVY = {HEAVY!r}\n" + PROBE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return dict(json.loads(out.stdout))


def test_root_help_imports_nothing_heavy() -> None:
    seen = _probe([[]])
    assert seen == {"codes": [0], "heavy": []}


@pytest.mark.parametrize(
    "group",
    ["table", "crawl", "product", "access", "history", "workgroup", "events", "ml", "query"],
)
def test_group_help_imports_nothing_heavy(group: str) -> None:
    seen = _probe([[group]])
    assert seen == {"codes": [0], "heavy": []}


def test_python_m_meshlake_cli_help_with_importtime() -> None:
    """The ``-X importtime`` record of ``python -m meshlake.cli --help`` names no heavy
    module."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "100"}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "meshlake.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Usage: meshlake" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "meshlake.cli" in imported  # the record is there
    heavy = sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []
