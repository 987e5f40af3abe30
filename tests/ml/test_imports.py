"""ML libraries load lazily: ``import meshlake`` (and building a session) imports none."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mlflow", "xgboost", "sklearn", "openlineage", "matplotlib")


def test_import_meshlake_imports_no_ml_library(tmp_path) -> None:
    code = (
        "import sys, meshlake\n"
        f"m = meshlake.connect({str(tmp_path)!r}); r = m.bootstrap(); r.ml\n"
        "import meshlake.service.ml, meshlake.ml.training, meshlake.ml.pipelines\n"
        f"print([n for n in {HEAVY!r} if n in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
