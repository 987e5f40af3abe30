"""Data products: ODCS contracts, schema conformance, quality and bias metrics, tags derived
from the contract, the changelog between versions, and product search.

Everything here is pure: it reads a contract and an Arrow table and returns values. Publishing,
persistence and access requests (which touch the catalog store) build on these.
"""

from __future__ import annotations

from meshlake.products.bias import BiasReport, ColumnBias, GroupRate, compute_bias
from meshlake.products.changelog import (
    ColumnChange,
    ContractChange,
    SchemaDiff,
    diff_contracts,
    diff_schemas,
)
from meshlake.products.conformance import (
    SchemaProblem,
    check_contract_against_schema,
    schema_problems,
    type_family,
)
from meshlake.products.contract import load_contract
from meshlake.products.model import Contract, ContractColumn, ContractTable
from meshlake.products.quality import (
    ColumnQuality,
    Freshness,
    QualityReport,
    RuleResult,
    compute_quality,
)
from meshlake.products.rules import QualityRule, Threshold
from meshlake.products.search import (
    Highlight,
    Hit,
    ProductDocument,
    SearchIndex,
    build_index,
    search,
)
from meshlake.products.sla import SlaItem
from meshlake.products.tags import derive_tags, tag_values

__all__ = [
    "BiasReport",
    "ColumnBias",
    "ColumnChange",
    "ColumnQuality",
    "Contract",
    "ContractChange",
    "ContractColumn",
    "ContractTable",
    "Freshness",
    "GroupRate",
    "Highlight",
    "Hit",
    "ProductDocument",
    "QualityReport",
    "QualityRule",
    "RuleResult",
    "SchemaDiff",
    "SchemaProblem",
    "SearchIndex",
    "SlaItem",
    "Threshold",
    "build_index",
    "check_contract_against_schema",
    "compute_bias",
    "compute_quality",
    "derive_tags",
    "diff_contracts",
    "diff_schemas",
    "load_contract",
    "schema_problems",
    "search",
    "tag_values",
    "type_family",
]
