"""Runs every acceptance vector of ``shared/spec/vectors`` and ``$MESHLAKE_EXTRA_VECTORS``.

One case per vector per catalog backend: ``<id>`` on SQLite, ``<id>@postgresql`` on
PostgreSQL. Every step goes through the public Python API; a step with ``error:`` must fail
with that kind and change nothing (store version and audit head unchanged).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import meshlake
from meshlake import errors as E
from meshlake.audit.log import HEAD_KEY
from meshlake.catalog.models import MetaRow
from meshlake.testing import SHARED, PostgresDatabases, postgres_admin_url

KINDS = {
    "access_denied": E.AccessDeniedError,
    "not_found": E.NotFoundError,
    "invalid_input": E.InvalidInputError,
    "invalid_query": E.InvalidQueryError,
    "conflict": E.ConflictError,
}


def vector_files() -> list[Path]:
    """The public vector files plus every ``*.yaml`` of the extra folders."""
    files = sorted((SHARED / "spec" / "vectors").glob("*.yaml"))
    for folder in filter(None, os.environ.get("MESHLAKE_EXTRA_VECTORS", "").split(":")):
        files += sorted(Path(folder).glob("*.yaml"))
    return files


def load_vectors() -> list[dict[str, Any]]:
    """Every vector, checked for a unique id."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in vector_files():
        doc = yaml.safe_load(path.read_text()) or {}
        for vec in doc.get("vectors", []):
            vid = str(vec["id"])
            if vid in seen:
                raise ValueError(f"duplicate vector id {vid} in {path}")
            seen.add(vid)
            out.append(vec)
    return out


VECTORS = load_vectors()
CASES = (
    [pytest.param(v, "sqlite", id=str(v["id"])) for v in VECTORS]
    + [pytest.param(v, "postgresql", id=f"{v['id']}@postgresql") for v in VECTORS]
    + [pytest.param(v, "http", id=f"{v['id']}@http") for v in VECTORS]
)


# ---------------------------------------------------------------- the world
def standard_world(mesh: meshlake.Mesh) -> None:
    """Accounts p, c, d with admins; principals; p's sales.orders; tag domain."""
    root = mesh.bootstrap()
    for account in ("p", "c", "d"):
        root.accounts.create(account)
        root.principals.create(f"{account}/admin")
        root.accounts.set_admins(account, [f"{account}/admin"])
    for p in ("p/u", "p/v", "p/w", "c/u", "c/v"):
        root.principals.create(p)
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table(
        "sales",
        "orders",
        {
            "id": "bigint",
            "region": "varchar",
            "amount": "double",
            "customer_name": "varchar",
            "ssn": "varchar",
        },
        [
            [1, "us", 10.0, "alice", "111"],
            [2, "eu", 20.0, "bob", "222"],
            [3, "us", 30.0, "carol", "333"],
        ],
    )
    admin.tags.create("domain", ["sales", "hr", "finance"])
    admin.tags.assign(meshlake.Database("sales"), {"domain": "sales"})


# ---------------------------------------------------------------- resources
def resource(spec: dict[str, Any]) -> Any:
    """A vector's resource form -> a meshlake resource value."""
    spec = dict(spec)
    account = spec.pop("account", None)
    if spec.pop("catalog", None):
        _no_more(spec, "catalog resource")
        return meshlake.Catalog(account)
    if "tag_policy" in spec:
        tp = spec.pop("tag_policy")
        _no_more(spec, "tag_policy resource")
        return meshlake.TagPolicy(tp["type"], tp["expression"], account=account)
    if "tag" in spec:
        tag = spec.pop("tag")
        _no_more(spec, "tag resource")
        return meshlake.TagKey(tag["key"], tag.get("values"), account=account)
    if "filter" in spec:
        f = dict(spec.pop("filter"))
        _no_more(spec, "filter resource")
        return meshlake.DataFilter(
            f["database"], f["table"], f["name"], account=f.get("account", account)
        )
    if "location" in spec:
        uri = spec.pop("location")
        _no_more(spec, "location resource")
        return meshlake.Location(uri, account)
    database = spec.pop("database")
    if "table" not in spec:
        _no_more(spec, "database resource")
        return meshlake.Database(database, account)
    table = spec.pop("table")
    if "column" in spec:
        column = spec.pop("column")
        _no_more(spec, "column resource")
        return meshlake.Column(database, table, column, account)
    columns = spec.pop("columns", None)
    excluded = spec.pop("excluded_columns", None)
    _no_more(spec, "table resource")
    return meshlake.Table(
        database, table, columns=columns, excluded_columns=excluded, account=account
    )


def _no_more(spec: dict[str, Any], what: str) -> None:
    if spec:
        raise AssertionError(f"unknown field(s) {sorted(spec)} in a {what}")


# ---------------------------------------------------------------- comparing
def _same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=0, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int) and isinstance(actual, int):
        return expected == actual
    return str(expected) == str(actual)


