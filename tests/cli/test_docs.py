"""docs/cli.md is generated from the commands' --help and must be up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

GENERATOR = Path(__file__).resolve().parents[2] / "docs" / "gen_cli_docs.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    gen = _generator()
    text = gen.render()
    for command in (
        "meshlake grant",
        "meshlake tag assign",
        "meshlake query",
        "meshlake audit verify",
        "--tag-policy",
        "Exit codes",
    ):
        assert command in text
    assert gen.TARGET.read_text(encoding="utf-8") == text, (
        "docs/cli.md is out of date: run .venv/bin/python docs/gen_cli_docs.py"
    )
