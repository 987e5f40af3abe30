"""Property test: a state brought up to date from the change log equals a full load.

Hypothesis draws sequences of raw row writes on every governance table (accounts, principals,
admins, databases, tables, columns, locations, tag keys, values and assignments, filters,
grants, model groups: inserts, updates, deletes and the cascades they cause), grouped into
transactions. After each transaction the engine's state (updated from the change log) must
equal a fresh full load of the store; inside a transaction, a pending snapshot
(``load_pending``) must equal a full load of that transaction's own session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import meshlake
from meshlake.catalog.ml_models import ModelGroupRow
from meshlake.catalog.models import (
    AccountAdminRow,
    AccountRow,
    ColumnRow,
    DatabaseRow,
    FilterRow,
    GrantRow,
    LocationRow,
    PrincipalRow,
    TableRow,
    TagAssignmentRow,
    TagKeyRow,
    TagValueRow,
)
from meshlake.governance.loading import load_state
from meshlake.governance.state import GovernanceState

from .state_compare import contents, full_load

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNTS = ("a", "b")
NAMES = ("x", "y", "z")
VALUES = ("v1", "v2", "v3")


@pytest.fixture(scope="module")
def store_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[meshlake.Mesh]:
    home: Path = tmp_path_factory.mktemp("incremental") / "home"
    mesh = meshlake.connect(home)
    mesh.bootstrap()
    yield mesh
    mesh.close()


def _pick(session: Session, column: Any, n: int) -> Any:
    """The ``n``-th existing value of ``column`` (modulo their count), None when none."""
    values = sorted(session.scalars(select(column)).all(), key=str)
    return values[n % len(values)] if values else None


def _write(session: Session, op: str, n: int, m: int) -> None:
    """One row write of kind ``op``; ``n`` and ``m`` choose its targets and values."""
    name, value = NAMES[m % 3], VALUES[m % 3]
    account = ACCOUNTS[n % 2]
    if op == "account":
        if session.get(AccountRow, account) is None:
            session.add(AccountRow(name=account, created_at=NOW))
    elif op == "principal":
        pid = f"{account}/{name}"
        if session.get(AccountRow, account) is not None and session.get(PrincipalRow, pid) is None:
            session.add(PrincipalRow(id=pid, account=account, name=name, created_at=NOW))
    elif op == "admins":
        session.execute(delete(AccountAdminRow).where(AccountAdminRow.account == account))
        pid = _pick(session, PrincipalRow.id, m)
        if pid is not None and pid.startswith(account + "/"):
            session.add(AccountAdminRow(account=account, principal=pid))
    elif op == "database":
        if session.get(AccountRow, account) is not None:
            exists = session.scalars(
                select(DatabaseRow).where(DatabaseRow.account == account, DatabaseRow.name == name)
            ).first()
            if exists is None:
                session.add(
                    DatabaseRow(account=account, name=name, creator=f"{account}/x", created_at=NOW)
                )
    elif op == "database_alter":
        db = session.get(DatabaseRow, _pick(session, DatabaseRow.id, n) or 0)
        if db is not None:
            db.description, db.location = f"d{m}", (None if m % 2 else f"file:///l{m}")
    elif op == "database_drop":
        db = session.get(DatabaseRow, _pick(session, DatabaseRow.id, n) or 0)
        if db is not None:
            session.delete(db)
    elif op == "table":
        db_id = _pick(session, DatabaseRow.id, n)
        if db_id is not None:
            tname = f"t{m % 5}"
            exists = session.scalars(
                select(TableRow).where(TableRow.database_id == db_id, TableRow.name == tname)
            ).first()
            if exists is None:
                t = TableRow(
                    database_id=db_id,
                    name=tname,
                    creator=f"{ACCOUNTS[m % 2]}/y",
                    location=f"file:///w/{db_id}/{tname}",
                    iceberg_id=f"i{db_id}.{tname}",
                    properties={},
                    created_at=NOW,
                )
                session.add(t)
                session.flush()
                for i in range(m % 4):
                    session.add(
                        ColumnRow(table_id=t.id, position=i, name=f"c{i}", type="int", field_id=i)
                    )
    elif op == "table_rename":
        t = session.get(TableRow, _pick(session, TableRow.id, n) or 0)
        new = f"t{m % 5}_{n % 3}"
        if (
            t is not None
            and session.scalars(
                select(TableRow.id).where(
                    TableRow.database_id == t.database_id, TableRow.name == new
                )
            ).first()
            is None
        ):
            t.name = new
    elif op == "table_drop":
        t = session.get(TableRow, _pick(session, TableRow.id, n) or 0)
        if t is not None:
            session.delete(t)
    elif op == "column":
        tid = _pick(session, TableRow.id, n)
        if tid is not None:
            names = set(session.scalars(select(ColumnRow.name).where(ColumnRow.table_id == tid)))
            cname = f"k{m % 7}"
            if cname not in names:
                session.add(
                    ColumnRow(table_id=tid, position=m % 9, name=cname, type="str", field_id=m)
                )
    elif op == "column_rename":
        c = session.get(ColumnRow, _pick(session, ColumnRow.id, n) or 0)
        if c is not None:
            taken = set(
                session.scalars(select(ColumnRow.name).where(ColumnRow.table_id == c.table_id))
            )
            new = f"r{m % 11}"
            if new not in taken:
                c.name, c.position = new, m % 9
    elif op == "column_drop":
        c = session.get(ColumnRow, _pick(session, ColumnRow.id, n) or 0)
        if c is not None:
            session.delete(c)
    elif op == "location":
        if session.get(AccountRow, account) is not None:
            uri = f"file:///loc/{name}"
            exists = session.scalars(
                select(LocationRow).where(LocationRow.account == account, LocationRow.uri == uri)
            ).first()
            if exists is None:
                session.add(LocationRow(account=account, uri=uri, registered_by=f"{account}/x"))
            else:
                session.delete(exists)
    elif op == "tag_key":
        if session.get(AccountRow, account) is not None:
            exists = session.scalars(
                select(TagKeyRow).where(TagKeyRow.account == account, TagKeyRow.key == name)
            ).first()
            if exists is None:
                key = TagKeyRow(account=account, key=name, creator=f"{account}/x")
                session.add(key)
                session.flush()
                session.add(TagValueRow(key_id=key.id, value=value))
            elif m % 4 == 0:
                session.delete(exists)
    elif op == "tag_value":
        kid = _pick(session, TagKeyRow.id, n)
        if kid is not None:
            row = session.get(TagValueRow, (kid, value))
            if row is None:
                session.add(TagValueRow(key_id=kid, value=value))
            else:
                session.delete(row)
    elif op == "assign":
        kind = ("database", "table", "column")[m % 3]
        column = {"database": DatabaseRow.id, "table": TableRow.id, "column": ColumnRow.id}[kind]
        target, kid = _pick(session, column, n), _pick(session, TagKeyRow.id, m)
        if target is not None and kid is not None:
            row = session.scalars(
                select(TagAssignmentRow).where(
                    TagAssignmentRow.kind == kind,
                    TagAssignmentRow.target_id == target,
                    TagAssignmentRow.key_id == kid,
                )
            ).first()
            if row is None:
                session.add(TagAssignmentRow(kind=kind, target_id=target, key_id=kid, value=value))
            elif n % 2:
                row.value = value
            else:
                session.delete(row)
    elif op == "filter":
        tid = _pick(session, TableRow.id, n)
        if tid is not None:
            row = session.scalars(
                select(FilterRow).where(FilterRow.table_id == tid, FilterRow.name == name)
            ).first()
            if row is None:
                session.add(
                    FilterRow(
                        table_id=tid,
                        name=name,
                        row_filter=None if m % 2 else f"c0 = {m}",
                        columns=["c0"] if m % 3 == 0 else None,
                        excluded_columns=None,
                        creator=f"{account}/x",
                        created_at=NOW,
                    )
                )
            elif m % 2:
                row.row_filter = f"c1 = {m}"
            else:
                session.delete(row)
    elif op == "grant":
        grantee = _pick(session, PrincipalRow.id, n)
        kind = ("table", "database", "tag_policy", "filter")[m % 4]
        column = {
            "table": TableRow.id,
            "database": DatabaseRow.id,
            "tag_policy": TagKeyRow.id,
            "filter": FilterRow.id,
        }[kind]
        target = _pick(session, column, m)
        if grantee is not None and target is not None:
            spec = {"expression": [[target, [value]]]} if kind == "tag_policy" else {}
            target_id = 0 if kind == "tag_policy" else target
            row = session.scalars(
                select(GrantRow).where(
                    GrantRow.grantee == grantee,
                    GrantRow.kind == kind,
                    GrantRow.target_id == target_id,
                )
            ).first()
            if row is None:
                session.add(
                    GrantRow(
                        grantee=grantee,
                        kind=kind,
                        target_account=ACCOUNTS[m % 2],
                        target_id=target_id,
                        spec_key=str(spec),
                        spec=spec,
                        permissions=["SELECT"] if n % 2 else ["SELECT", "DESCRIBE"],
                        grantable=[],
                        grantor=f"{ACCOUNTS[m % 2]}/x",
                        created_at=NOW,
                    )
                )
            elif n % 3:
                row.permissions = ["ALTER"] if row.permissions == ["SELECT"] else ["SELECT"]
            else:
                session.delete(row)
    elif op == "model_group" and session.get(AccountRow, account) is not None:
        row = session.scalars(
            select(ModelGroupRow).where(
                ModelGroupRow.account == account, ModelGroupRow.name == name
            )
        ).first()
        if row is None:
            session.add(
                ModelGroupRow(account=account, name=name, creator=f"{account}/x", created_at=NOW)
            )
        else:
            session.delete(row)


OPS = (
    "account",
    "principal",
    "admins",
    "database",
    "database_alter",
    "database_drop",
    "table",
    "table_rename",
    "table_drop",
    "column",
    "column_rename",
    "column_drop",
    "location",
    "tag_key",
    "tag_value",
    "assign",
    "filter",
    "grant",
    "model_group",
)
WRITE = st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50))
SETUP = [
    (op, n, m)
    for op in ("account", "principal", "admins", "database", "table", "tag_key", "tag_value")
    for n in range(2)
    for m in range(3, 6)
]
"""A first transaction giving every kind of write something to act on."""


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(transactions=st.lists(st.lists(WRITE, min_size=1, max_size=4), min_size=1, max_size=8))
def test_the_updated_state_equals_a_full_load(
    store_mesh: meshlake.Mesh, transactions: list[list[tuple[str, int, int]]]
) -> None:
    store, engine = store_mesh.runtime.store, store_mesh.runtime.engine
    for transaction in [SETUP, *transactions]:
        engine.state()  # the state the next change is applied to
        with store.transaction(bump=False) as session:
            for op, n, m in transaction:
                _write(session, op, n, m)
            session.flush()
            if transaction is not SETUP and transaction[0][1] % 5 == 0:
                base = engine.state()
                pending = engine.load_pending(session, store.bump_pending(), base)
                whole = load_state(GovernanceState(), session, None)
                assert contents(pending) == contents(whole)
        st_ = engine.state()
        assert st_.changes_read is not None  # updated, not loaded whole
        assert contents(st_) == contents(full_load(store_mesh))
