"""The catalog store: a SQLAlchemy engine, migrations and transactions.

Every multi-step change runs in one :meth:`CatalogStore.transaction`; each transaction that
changes governance state bumps the store ``version`` so that every process (embedded, server,
worker) notices and reloads its in-memory governance state.

**Write transactions are serialised, and take the lock before their first read**: on SQLite
the write engine begins with ``BEGIN IMMEDIATE``; on PostgreSQL the transaction's first
statement takes a transaction-scoped advisory lock. A read-modify-write (a grant merged into an
existing row, the audit head, a version bump) therefore never works on a value another writer
is about to replace, and a SQLite writer never fails to upgrade a read lock after the fact.
Reads (:meth:`CatalogStore.read`) use their own engine and never wait for writers.

A transaction opened while another is open in the same context (thread or task) **joins it**:
one unit of work, one commit, whatever calls it makes. Nothing is committed until the
outermost transaction ends, and an error anywhere rolls everything back.

Every row written in a table the governance state holds is recorded in the change log
``ml_changes`` by triggers (migration ``0013``: inserts, updates and deletes, cascades included,
whoever issues the statement), pending until the transaction bumps the version, which stamps
them with it. A process holding the state of version ``v`` re-reads only what the log names
above ``v`` (``governance/loading.py``). A transaction that wrote such a table always bumps,
even when opened with ``bump=False``. The log keeps the last :data:`KEEP_VERSIONS` versions
(meta key ``changes-floor``: older rows are gone, a state older than that is loaded whole).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, update
from sqlalchemy.orm import Session, sessionmaker

from meshlake.catalog.errors import store_errors, translate_store_error
from meshlake.catalog.models import PENDING_VERSION, ChangeRow, MetaRow
from meshlake.catalog.probe import ScalarProbe

__all__ = ["CatalogStore", "OpenTransaction", "normalize_url"]

#: Arbitrary constant naming the store's write lock among PostgreSQL advisory locks.
WRITE_LOCK_KEY = 0x6D65_7368  # "mesh"

VERSION_KEY = "version"
FLOOR_KEY = "changes-floor"
KEEP_VERSIONS = 2000
"""Versions of the change log kept (pruned every :data:`PRUNE_EVERY` versions)."""
PRUNE_EVERY = 100
GROUP_OF_TABLE: dict[str, str] = {
    "ml_accounts": "catalog",
    "ml_principals": "catalog",
    "ml_account_admins": "catalog",
    "ml_databases": "catalog",
    "ml_tables": "catalog",
    "ml_columns": "catalog",
    "ml_locations": "catalog",
    "ml_tag_keys": "tags",
    "ml_tag_values": "tags",
    "ml_tag_assignments": "tags",
    "ml_data_filters": "filters",
    "ml_grants": "grants",
    "ml_model_groups": "model_groups",
}
"""The tables the governance state holds (each has change-log triggers), by state group."""
MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver.

    >>> normalize_url("postgresql://u@h/db")
    'postgresql+psycopg://u@h/db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


_WRITE = re.compile(
    r"^\s*(INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
    r'(?:"?\w+"?\.)?"?(\w+)"?',
    re.IGNORECASE,
)
_NO_WRITE = re.compile(r"^\s*(SELECT|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT)\b", re.IGNORECASE)


def _sqlite_immediate(dbapi_conn: Any, _record: Any) -> None:
    """Let SQLAlchemy's ``begin`` event start transactions (pysqlite's own BEGIN is deferred)."""
    dbapi_conn.isolation_level = None


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass
class OpenTransaction:
    """The transaction open in the current context, with what its statements wrote.

    Attributes:
        session: the ORM session every joined caller uses.
        written: (table, operation) of every write statement since the last bump.
        writes: how many write statements ran in all (moves with every write; units compare
            it to know whether their governance snapshot still includes every pending write).
        bump: whether the transaction bumps the governance version at commit.
        bumped: versions already bumped inside this transaction (pending snapshots).
    """

    session: Session
    written: set[tuple[str, str]] = field(default_factory=set)
    writes: int = 0
    bump: bool = False
    bumped: list[int] = field(default_factory=list)
    unit: Any = None


def _observe(tx: OpenTransaction, statement: str) -> None:
    """Collect (table name, ``insert``/``update``/``delete``) of a statement run on ``tx``'s
    connection, whatever issued it (ORM flush, Core, text SQL, the raw connection).

    A statement that is neither a read nor a plain INSERT/UPDATE/DELETE is recorded as
    ``("?", "?")``, which moves every group.
    """
    match = _WRITE.match(statement)
    if match:
        op = match[1].split()[0].lower()
        tx.written.add((match[2].lower(), op))
        tx.writes += 1
    elif not _NO_WRITE.match(statement):
        tx.written.add(("?", "?"))
        tx.writes += 1


def touches_governance(written: set[tuple[str, str]], *, unknown: bool = True) -> bool:
    """True when the writes include a table the governance state holds (or, with
    ``unknown``, a statement that cannot be told)."""
    return any((unknown and table == "?") or table in GROUP_OF_TABLE for table, _ in written)


class CatalogStore:
    """The store behind a mesh.

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
        migrate: run the alembic migrations up to head on open.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        #: Writes (and migrations): every transaction takes the write lock at BEGIN.
        self.engine: Engine = create_engine(self.url, **kwargs)
        #: Reads: never wait for writers (SQLite WAL readers, PostgreSQL MVCC).
        self.read_engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            for eng in (self.engine, self.read_engine):
                event.listen(eng, "connect", _sqlite_pragmas)
            event.listen(self.engine, "connect", _sqlite_immediate)
            event.listen(self.engine, "begin", _begin_immediate)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._open: ContextVar[OpenTransaction | None] = ContextVar(
            f"meshlake-open-transaction-{id(self)}", default=None
        )
        self._write_lock = threading.RLock()
        #: The open transaction of each write connection (statements are observed once,
        #: by one engine-level listener, instead of a listener per transaction).
        self._observed: dict[Any, OpenTransaction] = {}
        event.listen(self.engine, "before_cursor_execute", self._before_cursor_execute)
        #: The version probe (asked before every decision).
        self._probe = ScalarProbe(self.read_engine)
        self._probe_sql = self._probe.sql("SELECT value FROM ml_meta WHERE key = ?")
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as conn:
            self._lock(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def _lock(self, conn: Any) -> None:
        """Take the store's write lock (SQLite: already held since ``BEGIN IMMEDIATE``)."""
        if not self.is_sqlite:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (inside an open transaction: that transaction's session, so a
        unit of work reads its own pending writes); store errors become MeshErrors
        (catalog/errors.py)."""
        tx = self._open.get()
        if tx is not None:
            yield tx.session
            return
        with store_errors(self.url), self._read_sessions() as session:
            yield session

    @contextmanager
    def read_committed(self) -> Iterator[Session]:
        """A read session that sees only committed data, even inside a transaction (for
        loading state that is cached under a committed version)."""
        with self._read_sessions() as session:
            yield session

    def current(self) -> OpenTransaction | None:
        """The transaction open in this context, if any."""
        return self._open.get()

    @contextmanager
    def transaction(self, *, bump: bool = True) -> Iterator[Session]:
        """One atomic write: commits on success, rolls back on any error.

        Opened inside another transaction of this context, it joins that one (the outermost
        commits). The write lock is held from the first statement to the commit.

        Args:
            bump: increase the store version (governance state changed).
        """
        outer = self._open.get()
        if outer is not None:
            outer.bump = outer.bump or bump
            yield outer.session
            return
        with self._write_lock, self._sessions() as session:
            tx = OpenTransaction(session, bump=bump)
            token = self._open.set(tx)
            try:
                conn = session.connection()
                try:
                    self._lock(conn)
                    self._observed[conn] = tx
                    yield session
                    session.flush()
                    if (tx.bump and (tx.written or not tx.bumped)) or touches_governance(
                        tx.written, unknown=False
                    ):
                        self._bump(session)
                finally:
                    # closed before the commit: what runs after it (hooks) opens its own
                    self._observed.pop(conn, None)
                    self._open.reset(token)
                session.commit()
            except BaseException as exc:
                with contextlib.suppress(Exception):  # a dead connection cannot roll back
                    session.rollback()
                translated = translate_store_error(exc, self.url)
                if translated is not None:  # SQLAlchemy's errors become MeshErrors here
                    raise translated from exc
                raise

    def _before_cursor_execute(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        tx = self._observed.get(conn)
        if tx is not None:
            _observe(tx, statement)

    def bump_pending(self) -> int:
        """Bump the version inside the open transaction (for a snapshot that includes its
        pending writes); the writes seen so far are stamped with it. Returns the version."""
        tx = self._open.get()
        if tx is None:
            raise RuntimeError("bump_pending needs an open transaction")
        tx.session.flush()
        version = self._bump(tx.session)
        tx.written.clear()
        tx.bumped.append(version)
        return version

    def _bump(self, session: Session) -> int:
        """Move the version, stamp the transaction's change-log rows with it and, every
        :data:`PRUNE_EVERY` versions, drop the rows older than :data:`KEEP_VERSIONS`."""
        row = session.get(MetaRow, VERSION_KEY, with_for_update=not self.is_sqlite)
        if row is None:
            version = 1
            session.add(MetaRow(key=VERSION_KEY, value="1"))
        else:
            version = int(row.value) + 1
            row.value = str(version)
        session.execute(
            update(ChangeRow)
            .where(ChangeRow.version == PENDING_VERSION)
            .values(version=version)
            .execution_options(synchronize_session=False)
        )
        if version % PRUNE_EVERY == 0 and version > KEEP_VERSIONS:
            floor = version - KEEP_VERSIONS
            session.execute(
                delete(ChangeRow)
                .where(ChangeRow.version.between(0, floor))
                .execution_options(synchronize_session=False)
            )
            session.merge(MetaRow(key=FLOOR_KEY, value=str(floor)))
        return version

    def version(self) -> int:
        """The current governance version (changes with every governance write).

        Asked before every decision, so it runs on the probe connection (:meth:`probe`: a
        few microseconds on SQLite) instead of a pooled session.
        """
        value = self._probe.scalar(self._probe_sql, (VERSION_KEY,))
        return int(value or 0)

    def probe(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """The first row of a small read asked on every request (a bearer token's row), or
        ``None``: on the version probe's connection (:class:`~meshlake.catalog.probe.
        ScalarProbe`: autocommit, so it reads what is committed at that moment; no session).

        Args:
            sql: one SELECT with ``?`` placeholders (rewritten for PostgreSQL's driver).
            params: the placeholders' values.
        """
        return self._probe.row(self._probe.sql(sql), params)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._probe.close()
        self.engine.dispose()
        self.read_engine.dispose()
