"""pyiceberg and file system failures reach callers as MeshErrors naming the table and the
next step; a failed call changes nothing."""

from __future__ import annotations

import errno
import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from tests.errors.conftest import audit_size, row_count

import meshlake
from meshlake.service.governed import MeshQueryCatalog
from meshlake.storage.errors import os_error, translate_table_error
from meshlake.storage.iceberg import local_path

ReadOnly = Callable[[Path], AbstractContextManager[None]]


def _admin(mesh: meshlake.Mesh) -> meshlake.Session:
    return mesh.session("p/admin")


def _warehouse(mesh: meshlake.Mesh) -> Path:
    return Path(local_path(mesh.settings.warehouse))


def _metadata_file(mesh: meshlake.Mesh, name: str = "t") -> Path:
    st = mesh.runtime.engine.state()
    db_id = st.db_by_name[("p", "db")]
    iceberg_id = st.tables[st.table_by_name[(db_id, name)]].iceberg_id
    return Path(local_path(mesh.runtime.tables.load(iceberg_id).metadata_location))


def _reopen(mesh: meshlake.Mesh) -> meshlake.Mesh:
    """A second process's view of the same mesh (nothing cached)."""
    return meshlake.connect(mesh.home, catalog_url=mesh.settings.catalog_url)


# ------------------------------------------------------------------ read-only or full warehouse
def test_read_only_warehouse(world: meshlake.Mesh, read_only: ReadOnly) -> None:
    admin = _admin(world)
    before = audit_size(world)
    folders = sorted(p.name for p in (_warehouse(world) / "p" / "db").iterdir())
    with read_only(_warehouse(world)):
        with pytest.raises(meshlake.StorageError, match=r"table db.u.*(read-only|permission)"):
            admin.catalog.create_table("db", "u", {"id": "bigint"}, [[1]])
        with pytest.raises(meshlake.StorageError, match=r"table db.t.*(read-only|permission)"):
            admin.catalog.append("db", "t", [[2, "b"]])
        with pytest.raises(meshlake.StorageError, match=r"table db.t.*(read-only|permission)"):
            admin.catalog.evolve_schema("db", "t", pa.schema([("n", pa.int64())]))
        assert row_count(world) == 1  # reading still works
    assert admin.catalog.list_tables("db") == ["t"]
    assert admin.catalog.get_table("db", "t").column_names == ["id", "s"]
    assert sorted(p.name for p in (_warehouse(world) / "p" / "db").iterdir()) == folders
    assert audit_size(world) == before
    admin.catalog.create_table("db", "u", {"id": "bigint"}, [[1]])  # the name is still free
    assert row_count(world, "db.u") == 1


def test_a_file_where_the_tables_folder_should_be(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    admin.catalog.create_database("other")
    (_warehouse(world) / "p" / "other").write_text("not a folder")
    with pytest.raises(meshlake.StorageError, match=r"table other.u.*a file stands where"):
        admin.catalog.create_table("other", "u", {"id": "bigint"}, [[1]])
    assert admin.catalog.list_tables("other") == []
    (_warehouse(world) / "p" / "other").unlink()
    admin.catalog.create_table("other", "u", {"id": "bigint"}, [[1]])


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PermissionError(errno.EACCES, "Permission denied", "/w/p"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "/w/p"), "read-only"),
        (OSError(errno.ENOSPC, "No space left on device", "/w/p"), "disk is full"),
        (OSError("[errno 28] No space left on device (pyarrow)"), "disk is full"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/w/p"), "a file stands where"),
        (FileNotFoundError(errno.ENOENT, "No such file", "/w/p/m.json"), "missing"),
    ],
)
def test_os_errors_say_what_and_where(exc: OSError, words: str) -> None:
    err = translate_table_error(exc, "sales.orders", location="/w/p")
    assert isinstance(err, meshlake.StorageError)
    assert "table sales.orders" in err.message
    assert words in err.message
    assert os_error(exc, "table sales.orders", "/w/p").message == err.message


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TableAlreadyExistsError("Table db7.orders already exists"), meshlake.ConflictError),
        (NamespaceAlreadyExistsError("Namespace db7 already exists"), meshlake.ConflictError),
        (CommitFailedException("updated by another process"), meshlake.ConflictError),
        (NoSuchTableError("Table does not exist: db7.orders"), meshlake.NotFoundError),
        (IcebergValidationError("1 validation error"), meshlake.StorageError),
        (json.JSONDecodeError("Expecting value", "{", 0), meshlake.StorageError),
    ],
)
def test_pyiceberg_errors_name_the_users_table(exc: Exception, kind: type) -> None:
    err = translate_table_error(exc, "sales.orders")
    assert type(err) is kind
    assert err is not None and "table sales.orders" in err.message
    assert "db7" not in err.message


