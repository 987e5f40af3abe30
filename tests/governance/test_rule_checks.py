"""Rules that no acceptance vector exercises through the public API on their own."""

from __future__ import annotations

import pytest

import meshlake
from meshlake import AccessDeniedError, Table


def test_writes_need_insert_and_delete(mesh: meshlake.Mesh) -> None:
    """Rule 9: appending needs INSERT; overwriting (which deletes rows) needs DELETE too."""
    root = mesh.bootstrap()
    root.accounts.create("p")
    for name in ("p/admin", "p/u"):
        root.principals.create(name)
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint"}, [[1]])
    u = mesh.session("p/u")
    admin.grant("p/u", Table("db", "t"), ["SELECT"])
    with pytest.raises(AccessDeniedError):
        u.catalog.append("db", "t", [[2]])
    admin.grant("p/u", Table("db", "t"), ["INSERT"])
    u.catalog.append("db", "t", [[2]])
    with pytest.raises(AccessDeniedError):
        u.catalog.overwrite("db", "t", [[3]])
    admin.grant("p/u", Table("db", "t"), ["DELETE"])
    u.catalog.overwrite("db", "t", [[3]])
    assert u.query("SELECT id FROM db.t").rows() == [(3,)]
