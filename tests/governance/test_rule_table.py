"""The rule -> code table of ``docs/governance.md`` names code, tests and vectors that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from meshlake.testing import SHARED

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "meshlake"
DOC = ROOT / "docs" / "governance.md"
PENDING: set[int] = set()  # rules whose row only says where they will live


def _rows() -> dict[int, tuple[str, str]]:
    text = DOC.read_text()
    section = text.split("## Where each rule lives", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, tuple[str, str]] = {}
    for line in section.splitlines():
        m = re.match(r"\| (\d+) [^|]*\| (.*) \| (.*) \|$", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), m.group(3))
    return rows


def _names(path: Path) -> set[str]:
    """Functions, classes, methods (``Class.method`` and bare) and constants of a module."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    out |= {item.name, f"{node.name}.{item.name}"}
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out.add(f"{node.name}.{item.target.id}")
        if isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def test_every_rule_has_a_row() -> None:
    assert sorted(_rows()) == list(range(31))


def test_the_code_named_exists() -> None:
    for rule, (code, _) in _rows().items():
        if rule in PENDING:
            continue
        for part in code.split(";"):
            tokens = re.findall(r"`([^`]+)`", part)
            module: Path | None = None
            for token in tokens:
                if token.endswith(".py") or token.endswith("/"):
                    module = SRC / token
                    assert module.exists(), f"rule {rule}: {token} does not exist"
                    continue
                assert module is not None and module.suffix == ".py", (rule, token)
                names = _names(module)
                assert token in names or (
                    "." not in token and any(n.endswith(f".{token}") for n in names)
                ), f"rule {rule}: {token} is not in {module.relative_to(SRC)}"


def test_the_checks_named_exist() -> None:
    vectors = {
        str(v["id"])
        for f in (SHARED / "spec" / "vectors").glob("*.yaml")
        for v in (yaml.safe_load(f.read_text()) or {}).get("vectors", [])
    }
    for rule, (_, checks) in _rows().items():
        if rule in PENDING:
            continue
        for token in re.findall(r"`([^`]+)`", checks):
            if token.startswith("tests/"):
                path, _, name = token.partition("::")
                assert (ROOT / path).exists(), f"rule {rule}: {path} does not exist"
                if name:
                    assert f"def {name}(" in (ROOT / path).read_text(), (rule, token)
            elif "::" in token or token.endswith(".py"):
                continue
            elif "::" not in token and not token.startswith("test_"):
                assert token in vectors, f"rule {rule}: no vector {token}"
            else:
                assert any(
                    f"def {token}(" in p.read_text() for p in (ROOT / "tests").rglob("test_*.py")
                ), (rule, token)
