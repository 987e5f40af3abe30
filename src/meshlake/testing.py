"""Test helpers: PostgreSQL databases made per test, and where ``shared/`` lies.

Used by meshlake's own test suite; importable by projects testing against meshlake too.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

__all__ = ["PG_DEFAULT", "PG_ENV", "SHARED", "PostgresDatabases", "postgres_admin_url"]

PG_ENV = "MESHLAKE_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SHARED = Path(os.environ.get("MESHLAKE_SHARED", Path.cwd().parent / "shared"))


def postgres_admin_url() -> str | None:
    """The server URL if a PostgreSQL server answers; skip (or fail under CI) otherwise."""
    import sqlalchemy as sa

    url = os.environ.get(PG_ENV, PG_DEFAULT)
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # the server is not there
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} does not answer under CI: {exc}")
        pytest.skip(f"no PostgreSQL server at {url}: {exc}")
    return url


class PostgresDatabases:
    """Creates uniquely named databases and drops them afterwards."""

    def __init__(self, admin_url: str) -> None:
        import sqlalchemy as sa

        self.admin_url = admin_url
        self.engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        """A new empty database; returns its URL."""
        import sqlalchemy as sa

        name = f"meshlake_test_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        """Drop every database this object created."""
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            for name in self.created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()
