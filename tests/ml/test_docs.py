"""docs/ml.md's notebook walkthrough runs as written."""

from __future__ import annotations

from pathlib import Path

import meshlake

DOC = Path(__file__).resolve().parents[2] / "docs" / "ml.md"


def test_ml_walkthrough_runs(tmp_path: Path) -> None:
    text = DOC.read_text()
    code = "\n".join(b.split("```")[0] for b in text.split("```python")[1:])
    code = code.replace("/tmp/ml-walkthrough", str(tmp_path / "home"))
    ns: dict[str, object] = {}
    exec(compile(code, "docs/ml.md", "exec"), ns)
    again = ns["again"]
    assert all(s.cached for s in again.steps)  # type: ignore[attr-defined]
    assert (tmp_path / "home" / "lineage.jsonl").exists()
    assert ns["approved"].status == "Approved"  # type: ignore[attr-defined]
    mesh = ns["mesh"]
    assert isinstance(mesh, meshlake.Mesh)
    mesh.close()
