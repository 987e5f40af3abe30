"""The data products service: publish a contract over a table, list, version and search products.

Publishing reads the table as the caller through the governed query layer, checks the
contract's schema and blocking quality rules before any write, derives the contract's tags
onto the table, and stores one new product version (quality, bias, schema, changelog).
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select

from meshlake.catalog.product_models import ProductRow, ProductVersionRow
from meshlake.errors import ConflictError, InvalidInputError, NotFoundError
from meshlake.governance.engine import ResolvedTable
from meshlake.products.bias import BiasReport, compute_bias
from meshlake.products.changelog import ColumnChange, SchemaDiff, diff_schemas
from meshlake.products.conformance import check_contract_against_schema
from meshlake.products.contract import load_contract
from meshlake.products.model import Contract
from meshlake.products.quality import QualityReport, compute_quality
from meshlake.products.search import Hit, ProductDocument, build_index, search
from meshlake.products.tags import derive_tags, tag_values
from meshlake.resources import Column, Table
from meshlake.service.events import table_scope
from meshlake.service.queries import QueryAPI
from meshlake.service.runtime import ServiceBase
from meshlake.service.tags import TagsAPI

__all__ = ["Product", "ProductVersion", "ProductsAPI", "contract_text"]


def contract_text(source: str | os.PathLike[str]) -> str:
    """The YAML text of a contract given as text or as a path (as :func:`load_contract` reads it).

    Raises:
        InvalidInputError: the file cannot be read.
    """
    if isinstance(source, str) and not (
        "\n" not in source and source.strip().lower().endswith((".yaml", ".yml", ".json"))
    ):
        return source
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read contract file {str(source)!r}: {exc}") from exc


@dataclass(frozen=True)
class Product:
    """A published product as listed to a caller."""

    name: str
    owner_account: str
    table_account: str
    database: str
    table: str
    status: str
    created_by: str
    created_at: datetime
    latest_version: int
    contract: Contract

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the contract as its summary dict)."""
        return {
            "name": self.name,
            "owner_account": self.owner_account,
            "table_account": self.table_account,
            "database": self.database,
            "table": self.table,
            "status": self.status,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "latest_version": self.latest_version,
            "contract": self.contract.to_dict(),
        }


@dataclass(frozen=True)
class ProductVersion:
    """One published version of a product."""

    product: str
    version: int
    snapshot_id: int | None
    quality: QualityReport
    bias: BiasReport | None
    schema: tuple[tuple[int, str, str], ...]
    changelog: SchemaDiff
    published_by: str
    published_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "product": self.product,
            "version": self.version,
            "snapshot_id": self.snapshot_id,
            "quality": self.quality.to_dict(),
            "bias": None if self.bias is None else self.bias.to_dict(),
            "schema": [list(c) for c in self.schema],
            "changelog": self.changelog.to_dict(),
            "published_by": self.published_by,
            "published_at": self.published_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductVersion:
        """Rebuild a version from :meth:`to_dict` output (as the server sends it)."""
        return cls(
            data["product"],
            int(data["version"]),
            None if data.get("snapshot_id") is None else int(data["snapshot_id"]),
            QualityReport.from_dict(data["quality"]),
            None if data.get("bias") is None else BiasReport.from_dict(data["bias"]),
            tuple((int(i), str(n), str(t)) for i, n, t in data.get("schema", ())),
            _diff_from_dict(data.get("changelog") or {}),
            data["published_by"],
            _aware(datetime.fromisoformat(data["published_at"])),
        )


