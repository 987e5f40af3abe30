"""Lineage of a model version, as the caller may see it, and its OpenLineage export.

model version -> training run -> training tables -> processing job -> query ids -> product
version (table snapshot) -> recipe run -> crawl run -> source files. A part the caller may not
DESCRIBE appears as "not visible" (rule 30), with nothing more about it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshlake.catalog.ml_models import MLJobRow, ModelGroupRow, ModelVersionRow
from meshlake.catalog.product_models import ProductRow, ProductVersionRow
from meshlake.catalog.storage_models import RecipeRunRow
from meshlake.errors import InvalidInputError
from meshlake.ids import ROOT
from meshlake.ml.records import iso
from meshlake.resources import Table
from meshlake.storage.crawler.state import crawl_files, crawl_runs

if TYPE_CHECKING:
    from meshlake.service.ml import MLAPI

__all__ = ["Lineage", "LineageNode", "build_lineage", "export_openlineage", "models_built_on"]

NOT_VISIBLE = "not visible"
NAMESPACE = "meshlake"


@dataclass(frozen=True)
class LineageNode:
    """One step of a lineage chain."""

    kind: str
    id: str
    label: str
    visible: bool = True
    detail: dict[str, Any] = field(default_factory=dict)
    parents: tuple[str, ...] = ()  # ids of the nodes this one was made from

    def to_dict(self) -> dict[str, Any]:
        """JSON form (an invisible node shows its kind only)."""
        if not self.visible:
            return {"kind": self.kind, "id": self.id, "label": NOT_VISIBLE, "visible": False}
        return {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "visible": True,
            "detail": self.detail,
            "parents": list(self.parents),
        }


@dataclass(frozen=True)
class Lineage:
    """The chain of a model version, newest first."""

    version: str
    nodes: tuple[LineageNode, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"version": self.version, "nodes": [n.to_dict() for n in self.nodes]}

    def kinds(self) -> list[str]:
        """Node kinds in chain order."""
        return [n.kind for n in self.nodes]

    def of_kind(self, kind: str) -> list[LineageNode]:
        """The nodes of one kind."""
        return [n for n in self.nodes if n.kind == kind]

    def lines(self) -> list[str]:
        """A readable rendering, one node per line."""
        out = []
        for n in self.nodes:
            out.append(f"{n.kind:<16} {n.label if n.visible else NOT_VISIBLE}")
        return out


def _ol_uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meshlake:{text}"))


class _Builder:
    def __init__(self, api: MLAPI) -> None:
        self.api = api
        self.rt = api.rt
        self.principal = api.principal
        self.nodes: list[LineageNode] = []
        self.seen: set[str] = set()

    def add(self, node: LineageNode) -> None:
        if node.id not in self.seen:
            self.seen.add(node.id)
            self.nodes.append(node)

    def may_describe_table(self, account: str, database: str, table: str) -> bool:
        if self.principal == ROOT:
            return True
        return self.rt.engine.decide(
            self.principal, "DESCRIBE", Table(database, table, account=account)
        ).allowed

    def job_visible(self, row: MLJobRow) -> bool:
        if self.api._job_visible(row.principal, row.account):
            return True
        tables = (row.outputs or {}).get("tables") or {}
        return bool(tables) and all(
            self.may_describe_table(t["account"], t["database"], t["table"])
            for t in tables.values()
        )


def build_lineage(api: MLAPI, group: ModelGroupRow, version: ModelVersionRow) -> Lineage:
    """The lineage chain of ``version`` as ``api``'s principal may see it."""
    b = _Builder(api)
    ref = f"{group.account}.{group.name}/{version.version}"
    with api.rt.store.read() as session:
        training = session.get(MLJobRow, version.job_id)
        processing = None
        if training is not None:
            processing = session.get(MLJobRow, (training.spec or {}).get("processing_job", ""))
    b.add(
        LineageNode(
            "model_version",
            f"model:{ref}",
            f"{ref} ({version.status})",
            detail={"status": version.status, "metrics": version.metrics},
            parents=(f"run:{version.run_id}",),
        )
    )
    if training is None:
        return Lineage(ref, tuple(b.nodes))
    b.add(
        LineageNode(
            "training_run",
            f"run:{version.run_id}",
            f"training job {training.id} (MLflow run {version.run_id})",
            detail={
                "job_id": training.id,
                "run_id": version.run_id,
                "principal": training.principal,
                "estimator": (training.spec or {}).get("estimator"),
                "hyperparameters": (training.spec or {}).get("hyperparameters"),
                "script_sha256": (training.spec or {}).get("script_sha256"),
                "started_at": iso(training.started_at),
                "finished_at": iso(training.finished_at),
            },
            parents=tuple(
                f"table:{t['account']}.{t['table']}"
                for i in training.inputs or []
                for t in i.get("tables", [])
            ),
        )
    )
    split_of = (
        {
            f"{t['database']}.{t['table']}": split
            for split, t in ((processing.outputs or {}).get("tables") or {}).items()
        }
        if processing is not None
        else {}
    )
    for info in training.inputs or []:
        for t in info.get("tables", []):
            db, name = t["table"].split(".", 1)
            visible = b.may_describe_table(t["account"], db, name)
            b.add(
                LineageNode(
                    "training_table",
                    f"table:{t['account']}.{t['table']}",
                    f"{t['account']}.{t['table']} @ snapshot {t.get('snapshot_id')} "
                    f"(query {info['query_id']})",
                    visible,
                    {"split": split_of.get(t["table"]), "query_id": info["query_id"], **t},
                    (f"job:{processing.id}",) if processing else (),
                )
            )
    if processing is None:
        return Lineage(ref, tuple(b.nodes))
    pvisible = b.job_visible(processing)
    query_ids = [i["query_id"] for i in processing.inputs or []]
    b.add(
        LineageNode(
            "processing_job",
            f"job:{processing.id}",
            f"processing job {processing.id} by {processing.principal}",
            pvisible,
            {
                "job_id": processing.id,
                "principal": processing.principal,
                "split": (processing.spec or {}).get("split"),
                "seed": (processing.spec or {}).get("seed"),
                "features": (processing.spec or {}).get("features"),
                "script_sha256": (processing.spec or {}).get("script_sha256"),
            },
            tuple(f"query:{q}" for q in query_ids),
        )
    )
    for info in processing.inputs or []:
        sources = [
            f"snapshot:{t['account']}.{t['table']}@{t.get('snapshot_id')}"
            for t in info.get("tables", [])
        ]
        b.add(
            LineageNode(
                "query",
                f"query:{info['query_id']}",
                f"query {info['query_id']}: {info.get('sql', '')}",
                pvisible,
                {"query_id": info["query_id"], "sql": info.get("sql"), "rows": info.get("rows")},
                tuple(sources),
            )
        )
        for t in info.get("tables", []):
            _add_source(b, t)
    return Lineage(ref, tuple(b.nodes))