def _rows_equal(expected: list[list[Any]], actual: list[tuple[Any, ...]], ordered: bool) -> bool:
    if len(expected) != len(actual):
        return False
    if ordered:
        return all(
            len(e) == len(a) and all(map(_same, e, a))
            for e, a in zip(expected, actual, strict=True)
        )
    remaining = list(actual)
    for e in expected:
        match = next(
            (i for i, a in enumerate(remaining) if len(a) == len(e) and all(map(_same, e, a))), None
        )
        if match is None:
            return False
        remaining.pop(match)
    return True


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    return [str(value)]


def _matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list):
        return isinstance(actual, (list, tuple)) and Counter(map(str, expected)) == Counter(
            map(str, set(actual))
        )
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(actual, (int, float)) and actual == expected
    return str(expected) == str(actual)


# ---------------------------------------------------------------- steps
class Runner:
    """Executes one vector's steps against a mesh."""

    def __init__(
        self,
        mesh: meshlake.Mesh,
        home: Path,
        warehouse: Path,
        session_of: Callable[[str], Any] | None = None,
    ) -> None:
        self.mesh = mesh
        self.session_of = session_of or mesh.session
        self.places = {"{home}": str(home), "{warehouse}": str(warehouse)}

    def fill(self, value: Any) -> Any:
        """Replace ``{home}`` and ``{warehouse}`` in every string."""
        if isinstance(value, str):
            for k, v in self.places.items():
                value = value.replace(k, v)
            return value
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    def run_step(self, step: dict[str, Any]) -> None:
        step = dict(step)
        actor = step.pop("as")
        error = step.pop("error", None)
        if len(step) != 1:
            raise AssertionError(f"a step needs exactly one action, got {sorted(step)}")
        ((action, args),) = step.items()
        handler: Callable[..., None] | None = getattr(self, f"do_{action}", None)
        if handler is None:
            raise AssertionError(f"unknown step action {action!r}")
        args = self.fill(dict(args or {}))
        session = self.session_of(actor)
        if error is None:
            handler(session, dict(args))
            return
        if error not in KINDS:
            raise AssertionError(f"unknown error kind {error!r}")
        before = self._fingerprint()
        with pytest.raises(KINDS[error]) as info:
            handler(session, dict(args), expect_error=True)
        assert type(info.value) is KINDS[error] or isinstance(info.value, KINDS[error])
        assert self._fingerprint() == before, f"failed step {action} changed the mesh"

    def _fingerprint(self) -> tuple[int, str | None]:
        rt = self.mesh.runtime
        with rt.store.read() as session:
            head = session.get(MetaRow, HEAD_KEY)
            return rt.store.version(), head.value if head else None

    @staticmethod
    def _take(args: dict[str, Any], *names: str) -> list[Any]:
        return [args.pop(n) for n in names]

    @staticmethod
    def _done(args: dict[str, Any], action: str) -> None:
        if args:
            raise AssertionError(f"unknown field(s) {sorted(args)} in step {action}")

    # -- actions ---------------------------------------------------------
    def do_create_database(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        name = a.pop("name")
        location = a.pop("location", None)
        self._done(a, "create_database")
        s.catalog.create_database(name, location=location)

    def do_create_table(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        db, table, columns = self._take(a, "database", "table", "columns")
        rows = a.pop("rows", [])
        location = a.pop("location", None)
        account = a.pop("account", None)
        self._done(a, "create_table")
        s.catalog.create_table(db, table, columns, rows, location=location, account=account)

    def do_register_location(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        uri = a.pop("uri")
        self._done(a, "register_location")
        s.catalog.register_location(uri)

    def do_create_link(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        name, account, database = self._take(a, "name", "account", "database")
        self._done(a, "create_link")
        s.catalog.create_resource_link(name, account=account, database=database)

    def do_create_tag(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        key, values = self._take(a, "key", "values")
        self._done(a, "create_tag")
        s.tags.create(key, [str(v) for v in values])

    def do_update_tag(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        key = a.pop("key")
        add, remove = a.pop("add", []), a.pop("remove", [])
        self._done(a, "update_tag")
        s.tags.update(key, add=[str(v) for v in add], remove=[str(v) for v in remove])

    def do_delete_tag(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        key = a.pop("key")
        self._done(a, "delete_tag")
        s.tags.delete(key)

    def do_assign_tags(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        res, tags = self._take(a, "resource", "tags")
        self._done(a, "assign_tags")
        s.tags.assign(resource(res), {str(k): str(v) for k, v in tags.items()})

    def do_remove_tags(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        res, keys = self._take(a, "resource", "keys")
        self._done(a, "remove_tags")
        s.tags.remove(resource(res), [str(k) for k in keys])

    def do_tags_of(
        self, s: meshlake.Session, a: dict[str, Any], expect_error: bool = False
    ) -> None:
        res = a.pop("resource")
        expect = a.pop("expect", None)
        self._done(a, "tags_of")
        got = s.tags.tags_of(resource(res))
        if not expect_error:
            assert got == {str(k): str(v) for k, v in (expect or {}).items()}

    def do_grant(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        to, res, perms = self._take(a, "to", "resource", "permissions")
        grantable = a.pop("grantable", [])
        self._done(a, "grant")
        s.grant(to, resource(res), perms, grantable)

    def do_revoke(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        frm, res = self._take(a, "from", "resource")
        perms = a.pop("permissions", [])
        grantable = a.pop("grantable", [])
        self._done(a, "revoke")
        s.revoke(frm, resource(res), perms, grantable)

    def do_create_filter(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        db, table, name = self._take(a, "database", "table", "name")
        kwargs = {
            k: a.pop(k)
            for k in ("row_filter", "all_rows", "columns", "excluded_columns", "account")
            if k in a
        }
        self._done(a, "create_filter")
        s.filters.create(db, table, name, **kwargs)

    def do_check(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        action, res, expect = self._take(a, "action", "resource", "expect")
        self._done(a, "check")
        decision = s.decide(action, resource(res))
        assert decision.allowed is bool(expect), f"{action}: {decision.reason}"

    def do_list_tables(
        self, s: meshlake.Session, a: dict[str, Any], expect_error: bool = False
    ) -> None:
        db = a.pop("database")
        account = a.pop("account", None)
        expect = a.pop("expect", None)
        self._done(a, "list_tables")
        got = s.catalog.list_tables(db, account=account)
        if not expect_error:
            assert got == sorted(expect or [])

    def do_get_table(
        self, s: meshlake.Session, a: dict[str, Any], expect_error: bool = False
    ) -> None:
        db, table = self._take(a, "database", "table")
        account = a.pop("account", None)
        expect = a.pop("expect_columns", None)
        self._done(a, "get_table")
        got = s.catalog.get_table(db, table, account=account)
        if not expect_error:
            assert got.column_names == list(expect or [])

    def do_query(self, s: meshlake.Session, a: dict[str, Any], expect_error: bool = False) -> None:
        sql = a.pop("sql")
        columns = a.pop("expect_columns", None)
        rows = a.pop("expect_rows", None)
        forbid = a.pop("forbid_values", None)
        database = a.pop("database", None)
        self._done(a, "query")
        if forbid is not None:
            try:
                result = s.query(sql, database=database)
            except meshlake.MeshError:
                return
            for row in result.rows():
                for text in _texts(list(row)):
                    for bad in forbid:
                        assert str(bad) not in text, f"forbidden value {bad!r} in {row}"
            return
        result = s.query(sql, database=database)
        if expect_error:
            return
        if columns is not None:
            assert list(result.columns) == list(columns)
        if rows is not None:
            ordered = re.search(r"\border\s+by\b", sql, re.IGNORECASE) is not None
            got = result.rows()
            assert _rows_equal(rows, got, ordered), f"expected {rows}, got {got}"

    def do_audit(self, s: meshlake.Session, a: dict[str, Any], **_: Any) -> None:
        expect = a.pop("expect_contains")
        self._done(a, "audit")
        events = [e.to_dict() for e in s.audit()]
        ok = any(all(k in ev and _matches(v, ev[k]) for k, v in expect.items()) for ev in events)
        assert ok, f"no visible audit event contains {expect}; saw {events[-5:]}"


def http_sessions(mesh: meshlake.Mesh) -> Callable[[str], Any]:
    """``@http`` cases: each actor's steps go through the HTTP SDK to the in-process server,
    with a token the mesh root made for it (once, before its first step)."""
    from fastapi.testclient import TestClient

    from meshlake.client import connect as connect_remote
    from meshlake.server import create_app

    app = create_app(mesh)
    sessions: dict[str, Any] = {}

    def session_of(actor: str) -> Any:
        if actor not in sessions:
            token = mesh.session("root").tokens.create(actor, "1h").token
            remote = connect_remote("http://testserver", token=token, client=TestClient(app))
            sessions[actor] = remote.session()
        return sessions[actor]

    return session_of


@pytest.mark.parametrize(("vector", "backend"), CASES)
def test_vector(vector: dict[str, Any], backend: str, tmp_path: Path) -> None:
    """Run one vector from a fresh standard world."""
    url = None
    dbs: PostgresDatabases | None = None
    if backend == "postgresql":
        dbs = PostgresDatabases(postgres_admin_url() or "")
        url = dbs.create()
    home = tmp_path / "home"
    # a server defaults to no unregistered folder at all (rule 29); the vectors name folders
    # as an embedded mesh allows them, so the server of the @http cases allows every root
    roots = ["/"] if backend == "http" else None
    mesh = meshlake.connect(home, catalog_url=url, allowed_roots=roots)
    try:
        standard_world(mesh)
        runner = Runner(
            mesh, home, home / "warehouse", http_sessions(mesh) if backend == "http" else None
        )
        for step in vector["steps"]:
            runner.run_step(step)
    finally:
        mesh.close()
        if dbs is not None:
            dbs.drop_all()
