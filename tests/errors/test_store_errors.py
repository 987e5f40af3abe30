"""The catalog store's failures (SQLAlchemy) reach callers as MeshErrors that say which store
and what to check."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError

import meshlake
from meshlake.catalog.errors import describe_url, store_errors, translate_store_error

ReadOnly = Callable[[Path], AbstractContextManager[None]]
SQLITE = "sqlite:////m/catalog.db"
PG = "postgresql+psycopg://mesh:secret@db.example:6543/lake"


def _operational(message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception(message))


def test_unreachable_postgresql(tmp_path: Path) -> None:
    with pytest.raises(meshlake.StorageError, match="unreachable") as err:
        meshlake.connect(tmp_path, catalog_url="postgresql+psycopg://postgres@127.0.0.1:1/x")
    message = err.value.message
    assert "catalog store" in message
    assert "PostgreSQL is running" in message and "127.0.0.1:1" in message
    assert isinstance(err.value.__cause__, OperationalError)
    assert err.value.details["reason"] == "unreachable"


def test_missing_postgresql_database(tmp_path: Path, pg_databases: object) -> None:
    from meshlake.testing import postgres_admin_url

    url = postgres_admin_url()
    assert url is not None
    missing = url.rsplit("/", 1)[0] + "/meshlake_no_such_database"
    with pytest.raises(meshlake.StorageError, match=r"unreachable.*meshlake_no_such_database"):
        meshlake.connect(tmp_path, catalog_url=missing)


def test_unknown_driver_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(meshlake.InvalidInputError, match="catalog URL"):
        meshlake.connect(tmp_path, catalog_url="nosuchdb://x/y")


def test_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("x")
    with pytest.raises(meshlake.StorageError, match=r"the mesh home.*a file stands where"):
        meshlake.connect(tmp_path / "home")
    with pytest.raises(meshlake.StorageError, match="the mesh home"):
        meshlake.connect(tmp_path / "home" / "below")


def test_read_only_home(tmp_path: Path, read_only: ReadOnly) -> None:
    home = tmp_path / "home"
    meshlake.connect(home).close()
    opened: list[meshlake.Mesh] = []
    with read_only(home):
        with pytest.raises(meshlake.StorageError, match=r"catalog store.*read-?only"):
            opened.append(meshlake.connect(home))  # SQLite may refuse to open it at all
            opened[0].bootstrap()
        for mesh in opened:
            mesh.close()
    with read_only(tmp_path), pytest.raises(meshlake.StorageError, match="the mesh home"):
        meshlake.connect(tmp_path / "new-home")


@pytest.mark.parametrize(
    ("exc", "url", "kind", "words"),
    [
        (_operational("connection failed: Connection refused"), PG, meshlake.StorageError,
         "db.example:6543"),
        (_operational("attempt to write a readonly database"), SQLITE, meshlake.StorageError,
         "read-only"),
        (_operational("unable to open database file"), SQLITE, meshlake.StorageError,
         "folder of /m/catalog.db"),
        (_operational("database or disk is full"), SQLITE, meshlake.StorageError,
         "out of space"),
        (_operational("database is locked"), SQLITE, meshlake.ConflictError, "retry"),
        (_operational("could not serialize access"), PG, meshlake.ConflictError, "retry"),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), SQLITE,
         meshlake.ConflictError, "retry"),
        (NoSuchModuleError("no dialect"), "x://", meshlake.InvalidInputError, "catalog URL"),
    ],
)  # fmt: skip
def test_translations(exc: Exception, url: str, kind: type, words: str) -> None:
    err = translate_store_error(exc, url)
    assert type(err) is kind
    assert err is not None and words in err.message
    assert "secret" not in err.message


def test_passwords_are_never_shown() -> None:
    assert "secret" not in describe_url(PG)
    with pytest.raises(meshlake.StorageError) as err, store_errors(PG):
        raise _operational("password authentication failed for user mesh")
    assert "secret" not in err.value.message and "***" in err.value.message


def test_other_errors_pass_through() -> None:
    assert translate_store_error(ValueError("x"), SQLITE) is None
    with pytest.raises(ValueError), store_errors(SQLITE):
        raise ValueError("x")


def test_postgresql_going_away_under_an_open_mesh(tmp_path: Path, pg_databases: object) -> None:
    import sqlalchemy as sa

    from meshlake.testing import PostgresDatabases, postgres_admin_url

    assert isinstance(pg_databases, PostgresDatabases)
    url = pg_databases.create()
    mesh = meshlake.connect(tmp_path / "home", catalog_url=url)
    root = mesh.bootstrap()
    root.accounts.create("p")
    root.principals.create("p/admin")
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("db")
    admin.catalog.create_table("db", "t", {"id": "bigint"}, [[1]])
    name = url.rsplit("/", 1)[1]
    server = sa.create_engine(postgres_admin_url() or "", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    try:
        calls = [
            lambda: admin.catalog.list_tables("db"),
            lambda: admin.query("SELECT * FROM db.t").rows(),
            lambda: admin.catalog.append("db", "t", [[2]]),
            lambda: admin.decide("SELECT", meshlake.Table("db", "t")),
        ]
        for call in calls:
            with pytest.raises(meshlake.StorageError, match=r"unreachable.*PostgreSQL is running"):
                call()
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        server.dispose()
    assert admin.query("SELECT count(*) FROM db.t").rows() == [(1,)]  # nothing was written
    mesh.close()