def _add_source(b: _Builder, t: dict[str, Any]) -> None:
    account, qualified, snap = t["account"], t["table"], t.get("snapshot_id")
    db, name = qualified.split(".", 1)
    visible = b.may_describe_table(account, db, name)
    chain = _ancestry(b, account, db, name, snap)  # the snapshot, then its parents
    with b.rt.store.read() as session:
        product = session.scalars(
            select(ProductRow).where(
                ProductRow.table_account == account,
                ProductRow.database == db,
                ProductRow.table == name,
            )
        ).first()
        pversion = None
        if product is not None and chain:
            found = {
                r.snapshot_id: r
                for r in session.scalars(
                    select(ProductVersionRow).where(
                        ProductVersionRow.product_id == product.id,
                        ProductVersionRow.snapshot_id.in_(chain),
                    )
                )
            }
            pversion = next((found[s] for s in chain if s in found), None)
        recipe = None
        if chain:
            runs = {
                r.target_snapshot: r
                for r in session.scalars(
                    select(RecipeRunRow).where(RecipeRunRow.target_snapshot.in_(chain))
                )
            }
            recipe = next((runs[s] for s in chain if s in runs), None)
    label = f"{account}.{qualified} @ snapshot {snap}"
    if product is not None:
        if pversion is None:
            what = "(unpublished snapshot)"
        elif pversion.snapshot_id == snap:
            what = f"version {pversion.version}"
        else:
            what = f"version {pversion.version} + later appends"
        label = f"product {product.name} {what}: {label}"
    b.add(
        LineageNode(
            "product_version",
            f"snapshot:{account}.{qualified}@{snap}",
            label,
            visible,
            {
                "product": product.name if product else None,
                "product_version": pversion.version if pversion else None,
                "table": f"{account}.{qualified}",
                "snapshot_id": snap,
                "link": t.get("link"),
            },
            (f"recipe:{recipe.id}",) if recipe else (),
        )
    )
    if recipe is None:
        return
    src_db, src_name = recipe.source_table.split(".", 1)
    src_account = _principal_account(recipe.principal)
    rvisible = b.may_describe_table(src_account, src_db, src_name)
    crawl = _crawl_of(b, src_db, src_name, recipe.started_at)
    b.add(
        LineageNode(
            "recipe_run",
            f"recipe:{recipe.id}",
            f"recipe run {recipe.id} ({recipe.recipe_name or 'recipe'} sha256 "
            f"{recipe.recipe_sha256[:12]}) {recipe.source_table} -> {recipe.target_table}",
            rvisible,
            {
                "recipe_sha256": recipe.recipe_sha256,
                "source_table": recipe.source_table,
                "source_snapshot": recipe.source_snapshot,
                "principal": recipe.principal,
            },
            (f"crawl:{crawl['id']}",) if crawl else (),
        )
    )
    if crawl is None:
        return
    b.add(
        LineageNode(
            "crawl_run",
            f"crawl:{crawl['id']}",
            f"crawl run {crawl['id']} of {crawl['location']} ({crawl['rows']} rows)",
            rvisible,
            {"location": crawl["location"], "rows": crawl["rows"]},
            tuple(f"file:{f}" for f in crawl["files"]),
        )
    )
    for f in crawl["files"]:
        b.add(LineageNode("source_file", f"file:{f}", f, rvisible, {"uri": f}))


