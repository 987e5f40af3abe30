"""ML libraries load lazily: importing meshlake and its ML modules imports none of them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mlflow", "xgboost", "sklearn", "openlineage", "matplotlib")


def test_import_meshlake_imports_no_ml_library(tmp_path) -> None:
    code = (
        "import sys, meshlake\n"
        "import meshlake.service.ml, meshlake.service.ml_pipelines, meshlake.service.ml_lineage\n"
        "import meshlake.ml.training, meshlake.ml.pipelines, meshlake.ml.tracking\n"
        "import meshlake.cli.commands.ml, meshlake.demo.ml\n"
        f"print([n for n in {HEAVY!r} if n in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
