"""docs/audit.md's example runs as written."""

from __future__ import annotations

from pathlib import Path

import meshlake

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def test_audit_guide_example(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    code = "\n".join(b.split("```")[0] for b in text.split("```python")[1:])
    ns: dict[str, object] = {}
    exec(compile(code.replace("/tmp/audit-example", str(tmp_path)), str(DOC), "exec"), ns)
    assert isinstance(ns["checkpoint"], meshlake.audit.Checkpoint)
    assert [e.action for e in ns["newest"]] == ["bootstrap", "create_account"]  # type: ignore[attr-defined]
    assert ns["older"] == []
    assert len(list((tmp_path / "audit-digests").glob("*.json"))) == 2
