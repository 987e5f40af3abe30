"""Fixtures of the query tests: a DuckDB engine and fake catalogs (see query_fakes.py)."""

from __future__ import annotations

import pytest
from query_fakes import PEOPLE, PEOPLE_TYPES, FakeCatalog

from meshlake.query.engines.duckdb import DuckDBEngine


@pytest.fixture(scope="session")
def engine() -> DuckDBEngine:
    """One engine for the session (its databases are cached, as in production)."""
    return DuckDBEngine()


@pytest.fixture(scope="session")
def base_catalog(tmp_path_factory: pytest.TempPathFactory) -> FakeCatalog:
    """``db.people`` (six rows) and ``db.orders``, written once per session."""
    cat = FakeCatalog(tmp_path_factory.mktemp("warehouse"))
    cat.add_table("db", "people", PEOPLE_TYPES, PEOPLE)
    cat.add_table(
        "db",
        "orders",
        {"order_id": "BIGINT", "person_id": "BIGINT", "total": "DOUBLE"},
        {"order_id": [10, 11, 12, 13], "person_id": [1, 2, 2, 5], "total": [5.0, 7.5, 1.0, 3.0]},
    )
    return cat


@pytest.fixture
def catalog(base_catalog: FakeCatalog) -> FakeCatalog:
    """A private copy of the session catalog (same files; policies and snapshots its own)."""
    return base_catalog.clone()
