"""The crawler (Glue crawler): files in a location become Iceberg tables.

Over a local folder or an fsspec / pyarrow URI of CSV, TSV / space-delimited, JSON-lines and
Parquet files (possibly gzip-compressed), a crawl detects each file's format, delimiter and
header (Glue's rules), infers column types from a sample, groups files into tables and
creates or updates the tables through a :class:`CrawlTarget`, following a
:class:`SchemaChangePolicy`. The run is recorded in a :class:`CrawlStateStore`::

    run = crawl(target, "/landing/credit", table="credit_raw", state=MemoryCrawlState())
    run.state, run.tables_created, run.rows_added

Modules: ``detect`` (format, dialect, header), ``infer`` (types), ``location`` (file
systems), ``readers`` (sniff and read files), ``classify`` (files -> tables), ``ingest``
(one table's append), ``run`` (the crawl), ``state`` (crawl state), ``target`` (protocol).
"""

from __future__ import annotations

from meshlake.storage.crawler.model import (
    CrawlRun,
    DeleteBehavior,
    FileError,
    FileRecord,
    RunState,
    SchemaChange,
    SchemaChangePolicy,
    UpdateBehavior,
)
from meshlake.storage.crawler.run import ProgressCallback, crawl
from meshlake.storage.crawler.state import (
    CRAWLER_METADATA,
    CrawlStateStore,
    MemoryCrawlState,
    SqlCrawlState,
)
from meshlake.storage.crawler.target import PROP_DEPRECATED, CrawlTarget

__all__ = [
    "CRAWLER_METADATA",
    "PROP_DEPRECATED",
    "CrawlRun",
    "CrawlStateStore",
    "CrawlTarget",
    "DeleteBehavior",
    "FileError",
    "FileRecord",
    "MemoryCrawlState",
    "ProgressCallback",
    "RunState",
    "SchemaChange",
    "SchemaChangePolicy",
    "SqlCrawlState",
    "UpdateBehavior",
    "crawl",
]