def _ancestry(b: _Builder, account: str, database: str, table: str, snap: int | None) -> list[int]:
    """``snap`` and its ancestors, newest first (empty when unknown)."""
    if snap is None:
        return []
    st = b.rt.engine.state()
    db_id = st.db_by_name.get((account, database))
    tid = st.table_by_name.get((db_id, table)) if db_id is not None else None
    if tid is None:
        return [snap]
    from meshlake.storage.iceberg import TableStore

    parents = {
        s.snapshot_id: s.parent_id
        for s in TableStore.snapshots(b.rt.tables.load(st.tables[tid].iceberg_id))
    }
    chain: list[int] = []
    current: int | None = snap
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def _principal_account(principal: str) -> str:
    return principal.split("/", 1)[0]


def _crawl_of(b: _Builder, database: str, table: str, before: datetime) -> dict[str, Any] | None:
    with b.rt.store.read() as session:
        rows = (
            session.execute(
                select(crawl_runs)
                .where(crawl_runs.c.database == database)
                .order_by(crawl_runs.c.started_at.desc())
            )
            .mappings()
            .all()
        )
        for r in rows:
            touched = set(r["tables_created"] or []) | set(r["tables_updated"] or [])
            if table not in touched:
                continue
            started = r["started_at"]
            if started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            ref = before if before.tzinfo else before.replace(tzinfo=UTC)
            if started > ref:
                continue
            files = session.execute(
                select(crawl_files.c.location, crawl_files.c.path).where(
                    crawl_files.c.run_id == r["id"]
                )
            ).all()
            return {
                "id": r["id"],
                "location": r["location"],
                "rows": r["rows"],
                "files": [f"{loc.rstrip('/')}/{path}" for loc, path in files],
            }
    return None


