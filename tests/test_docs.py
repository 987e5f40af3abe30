"""The Python examples of the README and the governance guide run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshlake

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path: Path) -> str:
    text = path.read_text()
    return "\n".join(b.split("```")[0] for b in text.split("```python")[1:])


def test_readme_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = _python_blocks(ROOT / "README.md").replace(
        'analyst.query("SELECT ssn FROM sales.orders")',
        'pytest.raises(meshlake.NotFoundError, analyst.query, "SELECT ssn FROM sales.orders")',
    )
    ns: dict[str, object] = {"pytest": pytest, "meshlake": meshlake}
    exec(compile(code, "README.md", "exec"), ns)
    assert (tmp_path / ".meshlake" / "catalog.db").exists()


def test_governance_guide_example(tmp_path: Path) -> None:
    code = _python_blocks(ROOT / "docs" / "governance.md").replace("/tmp/example", str(tmp_path))
    ns: dict[str, object] = {}
    exec(compile(code, "docs/governance.md", "exec"), ns)
    analyst = ns["analyst"]
    assert isinstance(analyst, meshlake.Session)
    assert analyst.catalog.get_table("sales", "orders").column_names == ["id", "region", "amount"]
