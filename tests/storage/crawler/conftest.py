"""Fixtures for crawler tests: an in-memory CrawlTarget that keeps schema versions."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pyarrow as pa
import pytest

from meshlake.errors import ConflictError, InvalidInputError, NotFoundError
from meshlake.storage.crawler import MemoryCrawlState


class FakeTarget:
    """A CrawlTarget over pyarrow tables, checking the protocol's contract as Iceberg would."""

    def __init__(self) -> None:
        self.tables: dict[str, pa.Table] = {}
        self.schemas: dict[str, list[pa.Schema]] = {}
        self.properties: dict[str, dict[str, str]] = {}
        self.snapshots: dict[str, list[int]] = {}
        self.commits: list[tuple[str, str]] = []
        self._ids = itertools.count(1)

    def _need(self, table: str) -> None:
        if table not in self.tables:
            raise NotFoundError(f"table {table} not found")

    def table_schema(self, table: str) -> pa.Schema | None:
        return self.tables[table].schema if table in self.tables else None

    def create_table(self, table: str, data: pa.Table) -> int:
        if table in self.tables:
            raise ConflictError(f"table {table} exists")
        self.tables[table] = data
        self.schemas[table] = [data.schema]
        self.properties[table] = {}
        return self._commit(table, "create")

    def append(self, table: str, data: pa.Table) -> int:
        self._need(table)
        if not data.schema.equals(self.tables[table].schema):
            raise InvalidInputError(
                f"schema mismatch: {data.schema} vs {self.tables[table].schema}"
            )
        self.tables[table] = pa.concat_tables([self.tables[table], data])
        return self._commit(table, "append")

    def evolve_schema(self, table: str, schema: pa.Schema) -> None:
        self._need(table)
        old = self.tables[table]
        for i, f in enumerate(old.schema):  # Iceberg: existing columns keep name, order, type
            assert schema.field(i).name == f.name and schema.field(i).type.equals(f.type)
        for f in schema:
            if f.name not in old.column_names:
                old = old.append_column(f, pa.nulls(old.num_rows, f.type))
        self.tables[table] = old
        self.schemas[table].append(schema)
        self.commits.append((table, "evolve"))

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        self._need(table)
        self.properties[table].update(properties)
        self.commits.append((table, "properties"))

    def drop_table(self, table: str) -> None:
        self._need(table)
        del self.tables[table]
        self.commits.append((table, "drop"))

    def _commit(self, table: str, kind: str) -> int:
        snapshot = next(self._ids)
        self.snapshots.setdefault(table, []).append(snapshot)
        self.commits.append((table, kind))
        return snapshot


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def state() -> MemoryCrawlState:
    return MemoryCrawlState()
