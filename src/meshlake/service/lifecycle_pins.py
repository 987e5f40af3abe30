"""What pins a snapshot: the references the storage lifecycle never expires.

Product versions (the snapshot each was published on), the reads of ML jobs (a registered
model version's processing and training reads, and those of any job whose files have not
expired: it may still be trained on or registered; with their ancestry back to the product
version or recipe run they descend from, so lineage still finds it), and running queries
(the snapshot current at their submission and every later one, and their time travel).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from meshlake.catalog.ml_models import MLJobRow, ModelVersionRow
from meshlake.catalog.product_models import ProductVersionRow
from meshlake.catalog.storage_models import RecipeRunRow
from meshlake.errors import InvalidQueryError
from meshlake.query.analyze import parse_query
from meshlake.service.queries import active_executions
from meshlake.storage import maintenance as mt

if TYPE_CHECKING:
    from meshlake.service.runtime import MeshRuntime

__all__ = ["EXPIRED", "gather_pins", "with_running"]

#: The state of a job whose files, or a query whose result, the lifecycle deleted.
EXPIRED = "EXPIRED"


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _job_snapshots(row: MLJobRow) -> Iterator[int]:
    for info in row.inputs or []:
        for t in info.get("tables", []) if isinstance(info, dict) else []:
            if t.get("snapshot_id") is not None:
                yield int(t["snapshot_id"])
    for t in ((row.outputs or {}).get("tables") or {}).values():
        if isinstance(t, dict) and t.get("snapshot_id") is not None:
            yield int(t["snapshot_id"])


def gather_pins(rt: MeshRuntime) -> mt.Pins:
    """Every snapshot something references, in every account (a product or a model of
    another account may pin a table of the caller's)."""
    ids: dict[int, str] = {}
    chains: set[int] = set()
    anchors: set[int] = set()
    with rt.store.read() as session:
        for sid in session.scalars(
            select(ProductVersionRow.snapshot_id).where(ProductVersionRow.snapshot_id.is_not(None))
        ):
            if sid is not None:
                ids[int(sid)] = "a product version"
                anchors.add(int(sid))
        anchors.update(int(s) for s in session.scalars(select(RecipeRunRow.target_snapshot)))
        registered: set[str] = set(session.scalars(select(ModelVersionRow.job_id)))
        jobs = list(session.scalars(select(MLJobRow)))
        by_id = {j.id: j for j in jobs}
        for job_id in list(registered):
            training = by_id.get(job_id)
            processing = (training.spec or {}).get("processing_job") if training else None
            if processing:
                registered.add(str(processing))
        for job in jobs:
            if job.id in registered:
                why = "a registered model's lineage"
            elif job.state != EXPIRED:
                why = f"the reads of {job.kind} job {job.id}"
            else:
                continue
            for sid in _job_snapshots(job):
                ids.setdefault(sid, why)
                chains.add(sid)
    return with_running(
        rt, mt.Pins(frozenset(ids), None, (), ids, frozenset(chains), frozenset(anchors))
    )


def with_running(rt: MeshRuntime, pins: mt.Pins, unrecorded: timedelta = timedelta(0)) -> mt.Pins:
    """``pins`` and what the queries running now may read (asked again right before each
    expiry commit, so a query that started since the run began is seen too).

    Args:
        unrecorded: also keep every snapshot current this recently. A quick synchronous
            query of another process has no execution row during its first
            ``executions.RECORD_AFTER_S`` (it is recorded lazily); the snapshot it reads was
            current when it started (time travel is always recorded up front).
    """
    ids = dict(pins.reasons)
    since, as_of = pins.since, list(pins.as_of)
    wall = datetime.now(UTC)
    if unrecorded > timedelta(0):
        recent = wall - unrecorded
        since = recent if since is None else min(since, recent)
    with rt.store.read() as session:
        running = [q for q, alive in active_executions(session, wall) if alive]
    for q in running:
        submitted = _aware(q.submitted_at)
        since = submitted if since is None else min(since, submitted)
        for t in q.tables or []:
            if t.get("snapshot_id") is not None:
                ids.setdefault(int(t["snapshot_id"]), f"running query {q.id}")
        with contextlib.suppress(InvalidQueryError):
            for ref in parse_query(q.sql).tables:
                if ref.travel is not None and ref.travel.snapshot_id is not None:
                    ids.setdefault(ref.travel.snapshot_id, f"running query {q.id}")
                elif ref.travel is not None and ref.travel.as_of is not None:
                    as_of.append(ref.travel.as_of)
    return replace(pins, snapshot_ids=frozenset(ids), since=since, as_of=tuple(as_of), reasons=ids)