class ProductsAPI(ServiceBase):
    """Publish, list, version and search data products."""

    # ------------------------------------------------------------------ publish
    def publish(
        self,
        contract: str | Path,
        *,
        database: str,
        table: str | None = None,
        account: str | None = None,
    ) -> ProductVersion:
        """Publish (or re-publish) the product of ``contract`` over ``database.table``.

        Args:
            contract: the ODCS YAML text or a path to it.
            database: the database (or resource link) holding the table.
            table: the table; default the contract table's physical name.
            account: the database's account (default the caller's).

        Returns:
            The new version.

        Raises:
            NotFoundError: the table is missing or invisible to the caller.
            InvalidInputError: bad contract, schema mismatch, a blocking quality rule fails,
                or a derived tag key/value is missing and the caller may not create it.
            ConflictError: the product name belongs to another account or table.
        """
        text = contract_text(contract)
        c = load_contract(text)
        ctable = c.table
        name = table or ctable.physical_name
        resolved = self.rt.engine.resolve_table(
            self.state(), self.principal, database, name, account
        )
        if resolved is None:
            raise NotFoundError(f"table {database}.{name} not found")
        info, table_account = resolved.table, resolved.database.account
        owner = self.account  # the publishing domain owns the product
        check_contract_against_schema(c, list(zip(info.columns, info.types, strict=True)))
        previous = self._existing(c.name)
        if previous is not None and (
            previous[0].owner_account != owner
            or (previous[0].database, previous[0].table) != (resolved.database.name, info.name)
        ):
            raise ConflictError(f"product {c.name} is published over another table")
        queries = QueryAPI(self.rt, self.principal)
        # The version is bound to the snapshot the metrics were measured on: pin it first,
        # then read exactly that snapshot (a concurrent append cannot slip in between).
        snapshot = self.rt.tables.load(info.iceberg_id).current_snapshot()
        ref = f'"{database}"."{name}"'
        if snapshot is not None:
            ref += f" FOR VERSION AS OF {snapshot.snapshot_id}"
        data = queries.run(f"SELECT * FROM {ref}", database=None, service="processing").to_arrow()
        modified = (
            None if snapshot is None else datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)
        )
        now = datetime.now(UTC)

        def run_sql(sql: str) -> Any:
            out = queries.run(sql, service="processing").to_arrow()
            return out.column(0)[0].as_py() if out.num_rows else None

        quality = compute_quality(
            data, c, now=now, last_modified=modified, run_sql=run_sql, sql_table_ref=ref
        )
        if not quality.ok:  # refused: the event is a unit of its own
            self.emit(
                "quality.failed",
                f"/products/{c.name}",
                f"product:{c.name}",
                {
                    "product": c.name,
                    "snapshot_id": None if snapshot is None else snapshot.snapshot_id,
                    "failures": [r.name for r in quality.blocking_failures],
                    "quality": quality.to_dict(),
                },
                table_scope(
                    table_account, resolved.database.name, info.name, product=c.name, extra=owner
                ),
            )
        quality.raise_for_blocking()
        bias = _bias(data, c)
        with self.unit(bump=False):  # tags, product and version: one unit of work
            return self._record_version(
                c, text, previous, resolved, table_account, quality, bias, snapshot, now
            )

    def _record_version(
        self,
        c: Contract,
        text: str,
        previous: tuple[ProductRow, ProductVersionRow | None] | None,
        resolved: ResolvedTable,
        table_account: str,
        quality: QualityReport,
        bias: BiasReport | None,
        snapshot: Any,
        now: datetime,
    ) -> ProductVersion:
        info, owner = resolved.table, self.account
        previous = self._existing(c.name)  # again, under the write lock
        if previous is not None and (
            previous[0].owner_account != owner
            or (previous[0].database, previous[0].table) != (resolved.database.name, info.name)
        ):
            raise ConflictError(f"product {c.name} is published over another table")
        self._apply_tags(c, resolved.database.name, info.name, table_account)
        schema = tuple(zip(info.field_ids, info.columns, info.types, strict=True))
        old_schema = None if previous is None or previous[1] is None else previous[1].schema
        changelog = diff_schemas([tuple(x) for x in old_schema] if old_schema else None, schema)
        version = 1 if previous is None or previous[1] is None else previous[1].version + 1
        snap_id = None if snapshot is None else snapshot.snapshot_id
        with self.change(
            "publish_product",
            f"product:{c.name}",
            [owner, table_account],
            after={
                "version": version,
                "snapshot_id": snap_id,
                "table": f"{table_account}.{resolved.database.name}.{info.name}",
            },
            bump=False,
        ) as (session, _):
            row = session.scalars(select(ProductRow).where(ProductRow.name == c.name)).first()
            if row is None:
                row = ProductRow(
                    name=c.name,
                    owner_account=owner,
                    table_account=table_account,
                    database=resolved.database.name,
                    table=info.name,
                    contract_yaml=text,
                    status=c.status or "active",
                    created_by=self.principal,
                    created_at=now,
                )
                session.add(row)
                session.flush()
            else:
                row.contract_yaml, row.status = text, c.status or "active"
            session.add(
                ProductVersionRow(
                    product_id=row.id,
                    version=version,
                    snapshot_id=snap_id,
                    quality=quality.to_dict(),
                    bias=None if bias is None else bias.to_dict(),
                    schema=[list(s) for s in schema],
                    changelog=changelog.to_dict(),
                    published_by=self.principal,
                    published_at=now,
                )
            )
            scope = table_scope(
                table_account, resolved.database.name, info.name, product=c.name, extra=owner
            )
            data = {
                "product": c.name,
                "version": version,
                "snapshot_id": snap_id,
                "table": f"{table_account}.{resolved.database.name}.{info.name}",
                "quality_ok": quality.ok,
                "changelog": changelog.to_dict(),
            }
            source = f"/products/{c.name}"
            kind = "product.published" if version == 1 else "product.updated"
            self.emit(kind, source, f"product:{c.name}", data, scope)
            if version > 1 and changelog.changes:
                self.emit("schema.changed", source, f"product:{c.name}", data, scope)
        return ProductVersion(
            c.name, version, snap_id, quality, bias, schema, changelog, self.principal, now
        )

    def _existing(self, name: str) -> tuple[ProductRow, ProductVersionRow | None] | None:
        with self.rt.store.read() as session:
            row = session.scalars(select(ProductRow).where(ProductRow.name == name)).first()
            if row is None:
                return None
            latest = session.scalars(
                select(ProductVersionRow)
                .where(ProductVersionRow.product_id == row.id)
                .order_by(ProductVersionRow.version.desc())
            ).first()
            return row, latest

    def _apply_tags(self, c: Contract, database: str, table: str, owner: str) -> None:
        derived = derive_tags(c)
        tags = TagsAPI(self.rt, self.principal)
        st = self.state()
        admin = self.account == owner and st.is_admin(self.principal, owner)
        for key, values in sorted(tag_values(derived).items()):
            existing = st.tag_key_by_name.get((owner, key))
            missing = values - (set() if existing is None else st.tag_keys[existing].values)
            if not missing:
                continue
            if not admin:
                raise InvalidInputError(
                    f"tag key {key} of account {owner} lacks values {sorted(missing)}: an admin "
                    f"of {owner} must create them, or publish as an admin of {owner}"
                )
            if existing is None:
                tags.create(key, sorted(values))
            else:
                tags.update(key, add=sorted(missing))
        tags.assign(Table(database, table, account=owner), derived["table"])
        for column, col_tags in sorted(derived["columns"].items()):
            tags.assign(Column(database, table, column, account=owner), col_tags)

    # ------------------------------------------------------------------ reading
    def _visible(self, row: ProductRow, c: Contract) -> bool:
        return c.discoverable or self.account == row.owner_account

    def _products(self) -> list[Product]:
        with self.rt.store.read() as session:
            latest = dict(
                session.execute(
                    select(
                        ProductVersionRow.product_id, func.max(ProductVersionRow.version)
                    ).group_by(ProductVersionRow.product_id)
                ).all()
            )
            rows = list(session.scalars(select(ProductRow).order_by(ProductRow.name)))
        out = []
        for row in rows:
            c = load_contract(row.contract_yaml)
            if self._visible(row, c):
                out.append(
                    Product(
                        row.name,
                        row.owner_account,
                        row.table_account,
                        row.database,
                        row.table,
                        row.status,
                        row.created_by,
                        _aware(row.created_at),
                        int(latest.get(row.id, 0)),
                        c,
                    )
                )
        return out

    def list(self) -> list[Product]:
        """The products visible to the caller, by name."""
        return self._products()

    def get(self, name: str) -> Product:
        """One product.

        Raises:
            NotFoundError: missing, or not discoverable and the caller is outside its account.
        """
        for p in self._products():
            if p.name == name:
                return p
        raise NotFoundError(f"data product {name} not found")

    def describe(self, name: str) -> dict[str, Any]:
        """A product's full description: the product, its versions and the models built on
        it that the caller may DESCRIBE (from the ML lineage).

        Raises:
            NotFoundError: missing, or not discoverable and the caller is outside its account.
        """
        from meshlake.service.ml import MLAPI  # the ML facade loads its libraries lazily

        product = self.get(name)
        return {
            **product.to_dict(),
            "versions": [v.to_dict() for v in self.versions(name)],
            "models": MLAPI(self.rt, self.principal).models_of_product(
                product.table_account, product.database, product.table
            ),
        }

    def versions(self, name: str) -> builtins.list[ProductVersion]:
        """Every version of a product, oldest first.

        Raises:
            NotFoundError: as :meth:`get`.
        """
        self.get(name)
        with self.rt.store.read() as session:
            rows = session.scalars(
                select(ProductVersionRow)
                .join(ProductRow, ProductRow.id == ProductVersionRow.product_id)
                .where(ProductRow.name == name)
                .order_by(ProductVersionRow.version)
            ).all()
            return [_version(name, r) for r in rows]

    def search(self, text: str, *, limit: int = 20) -> builtins.list[Hit]:
        """Full-text search over the visible products (ids are product names)."""
        docs = [
            ProductDocument.from_contract(p.name, p.contract, derive_tags(p.contract))
            for p in self._products()
        ]
        return search(build_index(docs), text, limit=limit)


def _bias(data: pa.Table, c: Contract) -> BiasReport | None:
    label = c.label_column
    sensitive = [s for s in c.sensitive_columns if s in data.column_names]
    if label is None or label not in data.column_names or not sensitive:
        return None
    return compute_bias(data, label, c.positive_label, sensitive)


def _version(name: str, r: ProductVersionRow) -> ProductVersion:
    return ProductVersion(
        name,
        r.version,
        r.snapshot_id,
        QualityReport.from_dict(r.quality),
        None if r.bias is None else BiasReport.from_dict(r.bias),
        tuple((int(a), str(b), str(t)) for a, b, t in r.schema),
        diff_schemas(None, ()) if not r.changelog else _diff_from_dict(r.changelog),
        r.published_by,
        _aware(r.published_at),
    )


def _aware(t: datetime) -> datetime:
    """SQLite returns naive datetimes: they are UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _diff_from_dict(data: dict[str, Any]) -> SchemaDiff:
    changes = tuple(
        ColumnChange(**{k: v for k, v in ch.items() if k in ColumnChange.__dataclass_fields__})
        for ch in data.get("changes", ())
    )
    return SchemaDiff(changes)
