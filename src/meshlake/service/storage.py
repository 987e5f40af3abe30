"""Crawling and curating as a principal: the session side of the crawler and recipes.

The crawler and the recipe engine know nothing of permissions; here they get targets that
act through the catalog API as the calling principal, so every create, append, schema change
and read is authorised (and a table created through a resource link lives in the link's
target account, rule 3).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from meshlake.catalog.storage_models import RecipeRunRow
from meshlake.errors import AccessDeniedError, InvalidInputError, NotFoundError
from meshlake.governance.locations import covering_location
from meshlake.ids import ROOT
from meshlake.resources import Location
from meshlake.service.catalog import CatalogAPI
from meshlake.service.events import database_scope
from meshlake.service.queries import QueryAPI
from meshlake.service.runtime import ServiceBase
from meshlake.storage.crawler import (
    CrawlRun,
    ProgressCallback,
    SchemaChangePolicy,
    SqlCrawlState,
    crawl,
)
from meshlake.storage.recipes import Recipe, RecipeRun, run_recipe

__all__ = ["SessionCrawlTarget", "SessionRecipeSource", "SessionRecipeTarget", "StorageAPI"]


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """Drop field-id metadata and map large types to their plain forms."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t, nullable=True))
    return pa.schema(fields)


def split_table_name(name: str) -> tuple[str, str]:
    """``database.table`` -> (database, table).

    >>> split_table_name("rl_credit-card.credit_card")
    ('rl_credit-card', 'credit_card')
    """
    database, sep, table = name.partition(".")
    if not sep or not database or not table or "." in table:
        raise InvalidInputError(f"name the table as database.table, not {name!r}")
    return database, table


class SessionCrawlTarget:
    """A database seen through the catalog API of the crawling principal."""

    def __init__(self, catalog: CatalogAPI, database: str, account: str | None = None) -> None:
        self.catalog = catalog
        self.database = database
        self.account = account

    def _exists(self, table: str) -> bool:
        try:
            self.catalog.resolve_table(self.database, table, self.account)
        except NotFoundError:
            return False
        return True

    def table_schema(self, table: str) -> pa.Schema | None:
        """The table's current schema, or None when there is no such (visible) table."""
        if not self._exists(table):
            return None
        rt = self.catalog.resolve_table(self.database, table, self.account)
        return _plain_schema(self.catalog.rt.tables.load(rt.table.iceberg_id).schema().as_arrow())

    def create_table(self, table: str, data: pa.Table) -> int:
        """Create the table with the first rows."""
        self.catalog.create_table(
            self.database,
            table,
            data=data,
            account=self.account,
            properties={"crawler.created": "true"},
        )
        return self.catalog.current_snapshot(self.database, table, account=self.account) or 0

    def append(self, table: str, data: pa.Table) -> int:
        """Append rows (INSERT)."""
        snap = self.catalog.append(self.database, table, data=data, account=self.account)
        return snap or 0

    def evolve_schema(self, table: str, schema: pa.Schema) -> None:
        """New Iceberg schema (ALTER)."""
        self.catalog.evolve_schema(self.database, table, schema, account=self.account)

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        """Table properties, e.g. the deprecation mark (ALTER)."""
        self.catalog.set_properties(self.database, table, dict(properties), account=self.account)

    def drop_table(self, table: str) -> None:
        """Drop the table (DROP)."""
        self.catalog.drop_table(self.database, table, account=self.account)


class SessionRecipeSource:
    """A recipe's source, read through governed SQL as the running principal."""

    def __init__(self, queries: QueryAPI, name: str) -> None:
        self.queries = queries
        self._name = name

    @property
    def table(self) -> str:
        """``database.table``."""
        return self._name

    def read(self) -> tuple[pa.Table, int | None]:
        """Every row the principal may read, and the snapshot read."""
        database, table = split_table_name(self._name)
        result = self.queries.run(f'SELECT * FROM "{database}"."{table}"', service="processing")
        ex = self.queries.get(result.query_id or "")
        snapshot = ex.tables[0]["snapshot_id"] if ex.tables else None
        return result.to_arrow(), snapshot