def test_other_errors_are_not_translated() -> None:
    assert translate_table_error(KeyError("x"), "s.t") is None
    assert translate_table_error(meshlake.NotFoundError("x"), "s.t") is None


# ------------------------------------------------------------------ damaged metadata
@pytest.mark.parametrize("damage", ['{"format-version": 2, "table-uuid": "x"}', "{not json", ""])
def test_damaged_metadata_is_a_storage_error(world: meshlake.Mesh, damage: str) -> None:
    metadata = _metadata_file(world)
    metadata.write_text(damage)
    again = _reopen(world)
    try:
        admin = _admin(again)
        calls: list[Callable[[], object]] = [
            lambda: admin.query("SELECT * FROM db.t").rows(),
            lambda: admin.catalog.append("db", "t", [[2, "b"]]),
            lambda: admin.catalog.describe_table("db", "t"),
            lambda: admin.catalog.evolve_schema("db", "t", pa.schema([("n", pa.int64())])),
        ]
        for call in calls:
            with pytest.raises(meshlake.StorageError, match=r"metadata file of table db.t") as err:
                call()
            assert "backup" in err.value.message
        assert metadata.read_text() == damage  # nothing was written over it
        assert admin.catalog.get_table("db", "t").column_names == ["id", "s"]
    finally:
        again.close()


def test_metadata_naming_a_missing_snapshot_is_not_an_empty_table(world: meshlake.Mesh) -> None:
    metadata = _metadata_file(world)
    doc = json.loads(metadata.read_text())
    doc["current-snapshot-id"] = 424242
    metadata.write_text(json.dumps(doc))
    again = _reopen(world)
    try:
        with pytest.raises(meshlake.StorageError, match=r"snapshot 424242.*damaged"):
            _admin(again).query("SELECT count(*) FROM db.t").rows()
        with pytest.raises(meshlake.StorageError, match=r"snapshot 424242"):
            _admin(again).catalog.append("db", "t", [[2, "b"]])
    finally:
        again.close()


def test_missing_metadata_file_is_a_storage_error(world: meshlake.Mesh) -> None:
    _metadata_file(world).unlink()
    again = _reopen(world)
    try:
        with pytest.raises(meshlake.StorageError, match=r"a file of table db.t is missing"):
            _admin(again).query("SELECT count(*) FROM db.t").rows()
    finally:
        again.close()


# ------------------------------------------------------------------ dropped while in use
def test_table_dropped_between_resolve_and_scan(world: meshlake.Mesh) -> None:
    catalog = MeshQueryCatalog(world.runtime, "p/admin")
    resolved = catalog.resolve("db", "t")
    _admin(world).catalog.drop_table("db", "t")
    with pytest.raises(meshlake.NotFoundError, match=r"table db.t not found"):
        catalog.scan(resolved)


def test_iceberg_entry_gone_under_the_catalog(world: meshlake.Mesh) -> None:
    st = world.runtime.engine.state()
    table = next(t for t in st.tables.values() if t.name == "t")
    world.runtime.tables.drop(table.iceberg_id)
    with pytest.raises(meshlake.NotFoundError, match=r"table db.t not found"):
        _admin(world).query("SELECT * FROM db.t").rows()
    with pytest.raises(meshlake.NotFoundError, match=r"table db.t not found"):
        _admin(world).catalog.append("db", "t", [[2, "b"]])


