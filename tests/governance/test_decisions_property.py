"""Property tests: the governance engine agrees with a slow reference model of rules 4-17.

Hypothesis draws random worlds of one account (``p``, admin ``p/admin``, principals
``p/u1..u3``): databases, tables (created by the admin or by ``p/u1``), tag keys, then a random
sequence of tag assignments and removals, key changes, tag-permission, table, column-limited,
wildcard, database and tag-policy grants (by the admin or by users holding grant options) and
revokes. Each operation goes through the public API; the reference model
(``reference_model.py`` + ``reference_replay.py``) says whether the rules allow it, and the
engine must agree (and raise rule 0's kind) wherever the rules decide. At the end every
principal's decisions on every table, database and tag value, its visible and readable columns,
its table listings and the tag values it sees must be the same in both.

``test_found_worlds`` replays worlds the property once found the two disagreeing on, and
``test_inheritance_and_expressions_agree`` checks ``meshlake.governance.tags`` (rules 12, 13)
against the reference functions directly. Set ``MESHLAKE_SHRINK=1`` to shrink a failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import meshlake
from meshlake import (
    AccessDeniedError,
    Column,
    ConflictError,
    Database,
    InvalidInputError,
    MeshError,
    NotFoundError,
    Table,
    TagKey,
    TagPolicy,
)
from meshlake.governance import tags as engine_tags
from meshlake.governance.state import DbInfo, GovernanceState, TableInfo

from .found_worlds import FOUND
from .reference_model import ReferenceModel, effective_tags, expression_matches
from .reference_ops import (
    AddValue,
    Assign,
    ColumnTarget,
    CreateKey,
    DatabaseRes,
    DbTarget,
    DeleteKey,
    Grant,
    GrantResource,
    Op,
    PolicyRes,
    RemoveValue,
    TableRes,
    TableTarget,
    TagTarget,
    Unassign,
    Verdict,
    WildcardRes,
)
from .reference_replay import apply, check
from .world_strategies import ADMIN, COLUMNS, PRINCIPALS, VALUES, World, worlds

TABLE_ACTIONS = ("SELECT", "DESCRIBE", "INSERT", "ALTER", "DROP", "DELETE")
DATABASE_ACTIONS = ("DESCRIBE", "CREATE_TABLE", "ALTER", "DROP")
VALUE_ACTIONS = ("ASSOCIATE", "DESCRIBE", "GRANT_WITH_TAG_EXPRESSION")
ERRORS: dict[str, type[MeshError]] = {
    "not_found": NotFoundError,
    "invalid_input": InvalidInputError,
    "access_denied": AccessDeniedError,
    "conflict": ConflictError,
}


# ---------------------------------------------------------------------------- replay
def _resource(res: GrantResource) -> Any:
    if isinstance(res, TableRes):
        return Table(res.db, res.table, columns=res.columns, excluded_columns=res.excluded)
    if isinstance(res, WildcardRes):
        return Table(res.db, "*")
    if isinstance(res, DatabaseRes):
        return Database(res.db)
    if isinstance(res, PolicyRes):
        return TagPolicy(res.resource_type, dict(res.expression))
    return TagKey(res.key, res.values)


def _target(t: TagTarget) -> Any:
    if isinstance(t, DbTarget):
        return Database(t.db)
    if isinstance(t, TableTarget):
        return Table(t.db, t.table)
    return Column(t.db, t.table, t.column)


def _execute(sessions: dict[str, meshlake.Session], op: Op) -> None:
    s = sessions[op.actor]
    if isinstance(op, CreateKey):
        s.tags.create(op.key, list(op.values))
    elif isinstance(op, DeleteKey):
        s.tags.delete(op.key)
    elif isinstance(op, AddValue):
        s.tags.update(op.key, add=[op.value])
    elif isinstance(op, RemoveValue):
        s.tags.update(op.key, remove=[op.value])
    elif isinstance(op, Assign):
        s.tags.assign(_target(op.target), {op.key: op.value})
    elif isinstance(op, Unassign):
        s.tags.remove(_target(op.target), [op.key])
    elif isinstance(op, Grant):
        s.grant(op.grantee, _resource(op.resource), list(op.permissions), list(op.grantable))
    else:
        s.revoke(op.grantee, _resource(op.resource), list(op.permissions), list(op.grantable))


def _replay(sessions: dict[str, meshlake.Session], model: ReferenceModel, op: Op) -> None:
    """Run ``op`` on both sides; the engine must obey every verdict the rules fix."""
    verdict: Verdict = check(model, op)
    error: MeshError | None = None
    try:
        _execute(sessions, op)
    except MeshError as exc:
        error = exc
    if verdict.valid is True:
        assert error is None, f"{op}: the rules allow it ({verdict.why}), engine: {error!r}"
    elif verdict.valid is False:
        assert error is not None, f"{op}: the rules forbid it ({verdict.why}), engine accepted"
        if verdict.error is not None:
            assert isinstance(error, ERRORS[verdict.error]), (
                f"{op}: rule 0 wants {verdict.error} ({verdict.why}), engine: {error!r}"
            )
    if currently_in_test_context():
        event(f"{type(op).__name__}: {'ok' if error is None else type(error).__name__}")
        if verdict.valid is None:
            event(verdict.why)
    if error is None:
        apply(model, op)


def _build(world: World, mesh: meshlake.Mesh) -> ReferenceModel:
    """Create ``world`` in ``mesh`` and in a reference model, replaying every operation."""
    root = mesh.bootstrap()
    root.accounts.create("p")
    for p in PRINCIPALS:
        root.principals.create(p)
    root.accounts.set_admins("p", [ADMIN])
    model = ReferenceModel([ADMIN])
    sessions = {p: mesh.session(p) for p in PRINCIPALS}
    for db in world.databases:
        sessions[ADMIN].catalog.create_database(db)
        model.add_database(db, ADMIN)
    for key, values in world.keys:
        _replay(sessions, model, CreateKey(key, values))
    for db, t, cols, creator in world.tables:
        if model.check_create_table(creator, db).valid is not True:
            _replay(sessions, model, Grant(ADMIN, creator, DatabaseRes(db), ("CREATE_TABLE",)))
        assert model.check_create_table(creator, db).valid is True
        sessions[creator].catalog.create_table(db, t, dict.fromkeys(cols, "int"), [])
        model.add_table(db, t, cols, creator)
    for op in world.ops:
        _replay(sessions, model, op)
    return model


# ---------------------------------------------------------------------------- observation
def _or_none(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except NotFoundError:
        return None


class _Answers(Protocol):
    """The questions asked of both the engine and the model."""

    def table(self, p: str, db: str, t: str, action: str) -> bool: ...
    def readable(self, p: str, db: str, t: str, cols: tuple[str, ...]) -> frozenset[str]: ...
    def columns(self, p: str, db: str, t: str) -> list[str] | None: ...
    def database(self, p: str, db: str, action: str) -> bool: ...
    def list_tables(self, p: str, db: str) -> list[str] | None: ...
    def tag_keys(self) -> list[tuple[str, tuple[str, ...]]]: ...
    def tag(self, p: str, key: str, value: str | None, action: str) -> bool: ...
    def tags_of(self, p: str, target: TagTarget) -> dict[str, str] | None: ...


def _observe(world: World, ask: _Answers) -> dict[tuple[Any, ...], Any]:
    """Every question of the comparison, answered by ``ask`` (engine or model adapter)."""
    out: dict[tuple[Any, ...], Any] = {}
    targets: list[TagTarget] = [DbTarget(db) for db in world.databases]
    for p in PRINCIPALS:
        for db, t, cols, _ in world.tables:
            for action in TABLE_ACTIONS:
                out[(p, db, t, action)] = ask.table(p, db, t, action)
            out[(p, db, t, "readable")] = ask.readable(p, db, t, cols)
            out[(p, db, t, "get_table")] = ask.columns(p, db, t)
            targets += [TableTarget(db, t)] + [ColumnTarget(db, t, c) for c in cols]
        for db in world.databases:
            for action in DATABASE_ACTIONS:
                out[(p, db, action)] = ask.database(p, db, action)
            out[(p, db, "list_tables")] = ask.list_tables(p, db)
        for key, values in ask.tag_keys():
            for action in VALUE_ACTIONS:
                for v in (*values, None):
                    out[(p, key, v, action)] = ask.tag(p, key, v, action)
            for action in ("ALTER", "DROP"):
                out[(p, key, action)] = ask.tag(p, key, None, action)
        for target in dict.fromkeys(targets):
            out[(p, target, "tags_of")] = ask.tags_of(p, target)
    out[("keys",)] = ask.tag_keys()
    return out


class _Engine:
    def __init__(self, mesh: meshlake.Mesh) -> None:
        self.s = {p: mesh.session(p) for p in PRINCIPALS}

    def table(self, p: str, db: str, t: str, action: str) -> bool:
        return self.s[p].decide(action, Table(db, t)).allowed

    def readable(self, p: str, db: str, t: str, cols: tuple[str, ...]) -> frozenset[str]:
        return frozenset(c for c in cols if self.s[p].decide("SELECT", Table(db, t, [c])).allowed)

    def columns(self, p: str, db: str, t: str) -> list[str] | None:
        return _or_none(lambda: self.s[p].catalog.get_table(db, t).column_names)

    def database(self, p: str, db: str, action: str) -> bool:
        return self.s[p].decide(action, Database(db)).allowed

    def list_tables(self, p: str, db: str) -> list[str] | None:
        return _or_none(lambda: self.s[p].catalog.list_tables(db))

    def tag_keys(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(k.key, tuple(k.values)) for k in self.s[ADMIN].tags.list()]

    def tag(self, p: str, key: str, value: str | None, action: str) -> bool:
        values = None if value is None else [value]
        return self.s[p].decide(action, TagKey(key, values)).allowed

    def tags_of(self, p: str, target: TagTarget) -> dict[str, str] | None:
        return _or_none(lambda: self.s[p].tags.tags_of(_target(target)))


class _Model:
    def __init__(self, model: ReferenceModel) -> None:
        self.m = model

    def table(self, p: str, db: str, t: str, action: str) -> bool:
        return self.m.decide_table(p, db, t, action)

    def readable(self, p: str, db: str, t: str, cols: tuple[str, ...]) -> frozenset[str]:
        return frozenset(self.m.readable_columns(p, db, t))

    def columns(self, p: str, db: str, t: str) -> list[str] | None:
        return self.m.shown_columns(p, db, t)

    def database(self, p: str, db: str, action: str) -> bool:
        return self.m.decide_database(p, db, action)

    def list_tables(self, p: str, db: str) -> list[str] | None:
        return self.m.list_tables(p, db)

    def tag_keys(self) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((k, tuple(sorted(vals))) for k, (_, vals) in self.m.keys.items())

    def tag(self, p: str, key: str, value: str | None, action: str) -> bool:
        return self.m.decide_tag(p, key, None if value is None else [value], action)

    def tags_of(self, p: str, target: TagTarget) -> dict[str, str] | None:
        return self.m.visible_tags(p, target)


# ---------------------------------------------------------------------------- properties
def _agree(world: World) -> None:
    """Build ``world`` on both sides and compare every answer."""
    with tempfile.TemporaryDirectory() as home:
        mesh = meshlake.connect(home)
        try:
            model = _build(world, mesh)
            engine_view = _observe(world, _Engine(mesh))
            model_view = _observe(world, _Model(model))
        finally:
            mesh.close()
    diff = [
        f"{q}: engine {engine_view.get(q)!r}, rules {model_view.get(q)!r}"
        for q in dict.fromkeys([*model_view, *engine_view])
        if engine_view.get(q) != model_view.get(q)
    ]
    assert not diff, f"{len(diff)} disagreements:\n" + "\n".join(diff[:20])


# One example costs about a second, so shrinking a failure takes minutes: it is off unless
# MESHLAKE_SHRINK=1 (the failing world is printed whole either way).
PHASES = (
    tuple(Phase)
    if os.environ.get("MESHLAKE_SHRINK") == "1"
    else tuple(p for p in Phase if p is not Phase.shrink)
)


@settings(
    max_examples=30,
    deadline=None,
    phases=PHASES,
    suppress_health_check=list(HealthCheck),
)
@given(worlds())
def test_engine_agrees_with_reference_model(world: World) -> None:
    """Every (principal, action, resource) is decided as rules 4-17 say."""
    _agree(world)


@pytest.mark.parametrize("world", [w for _, w in FOUND], ids=[i for i, _ in FOUND])
def test_found_worlds(world: World) -> None:
    """Worlds the property once found the engine and the rules disagree on."""
    _agree(world)


@st.composite
def tagged_tables(draw: Callable[..., Any]) -> tuple[Any, ...]:
    """A database, a table and its columns with random tags, and random expressions."""
    tags = st.dictionaries(st.integers(1, 3), st.sampled_from(VALUES), max_size=3)
    cols = COLUMNS[: draw(st.integers(1, 4))]
    values = st.one_of(
        st.just(("*",)),
        st.lists(st.sampled_from((*VALUES, "*")), min_size=1, max_size=3).map(tuple),
    )
    exprs = st.lists(
        st.dictionaries(st.integers(1, 4), values, min_size=1, max_size=3).map(
            lambda d: tuple(d.items())
        ),
        min_size=1,
        max_size=4,
    )
    return cols, draw(tags), draw(tags), {c: draw(tags) for c in cols}, draw(exprs)


@settings(max_examples=300, deadline=None)
@given(tagged_tables())
def test_inheritance_and_expressions_agree(case: tuple[Any, ...]) -> None:
    """Rules 12 and 13: effective tags and matching, engine functions against the reference."""
    cols, db_tags, table_tags, column_tags, expressions = case
    state = GovernanceState()
    state.databases[1] = DbInfo(1, "p", "d", None, ADMIN)
    state.tables[1] = TableInfo(1, 1, "t", ADMIN, "mem://t", cols, tuple(range(len(cols))))
    state.db_tags[1] = db_tags
    state.table_tags[1] = table_tags
    state.column_tags[1] = {c: tags for c, tags in column_tags.items() if tags}
    expected_table = effective_tags(db_tags, table_tags)
    assert engine_tags.table_tags(state, 1) == expected_table
    for c in cols:
        assert engine_tags.column_tags(state, 1, c) == effective_tags(
            db_tags, table_tags, column_tags[c]
        )
    for expr in expressions:
        for tags in (
            db_tags,
            expected_table,
            *(engine_tags.column_tags(state, 1, c) for c in cols),
        ):
            assert engine_tags.expression_matches(expr, tags) == expression_matches(expr, tags)
        assert engine_tags.matching_columns(state, 1, expr) == [
            c
            for c in cols
            if expression_matches(expr, effective_tags(db_tags, table_tags, column_tags[c]))
        ]
