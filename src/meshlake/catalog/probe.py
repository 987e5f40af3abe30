"""One-row lookups asked on every query or request, on a dedicated autocommit connection.

A pooled SQLAlchemy connection costs about 0.1 ms per checkout and execute; the governance
version and a table's Iceberg metadata location are asked by every query, and a bearer
token's row by every server request, so they run as one prepared statement on a connection
kept for the purpose (a few microseconds on SQLite).
A failed lookup drops the connection and retries once on a fresh one, then falls back to an
ordinary pooled connection, so a restarted server or a closed file only costs one retry.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

__all__ = ["ScalarProbe"]


class ScalarProbe:
    """Runs single-row SELECTs on one autocommit connection of ``engine``.

    Args:
        engine: the engine the connection comes from (read-only use).

    Statements are written with ``?`` placeholders; they become ``%s`` on PostgreSQL.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._driver: Any = None
        self._raw: Any = None

    def sql(self, statement: str) -> str:
        """``statement`` in the driver's parameter style."""
        return statement if self.is_sqlite else statement.replace("?", "%s")

    def scalar(self, statement: str, params: Sequence[Any]) -> Any:
        """The first column of the first row (``None`` when there is no row).

        Args:
            statement: the SELECT, in the driver's style (see :meth:`sql`).
            params: its positional parameters.
        """
        row = self.row(statement, params)
        return None if row is None else row[0]

    def row(self, statement: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """The first row (``None`` when there is none).

        Args:
            statement: the SELECT, in the driver's style (see :meth:`sql`).
            params: its positional parameters.
        """
        with self._lock:
            for attempt in (0, 1):
                try:
                    if self._driver is None:
                        self._open()
                    cur = self._driver.cursor()
                    try:
                        cur.execute(statement, tuple(params))
                        row = cur.fetchone()
                    finally:
                        cur.close()
                    return None if row is None else tuple(row)
                except Exception:
                    self._close()
                    if attempt:
                        with self.engine.connect() as conn:
                            found = conn.exec_driver_sql(statement, tuple(params)).first()
                        return None if found is None else tuple(found)
        raise AssertionError("unreachable")

    def _open(self) -> None:
        raw = self.engine.raw_connection()
        driver = raw.driver_connection
        if self.is_sqlite:
            driver.isolation_level = None  # type: ignore[union-attr]
        else:
            driver.autocommit = True  # type: ignore[union-attr]
        self._raw, self._driver = raw, driver

    def _close(self) -> None:
        raw, self._raw, self._driver = self._raw, None, None
        if raw is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                raw.invalidate()

    def close(self) -> None:
        """Drop the connection (the next lookup opens a new one)."""
        with self._lock:
            self._close()