# ------------------------------------------------------------------ racing creates
def test_iceberg_create_of_an_existing_name_is_a_conflict(world: meshlake.Mesh) -> None:
    """What the loser of a racing create_table meets: pyiceberg's TableAlreadyExistsError."""
    st = world.runtime.engine.state()
    db_id = st.db_by_name[("p", "db")]
    location = f"{world.settings.warehouse}/p/db/t-racer"
    schema = pa.schema([("id", pa.int64())])
    with pytest.raises(meshlake.ConflictError, match=r"table db.t already exists") as err:
        world.runtime.tables.create(f"db{db_id}", "t", schema, location, pa.table({"id": [9]}))
    assert f"db{db_id}" not in err.value.message
    assert not Path(local_path(location)).exists()  # the folder made for it is gone
    assert row_count(world) == 1


def test_failed_initial_write_leaves_no_folder(world: meshlake.Mesh) -> None:
    st = world.runtime.engine.state()
    db_id = st.db_by_name[("p", "db")]
    location = f"{world.settings.warehouse}/p/db/bad-rows"
    schema = pa.schema([("id", pa.int32())])
    with pytest.raises(meshlake.InvalidInputError):
        world.runtime.tables.create(
            f"db{db_id}", "bad", schema, location, pa.table({"id": ["not a number"]})
        )
    assert not Path(local_path(location)).exists()
    with pytest.raises(meshlake.NotFoundError):
        world.runtime.tables.load(f"db{db_id}.bad")


def test_racing_create_table(world: meshlake.Mesh) -> None:
    admins = [_admin(world) for _ in range(4)]
    outcomes: list[object] = []
    barrier = threading.Barrier(len(admins))

    def create(session: meshlake.Session, i: int) -> None:
        barrier.wait()
        try:
            session.catalog.create_table("db", "race", {"id": "bigint"}, [[i]])
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create, args=(s, i)) for i, s in enumerate(admins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    for exc in outcomes:
        if exc != "ok":
            assert isinstance(exc, meshlake.ConflictError), repr(exc)
            assert "db.race" in str(exc) and "db1" not in str(exc)
    assert row_count(world, "db.race") == 1
    folders = [p for p in (_warehouse(world) / "p" / "db").iterdir() if p.name.startswith("race")]
    assert len(folders) == 1


def test_losing_create_keeps_the_winners_folder(world: meshlake.Mesh) -> None:
    """Two creates racing for one name *and* one explicit location: the loser's cleanup must
    not delete the winner's files."""
    st = world.runtime.engine.state()
    db_id = st.db_by_name[("p", "db")]
    winner = st.tables[st.table_by_name[(db_id, "t")]]
    schema = pa.schema([("id", pa.int64())])
    with pytest.raises(meshlake.ConflictError, match=r"table db\.t already exists"):
        world.runtime.tables.create(f"db{db_id}", "t", schema, winner.location)
    assert Path(local_path(winner.location)).is_dir()
    again = _reopen(world)
    try:
        assert row_count(again) == 1
    finally:
        again.close()


def test_rows_of_the_wrong_shape(world: meshlake.Mesh) -> None:
    admin = _admin(world)
    for rows in ("ab", [(1, "a"), "xy"], {"id": 1}):
        with pytest.raises(meshlake.InvalidInputError, match=r"must be a list of"):
            admin.catalog.append("db", "t", rows)  # type: ignore[arg-type]
    admin.catalog.append("db", "t", ((2, "b"),))  # tuples are fine
    assert row_count(world) == 2


def test_missing_data_file_is_a_storage_error(world: meshlake.Mesh) -> None:
    st = world.runtime.engine.state()
    table = next(t for t in st.tables.values() if t.name == "t")
    data = sorted(Path(local_path(table.location)).rglob("*.parquet"))
    assert data
    for f in data:
        f.unlink()
    with pytest.raises(meshlake.StorageError, match=r"could not read the data of db\.t") as err:
        _admin(world).query("SELECT * FROM db.t").rows()
    assert "backup" in err.value.message