def models_built_on(api: MLAPI, account: str, database: str, table: str) -> list[dict[str, Any]]:
    """Registered versions whose processing read ``account.database.table`` (versions of
    groups the caller may DESCRIBE)."""
    from meshlake.governance.models import model_group_access, model_groups

    qualified = f"{database}.{table}"
    st = api.state()
    out = []
    with api.rt.store.read() as session:
        versions = session.execute(
            select(ModelVersionRow, ModelGroupRow).join(
                ModelGroupRow, ModelGroupRow.id == ModelVersionRow.group_id
            )
        ).all()
        groups = model_groups(st)
        for v, g in versions:
            info = groups.get(g.id)
            if info is None or not (
                api.principal == ROOT or model_group_access(st, api.principal, info).visible
            ):
                continue
            training = session.get(MLJobRow, v.job_id)
            proc_id = (training.spec or {}).get("processing_job") if training else None
            proc = session.get(MLJobRow, proc_id) if proc_id else None
            reads = [
                t
                for i in (proc.inputs if proc else []) or []
                for t in i.get("tables", [])
                if t["account"] == account and t["table"] == qualified
            ]
            if reads:
                out.append(
                    {
                        "model_group": f"{g.account}.{g.name}",
                        "version": v.version,
                        "status": v.status,
                        "snapshot_id": reads[0].get("snapshot_id"),
                    }
                )
    return out


def export_openlineage(lineage: Lineage, path: str | Path) -> Path:
    """Write one OpenLineage COMPLETE run event per visible job of the chain (processing,
    training, recipe and crawl runs) with its input and output datasets, through the client's
    file transport (JSON lines)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.transport.file import FileConfig, FileTransport

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    client = OpenLineageClient(
        transport=FileTransport(FileConfig(log_file_path=str(out), append=True))
    )
    by_id = {n.id: n for n in lineage.nodes}
    consumers: dict[str, list[str]] = {}
    for n in lineage.nodes:
        for p in n.parents:
            consumers.setdefault(p, []).append(n.id)

    def dataset_name(node: LineageNode) -> str:
        return node.id.split(":", 1)[1]

    now = datetime.now(UTC).isoformat()
    job_kinds = {"processing_job", "training_run", "recipe_run", "crawl_run", "query"}
    emitted = 0
    for n in lineage.nodes:
        if n.kind not in job_kinds or not n.visible or n.kind == "query":
            continue
        inputs = []
        for p in n.parents:
            parent = by_id.get(p)
            if parent is None or not parent.visible:
                continue
            if parent.kind == "query":  # a processing job reads through its queries
                for q in parent.parents:
                    src = by_id.get(q)
                    if src is not None and src.visible:
                        inputs.append(InputDataset(NAMESPACE, dataset_name(src)))
            elif parent.kind not in job_kinds:
                inputs.append(InputDataset(NAMESPACE, dataset_name(parent)))
        outputs = [
            OutputDataset(NAMESPACE, dataset_name(by_id[c]))
            for c in consumers.get(n.id, [])
            if c in by_id and by_id[c].visible and by_id[c].kind not in job_kinds
        ]
        event = RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=now,
            run=Run(runId=_ol_uuid(n.id)),
            job=Job(namespace=NAMESPACE, name=f"{n.kind}.{n.id.split(':', 1)[1]}"),
            producer="https://github.com/meshlake/meshlake",
            inputs=inputs,
            outputs=outputs,
        )
        client.emit(event)
        emitted += 1
    if emitted == 0:
        raise InvalidInputError("nothing of this lineage is visible to export")
    return out


def lineage_json(lineage: Lineage) -> str:
    """The lineage as indented JSON."""
    return json.dumps(lineage.to_dict(), indent=2, default=str)
