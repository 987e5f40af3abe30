"""Fixtures of the products tests: contracts and the curated credit_card table."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

import meshlake

DEMO_CONTRACT = Path(meshlake.__file__).parent / "demo" / "contracts" / "credit_card.odcs.yaml"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def contract_yaml(
    properties: str = "",
    *,
    header: str = "",
    table_quality: str = "",
    extra: str = "",
) -> str:
    """A minimal valid ODCS v3 contract with one table ``orders``.

    ``properties`` (YAML list items, indented as the first level), ``table_quality`` (YAML list
    items) and ``extra`` (top-level keys) are spliced in; ``header`` replaces the default
    top-level header lines.
    """
    props = (
        properties
        or """
- name: order_id
  logicalType: integer
- name: amount
  logicalType: number
"""
    )
    head = (
        header
        or """
apiVersion: v3.1.0
kind: DataContract
id: orders-contract
name: orders
version: 1.0.0
domain: Sales
"""
    )
    text = textwrap.dedent(head).strip() + "\n" + textwrap.dedent(extra).strip() + "\n"
    text += "schema:\n  - name: orders\n    properties:\n"
    text += textwrap.indent(textwrap.dedent(props).strip(), "      ") + "\n"
    if table_quality:
        text += "    quality:\n" + textwrap.indent(textwrap.dedent(table_quality).strip(), "      ")
    return text + "\n"


@pytest.fixture(scope="session")
def codebook() -> dict[str, Any]:
    path = SHARED_DATA / "codebook.yaml"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def credit_table(codebook: dict[str, Any]) -> pa.Table:
    """The curated credit_card table: South German Credit decoded with the codebook."""
    path = SHARED_DATA / "SouthGermanCredit.asc"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line]
    header, rows = lines[0], lines[1:]
    by_german = {a["german"]: a for a in codebook["attributes"]}
    columns: dict[str, pa.Array] = {}
    for i, german in enumerate(header):
        attr = by_german[german]
        raw = [int(r[i]) for r in rows]
        if attr["type"] == "categorical":
            columns[attr["english"]] = pa.array([attr["south"][v] for v in raw], pa.string())
        elif attr["type"] == "label":
            curated = attr["curated"]
            columns[attr["english"]] = pa.array(
                [curated[attr["south"][v]] for v in raw], pa.int64()
            )
        else:
            columns[attr["english"]] = pa.array(raw, pa.int64())
    return pa.table(columns)
