"""The protocol a crawl writes through, and the table properties the crawler sets.

The service layer implements :class:`CrawlTarget` on top of a session: the crawling
principal's permissions, a (possibly linked) database and Iceberg tables. The crawler never
talks to the catalog or to Iceberg itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pyarrow as pa

__all__ = [
    "PROP_CLASSIFICATION",
    "PROP_COMPRESSION",
    "PROP_DELIMITER",
    "PROP_DEPRECATED",
    "PROP_HEADER_LINES",
    "PROP_LOCATION",
    "PROP_OBJECT_COUNT",
    "PROP_PARTITION_KEYS",
    "PROP_RECORD_COUNT",
    "CrawlTarget",
]

#: Glue's property names where Glue has one, ``crawler.*`` otherwise.
PROP_CLASSIFICATION = "classification"  # csv | json | parquet
PROP_DELIMITER = "delimiter"  # the field delimiter of csv files ("whitespace": runs of spaces)
PROP_HEADER_LINES = "skip.header.line.count"  # "1" when the files have a header row
PROP_COMPRESSION = "compressionType"  # none | gzip
PROP_OBJECT_COUNT = "objectCount"  # files ingested so far
PROP_RECORD_COUNT = "recordCount"  # rows ingested so far
PROP_LOCATION = "crawler.location"  # the crawled location (URI)
PROP_PARTITION_KEYS = "crawler.partition_keys"  # comma-separated key=value folder keys
PROP_DEPRECATED = "crawler.deprecated"  # "true" when every file of the table disappeared


@runtime_checkable
class CrawlTarget(Protocol):
    """Where a crawl creates and updates tables (one database, as one principal).

    Every method raises a :class:`meshlake.MeshError` subclass on failure. An
    ``AccessDeniedError`` stops the crawl (the run is recorded as FAILED and the error is
    re-raised); any other ``MeshError`` fails only the table it concerns.
    """

    def table_schema(self, table: str) -> pa.Schema | None:
        """The table's current schema, or None when the table does not exist."""
        ...

    def create_table(self, table: str, data: pa.Table) -> int:
        """Create ``table`` with ``data``'s schema and rows in one commit.

        Returns:
            The new snapshot id.
        """
        ...

    def append(self, table: str, data: pa.Table) -> int:
        """Append rows; ``data`` has exactly the table's (evolved) schema.

        Returns:
            The new snapshot id.
        """
        ...

    def evolve_schema(self, table: str, schema: pa.Schema) -> None:
        """Make ``schema`` the table's schema: the old fields in order, new nullable fields
        appended (a new Iceberg schema; old rows read NULL for the new columns)."""
        ...

    def set_properties(self, table: str, properties: Mapping[str, str]) -> None:
        """Set table properties (``crawler.deprecated``, ``classification``, ...)."""
        ...

    def drop_table(self, table: str) -> None:
        """Drop the table (delete behaviour DELETE_FROM_DATABASE)."""
        ...
