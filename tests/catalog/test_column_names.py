"""Column names are unique case-insensitively, whatever creates or changes them.

SQL resolves names case-insensitively: a table holding both ``ssn`` and ``SSN`` could not be
read, and a policy naming one would apply to both.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import meshlake


@pytest.fixture
def admin(mesh: meshlake.Mesh) -> meshlake.Session:
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    session = mesh.session("p/admin")
    session.catalog.create_database("db")
    session.catalog.create_table("db", "t", {"id": "bigint", "ssn": "string"}, [[1, "111"]])
    return session


def _unchanged(mesh: meshlake.Mesh, admin: meshlake.Session, version: int) -> None:
    assert mesh.runtime.store.version() == version
    assert admin.query("SELECT * FROM db.t").rows() == [(1, "111")]


def test_creating_case_variants_is_refused(admin: meshlake.Session) -> None:
    with pytest.raises(meshlake.InvalidInputError, match="case-insensitively"):
        admin.catalog.create_table("db", "u", {"a": "bigint", "A": "string"}, [])


def test_renaming_onto_a_case_variant_is_refused(
    mesh: meshlake.Mesh, admin: meshlake.Session
) -> None:
    version = mesh.runtime.store.version()
    with pytest.raises(meshlake.ConflictError, match="ssn already exists"):
        admin.catalog.rename_column("db", "t", "id", "SSN")
    _unchanged(mesh, admin, version)
    admin.catalog.rename_column("db", "t", "ssn", "SSN")  # the same column, recased
    assert admin.query("SELECT SSN FROM db.t").to_arrow().column_names == ["SSN"]


def test_evolving_with_a_case_variant_is_refused(
    mesh: meshlake.Mesh, admin: meshlake.Session
) -> None:
    version = mesh.runtime.store.version()
    with pytest.raises(meshlake.InvalidInputError, match="differs only in case from column ssn"):
        admin.catalog.evolve_schema("db", "t", pa.schema([("SSN", pa.string())]))
    with pytest.raises(meshlake.InvalidInputError, match="case-insensitively"):
        admin.catalog.evolve_schema("db", "t", pa.schema([("n", pa.string()), ("N", pa.string())]))
    _unchanged(mesh, admin, version)
