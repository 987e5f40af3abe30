"""The state update a second process pays after each kind of change, at 10,000 tables.

Used by ``bench/server.py``. Builds the synthetic catalog of ``bench/authz_catalog.py``
(``--reload-tables`` tables, 500 principals, 5 grants and 13 tag assignments per table), opens
it twice on the same store, A and B, as two processes of a server would, and for each kind of
change made through A's facades (or, for the bulk rows of the synthetic catalog, as one raw
row write) times B's ``engine.state()``: the first request in B after the change pays it.
The baseline is a full load of the same store (what every catalog update or delete cost
before the change log).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from authz_catalog import CENTRAL, build_catalog
from sqlalchemy import delete, select, update

import meshlake
from meshlake import Database, Table
from meshlake.catalog.models import (
    ColumnRow,
    DatabaseRow,
    GrantRow,
    TableRow,
    TagAssignmentRow,
)

__all__ = ["reload_figures"]

CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: prod{i}-contract
name: prod{i}
version: 1.0.0
domain: Sales
schema:
  - name: t
    properties:
      - name: id
        logicalType: integer
      - name: area
        logicalType: string
      - name: score
        logicalType: number
"""


def _timed(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU (this thread) milliseconds of one call."""
    start, cpu = time.perf_counter(), time.thread_time()
    call()
    return (time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000


def _changes(
    a: meshlake.Mesh, i: int, grantee: str, synthetic_db: str
) -> list[tuple[str, Callable[[], Any]]]:
    """Every kind of change, in an order where each finds what it needs (round ``i``)."""
    root, admin = a.session("root"), a.session(f"{CENTRAL}/user0000")
    db, t = f"rdb{i}", Table(f"rdb{i}", "t")
    store = a.runtime.store

    def raw(statement: Any) -> Callable[[], None]:
        def run() -> None:
            with store.transaction() as session:
                session.execute(statement)

        return run

    def drop_synthetic_database() -> None:
        """A database's tables deleted with what names them (columns go by cascade)."""
        with store.transaction() as session:
            db_id = session.scalars(
                select(DatabaseRow.id).where(DatabaseRow.name == synthetic_db)
            ).one()
            ids = list(session.scalars(select(TableRow.id).where(TableRow.database_id == db_id)))
            columns = list(session.scalars(select(ColumnRow.id).where(ColumnRow.table_id.in_(ids))))
            session.execute(
                delete(GrantRow).where(GrantRow.kind == "table", GrantRow.target_id.in_(ids))
            )
            for kind, targets in (("table", ids), ("column", columns)):
                session.execute(
                    delete(TagAssignmentRow).where(
                        TagAssignmentRow.kind == kind, TagAssignmentRow.target_id.in_(targets)
                    )
                )
            session.execute(delete(TableRow).where(TableRow.database_id == db_id))

    return [
        ("account create", lambda: root.accounts.create(f"acc{i}")),
        ("principal create", lambda: root.principals.create(f"{CENTRAL}/bench{i}")),
        (
            "account admins change",
            lambda: root.accounts.set_admins(
                CENTRAL, [f"{CENTRAL}/user0000", f"{CENTRAL}/user0001", f"{CENTRAL}/bench{i}"]
            ),
        ),
        ("database create", lambda: admin.catalog.create_database(db)),
        (
            "table create",
            lambda: admin.catalog.create_table(
                db, "t", {"id": "bigint", "region": "string"}, [[1, "eu"]]
            ),
        ),
        (
            "table alter (rename column)",
            lambda: admin.catalog.rename_column(db, "t", "region", "area"),
        ),
        (
            "table alter (add column)",
            lambda: admin.catalog.evolve_schema(db, "t", pa.schema([("score", pa.float64())])),
        ),
        ("tag key create", lambda: admin.tags.create(f"k{i}", ["a"])),
        ("tag values change", lambda: admin.tags.update(f"k{i}", add=["b"])),
        ("tag assign", lambda: admin.tags.assign(t, {f"k{i}": "a"})),
        ("tag unassign", lambda: admin.tags.remove(t, [f"k{i}"])),
        ("tag assign (database)", lambda: admin.tags.assign(Database(db), {f"k{i}": "b"})),
        ("filter create", lambda: admin.filters.create(db, "t", "eu", row_filter="area = 'eu'")),
        ("grant", lambda: admin.grant(grantee, t, ["SELECT"])),
        ("revoke", lambda: admin.revoke(grantee, t, ["SELECT"])),
        ("filter drop", lambda: admin.filters.drop(db, "t", "eu")),
        (
            "product publish",
            lambda: admin.products.publish(CONTRACT.format(i=i), database=db, table="t"),
        ),
        ("model group create", lambda: admin.ml.create_model_group(f"mg{i}")),
        ("table drop", lambda: admin.catalog.drop_table(db, "t")),
        ("database drop", lambda: admin.catalog.drop_database(db)),
        (
            "raw: a synthetic table's row rewritten (catalog update)",
            raw(update(TableRow).where(TableRow.id == 1 + i).values(creator=f"{CENTRAL}/bench{i}")),
        ),
        (
            "raw: a tag assignment rewritten",
            raw(
                update(TagAssignmentRow)
                .where(TagAssignmentRow.id == 1 + i)
                .values(id=TagAssignmentRow.id)
            ),
        ),
        (
            "raw: a grant rewritten",
            raw(update(GrantRow).where(GrantRow.id == 1 + i).values(id=GrantRow.id)),
        ),
        ("raw: a synthetic database's 100 tables deleted", drop_synthetic_database),
    ]


def reload_figures(home: Path, tables: int, rounds: int) -> tuple[list[str], dict[str, Any]]:
    """Markdown rows (kind | wall p50 / max | CPU p50 / max | entries read) and totals."""
    a = meshlake.connect(home)
    start = time.perf_counter()
    cat = build_catalog(a.runtime.store, tables)
    build_s = time.perf_counter() - start
    a.bootstrap()
    b = meshlake.connect(home)
    engine = b.runtime.engine
    full_wall, full_cpu = [], []
    for _ in range(3):
        engine.invalidate()
        gc.collect()
        wall, cpu = _timed(engine.state)
        full_wall.append(wall)
        full_cpu.append(cpu)
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    read: dict[str, list[int]] = {}
    grantee = cat.principals[len(cat.principals) // 2]
    for i in range(rounds):
        for label, change in _changes(a, i, grantee, cat.databases[-1 - i]):
            engine.state()  # B is current before the change
            change()
            gc.collect()
            wall, cpu = _timed(engine.state)
            st = engine.state()
            assert st.changes_read is not None, label  # updated from the log, not reloaded
            walls.setdefault(label, []).append(wall)
            cpus.setdefault(label, []).append(cpu)
            read.setdefault(label, []).append(st.changes_read)
    a.close()
    b.close()
    rows = [
        f"| full load (baseline: what a catalog update or delete cost before) | "
        f"{statistics.median(full_wall):,.0f} / {max(full_wall):,.0f} | "
        f"{statistics.median(full_cpu):,.0f} / {max(full_cpu):,.0f} | all |"
    ]
    for label in walls:
        rows.append(
            f"| {label} | {statistics.median(walls[label]):.1f} / {max(walls[label]):.1f} | "
            f"{statistics.median(cpus[label]):.1f} / {max(cpus[label]):.1f} | "
            f"{max(read[label]):,} |"
        )
    worst = max(max(w) for w in walls.values())
    return rows, {"build_s": build_s, "worst_ms": worst, "full_ms": statistics.median(full_wall)}