class SessionRecipeTarget:
    """A recipe's target: created, or overwritten, in one commit."""

    def __init__(self, catalog: CatalogAPI, name: str) -> None:
        self.catalog = catalog
        self._name = name

    @property
    def table(self) -> str:
        """``database.table``."""
        return self._name

    def write(self, data: pa.Table) -> int:
        """Create or overwrite the table."""
        database, table = split_table_name(self._name)
        try:
            rt = self.catalog.resolve_table(database, table)
        except NotFoundError:
            self.catalog.create_table(database, table, data=data)
            return self.catalog.current_snapshot(database, table) or 0
        current = _plain_schema(
            self.catalog.rt.tables.load(rt.table.iceberg_id).schema().as_arrow()
        )
        if current != _plain_schema(data.schema):
            raise InvalidInputError(
                f"the recipe's output does not match the schema of {self._name}: drop the "
                "table or write to a new one"
            )
        return self.catalog.overwrite(database, table, data=data) or 0


class StorageAPI(ServiceBase):
    """Crawl locations into tables and run curation recipes, as the calling principal."""

    @property
    def _catalog(self) -> CatalogAPI:
        return CatalogAPI(self.rt, self.principal)

    def crawl(
        self,
        location: str,
        *,
        database: str,
        table: str | None = None,
        policy: SchemaChangePolicy | None = None,
        progress: ProgressCallback | None = None,
        account: str | None = None,
    ) -> CrawlRun:
        """Crawl a folder or URI into tables of ``database`` (or a resource link).

        Crawling inside a registered location needs DATA_LOCATION_ACCESS on it (rule 10).
        """
        if isinstance(location, str) and "://" not in location:
            location = os.path.abspath(location)
        uri = self.checked_location(location, "a crawl source")
        location = uri
        st = self.state()
        covering = covering_location(st, self.account, uri)
        if covering is not None and not self.decide("DATA_LOCATION_ACCESS", Location(covering[1])):
            raise AccessDeniedError(
                f"{uri} lies inside the registered location {covering[1]}: crawling it needs "
                "DATA_LOCATION_ACCESS"
            )
        self._catalog.get_database(database, account)
        target = SessionCrawlTarget(self._catalog, database, account)
        run = crawl(
            target,
            location,
            table=table,
            policy=policy,
            state=SqlCrawlState(self.rt.store.engine),
            progress=progress,
            database=database,
            principal=self.principal,
        )
        st = self.state()
        db = self.rt.engine.find_database(st, self.principal, database, account)
        db = None if db is None else self.rt.engine.link_target(st, db)
        if db is not None:
            self.emit(
                "crawl.finished",
                f"/databases/{db.account}/{db.name}/crawls",
                f"crawl:{run.id}",
                run.to_dict(),
                database_scope(db.account, db.name),
            )
        return run

    def _run_visible(self, principal: str | None) -> bool:
        """A run is the caller's, or one of an account it administers (root: all)."""
        if self.principal == ROOT or principal == self.principal:
            return True
        return principal is not None and self.state().is_admin(
            self.principal, principal.split("/", 1)[0]
        )

    def crawl_runs(self, location: str | None = None) -> list[dict[str, Any]]:
        """Recorded crawl runs the caller may see (its own; admins: their accounts'),
        newest first, optionally of one location."""
        state = SqlCrawlState(self.rt.store.engine)
        return [r.to_dict() for r in state.list_runs(location) if self._run_visible(r.principal)]

    def run_recipe(
        self,
        recipe: Recipe | Mapping[str, Any] | str | os.PathLike[str],
        *,
        source: str,
        target: str,
    ) -> RecipeRun:
        """Run a recipe from ``source`` to ``target`` (both ``database.table``)."""
        run = run_recipe(
            SessionRecipeSource(QueryAPI(self.rt, self.principal), source),
            SessionRecipeTarget(self._catalog, target),
            recipe,
        )
        with self.change(
            "run_recipe", f"table:{target}", [self.account], bump=False, after=run.to_dict()
        ) as (session, _):
            session.add(
                RecipeRunRow(
                    id=run.id,
                    principal=self.principal,
                    recipe_name=run.recipe_name,
                    recipe_sha256=run.recipe_sha256,
                    source_table=run.source_table,
                    source_snapshot=run.source_snapshot,
                    target_table=run.target_table,
                    target_snapshot=run.target_snapshot,
                    rows_in=run.rows_in,
                    rows_out=run.rows_out,
                    detail=run.to_dict(),
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                )
            )
        return run

    def recipe_runs(self, target: str | None = None) -> list[dict[str, Any]]:
        """Recorded recipe runs (lineage) the caller may see (its own; admins: their
        accounts'), newest first."""
        stmt = select(RecipeRunRow).order_by(RecipeRunRow.finished_at.desc())
        if target:
            stmt = stmt.where(RecipeRunRow.target_table == target)
        with self.rt.store.read() as session:
            return [
                dict(r.detail, principal=r.principal)
                for r in session.scalars(stmt)
                if self._run_visible(r.principal)
            ]
