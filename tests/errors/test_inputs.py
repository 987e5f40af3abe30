"""Arguments of the wrong shape, and values that silently went wrong, are input errors that
name the parameter or column; a refused call changes nothing."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from tests.errors.conftest import audit_size, row_count

import meshlake
from meshlake.governance.filters import compile_row_filter
from meshlake.governance.permissions import Action
from meshlake.resources import Column, Table


def _admin(mesh: meshlake.Mesh) -> meshlake.Session:
    return mesh.session("p/admin")


def test_columns_as_a_dataframe_or_a_list_name_the_parameter(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    before = audit_size(world)
    for columns in (pd.DataFrame({"id": [1]}), ["id"]):
        with pytest.raises(meshlake.InvalidInputError, match=r"columns must be a dict") as err:
            admin.catalog.create_table("db", "u", columns=columns)  # type: ignore[arg-type]
        assert err.value.details["parameter"] == "columns"
    with pytest.raises(meshlake.InvalidInputError, match=r"from_pandas"):
        admin.catalog.create_table("db", "u", data=pd.DataFrame({"id": [1]}))  # type: ignore[arg-type]
    with pytest.raises(meshlake.InvalidInputError, match=r"data must be a pyarrow.Table"):
        admin.catalog.append("db", "t", data=pd.DataFrame({"id": [2]}))  # type: ignore[arg-type]
    assert admin.catalog.list_tables("db") == ["t"]
    assert audit_size(world) == before


def test_tags_given_the_wrong_shape(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    with pytest.raises(meshlake.InvalidInputError, match=r"values must be a list") as err:
        admin.tags.create("k", "abc")  # type: ignore[arg-type]
    assert err.value.details["parameter"] == "values"
    assert [t.key for t in admin.tags.list()] == []
    admin.tags.create("k", ["abc"])
    with pytest.raises(meshlake.InvalidInputError, match=r"tags must be a dict") as err:
        admin.tags.assign(Table("db", "t"), ["abc"])  # type: ignore[arg-type]
    assert err.value.details["parameter"] == "tags"
    with pytest.raises(meshlake.InvalidInputError, match=r"keys must be a list"):
        admin.tags.remove(Table("db", "t"), "k")  # type: ignore[arg-type]
    with pytest.raises(meshlake.InvalidInputError, match=r"add must be a list"):
        admin.tags.update("k", add="xyz")  # type: ignore[arg-type]
    assert admin.tags.list()[0].values == ("abc",)


def test_tags_on_an_invisible_resource_are_not_found_first(world: meshlake.Mesh) -> None:
    """Rule 0: NotFoundError before InvalidInputError."""
    with pytest.raises(meshlake.NotFoundError):
        _admin(world).tags.assign(Table("db", "missing"), ["abc"])  # type: ignore[arg-type]


def test_out_of_range_bigint_names_the_column(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    with pytest.raises(meshlake.InvalidInputError, match=r"column id") as err:
        admin.catalog.append("db", "t", [[2**70, "x"]])
    assert err.value.details["column"] == "id"
    with pytest.raises(meshlake.InvalidInputError, match=r"column n"):
        admin.catalog.create_table("db", "u", {"s": "varchar", "n": "bigint"}, [["a", -(2**64)]])
    assert admin.catalog.list_tables("db") == ["t"]
    assert row_count(world) == 1


def test_an_extra_column_is_refused_not_dropped(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    extra = pa.table({"id": [2], "s": ["b"], "note": ["lost?"]})
    with pytest.raises(meshlake.InvalidInputError, match=r"note.*evolve") as err:
        admin.catalog.append("db", "t", data=extra)
    assert err.value.details["column"] == "note"
    assert "db.t" in err.value.message
    assert row_count(world) == 1
    admin.catalog.evolve_schema("db", "t", pa.schema([("note", pa.string())]))
    admin.catalog.append("db", "t", data=extra)
    assert admin.query("SELECT note FROM db.t WHERE id = 2").rows() == [("lost?",)]


def test_a_column_missing_from_the_rows_is_named(world: meshlake.Mesh) -> None:
    with pytest.raises(meshlake.InvalidInputError, match=r"lack column s"):
        _admin(world).catalog.append("db", "t", data=pa.table({"id": [2]}))
    assert row_count(world) == 1


@pytest.mark.parametrize("type_name", ["decimal(5,9)", "decimal(40,2)", "numeric(0)"])
def test_impossible_decimals_are_refused(world: meshlake.Mesh, type_name: str) -> None:
    admin = _admin(world)
    with pytest.raises(meshlake.InvalidInputError, match=r"scale <= precision <= 38"):
        admin.catalog.create_table("db", "d", {"x": type_name})
    assert admin.catalog.list_tables("db") == ["t"]


def test_largest_decimal_still_works(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    admin.catalog.create_table("db", "d", {"x": "decimal(38,38)", "y": "decimal(9,0)"})
    assert admin.query("SELECT count(*) FROM db.d").rows() == [(0,)]


@pytest.mark.parametrize(
    "text", ["id > 0 -- everyone, for now", "id > 0 /* temporary */", "/* x */ id > 0"]
)
def test_row_filters_with_comments_are_refused(world: meshlake.Mesh, text: str) -> None:
    admin = _admin(world)
    with pytest.raises(meshlake.InvalidInputError, match=r"comment"):
        admin.filters.create("db", "t", "f", row_filter=text)
    assert admin.filters.list("db", "t") == []


def test_dashes_inside_a_string_are_not_a_comment() -> None:
    assert compile_row_filter("s = '--x'", {"s": "VARCHAR"}) == "\"s\" = '--x'"


def test_filter_columns_given_as_a_string(world: meshlake.Mesh) -> None:
    with pytest.raises(meshlake.InvalidInputError, match=r"columns must be a list"):
        _admin(world).filters.create("db", "t", "f", all_rows=True, columns="id")  # type: ignore[arg-type]


def test_unknown_actions_are_input_errors(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    for action in ("FLY", "", "SELECT2"):
        with pytest.raises(meshlake.InvalidInputError, match=r"unknown action"):
            admin.decide(action, Table("db", "t"))
    with pytest.raises(meshlake.InvalidInputError, match=r"unknown action"):
        admin.check("FLY", Column("db", "t", "id"))
    assert admin.decide("select", Table("db", "t")).allowed  # strings, any case, still work
    assert admin.decide(Action.SELECT, Table("db", "t")).allowed
    assert not admin.decide("CREATE_TABLE", Table("db", "t")).allowed  # real name, wrong kind
    # never an error for visibility (rule 0): a missing table is simply not allowed
    assert not admin.decide("SELECT", Table("db", "missing")).allowed


def test_asking_about_another_principal_follows_rule_0s_order(world: meshlake.Mesh) -> None:
    """NotFound (unknown principal), then InvalidInput (the action), then AccessDenied."""
    root = world.session("root")
    root.accounts.create("q")
    root.principals.create("q/u")
    root.principals.create("p/u")
    u = world.session("p/u")
    for ask in (u.decide, u.explain):
        with pytest.raises(meshlake.NotFoundError):
            ask("FLY", Table("db", "t"), principal="q/nobody")
        with pytest.raises(meshlake.InvalidInputError, match="unknown action"):
            ask("FLY", Table("db", "t"), principal="q/u")
        with pytest.raises(meshlake.AccessDeniedError):
            ask("SELECT", Table("db", "t"), principal="q/u")
    admin = _admin(world)
    with pytest.raises(meshlake.InvalidInputError, match="unknown action"):
        admin.explain("FLY", Table("db", "t"), principal="p/u")
    assert not admin.decide("SELECT", Table("db", "t"), principal="p/u").allowed


@pytest.mark.parametrize(
    "field",
    [
        pa.field("u", pa.sparse_union([pa.field("a", pa.int32())])),
        pa.field("st", pa.struct([("q", pa.int32())])),
        pa.field("l", pa.list_(pa.int64())),
        pa.field("m", pa.map_(pa.string(), pa.int64())),
        pa.field("du", pa.duration("s")),
        pa.field("n", pa.null()),
        pa.field("id", pa.string()),  # not a widening of bigint
        pa.field("s", pa.int64()),  # not a widening of varchar
    ],
    ids=lambda f: f"{f.name}:{f.type}",
)
def test_a_schema_change_that_cannot_be_stored_or_read_changes_nothing(
    world: meshlake.Mesh, field: pa.Field
) -> None:
    from meshlake.catalog.models import IntentRow

    admin = _admin(world)
    before = admin.catalog.describe_table("db", "t")
    events = audit_size(world)
    with pytest.raises(meshlake.InvalidInputError):
        admin.catalog.evolve_schema("db", "t", pa.schema([field]))
    after = admin.catalog.describe_table("db", "t")
    assert after.columns == before.columns and after.schema_history == before.schema_history
    assert audit_size(world) == events
    assert admin.query("SELECT id, s FROM db.t").rows() == [(1, "a")]
    with world.runtime.store.read() as session:  # the change's intent ended, rolled back
        assert {r.state for r in session.query(IntentRow).all()} <= {"done", "rolled_back"}
    admin.catalog.evolve_schema("db", "t", pa.schema([("ok", pa.float64())]))  # still alters
    assert [c["name"] for c in admin.catalog.get_table("db", "t").columns] == ["id", "s", "ok"]


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1], pa.duration("s")),
        pa.array([None], pa.null()),
        pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1], pa.int32())]),
        pa.array([{"q": 1}]),
        pa.array([[1, 2]]),
    ],
    ids=lambda c: str(c.type),
)
def test_a_table_of_a_type_that_cannot_be_stored_or_read_is_not_created(
    world: meshlake.Mesh, column: pa.Array
) -> None:
    admin = _admin(world)
    events = audit_size(world)
    with pytest.raises(meshlake.InvalidInputError):
        admin.catalog.create_table("db", "odd", data=pa.table({"id": [1], "c": column}))
    assert admin.catalog.list_tables("db") == ["t"] and audit_size(world) == events
    admin.catalog.create_table("db", "odd", data=pa.table({"id": [1]}))  # the name is free
    assert admin.query("SELECT id FROM db.odd").rows() == [(1,)]


def test_a_column_named_by_a_grant_or_filter_is_not_renamed(world: meshlake.Mesh) -> None:
    """Grants and data filters name columns by name: renaming one would take a hidden column
    out of an exclude list (showing it) or break a row filter. Refused, nothing changes."""
    admin = _admin(world)
    root = world.session("root")
    for p in ("p/inc", "p/exc"):
        root.principals.create(p)
    admin.catalog.evolve_schema("db", "t", pa.schema([("ssn", pa.string()), ("n", pa.int64())]))
    admin.grant("p/inc", Table("db", "t", columns=["id"]), ["SELECT"])
    admin.grant("p/exc", Table("db", "t", excluded_columns=["ssn"]), ["SELECT"])
    admin.filters.create("db", "t", "small", row_filter="n < 10", all_rows=False)
    cases = {
        "id": "grants to p/inc",
        "ssn": "grants to p/exc",
        "n": "data filters small",
    }
    for column, named in cases.items():
        with pytest.raises(meshlake.ConflictError, match=named):
            admin.catalog.rename_column("db", "t", column, "renamed")
    assert [c["name"] for c in admin.catalog.get_table("db", "t").columns] == [
        "id",
        "s",
        "ssn",
        "n",
    ]
    exc = world.session("p/exc")
    assert exc.query("SELECT * FROM db.t").columns == ["id", "s", "n"]
    admin.catalog.rename_column("db", "t", "s", "label")  # named by nothing
    assert exc.query("SELECT * FROM db.t").columns == ["id", "label", "n"]
    admin.revoke("p/exc", Table("db", "t", excluded_columns=["ssn"]), ["SELECT"])
    admin.catalog.rename_column("db", "t", "ssn", "tax_id")  # no longer named
