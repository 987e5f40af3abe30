"""Group a location's files into tables (Glue's table grouping).

* A crawl given a ``table`` name puts every file under the location into that one table.
* A location that is a single file is one table, named after the file.
* Otherwise the files directly in the location (and under its ``key=value`` folders) form a
  table named after the location's folder, and each other top-level subfolder forms a table
  named after that subfolder (with everything below it).
* Folders named ``key=value`` between a table's folder and a file are partitions: ``key``
  becomes a column holding ``value`` (``__HIVE_DEFAULT_PARTITION__`` is NULL), typed from
  all values seen (``int64`` when every value is an integer, ...).
* Within a group, a file joins a table when it has the same format and shares at least
  half of its columns with it (Jaccard similarity); an incompatible file starts a table of
  its own, named ``<group>_<file stem>``. A file ingested before stays in its table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from meshlake.ids import check_name
from meshlake.storage.crawler.detect import Classification
from meshlake.storage.crawler.infer import infer_type, normalize_type
from meshlake.storage.crawler.location import DataFile

__all__ = [
    "HIVE_NULL",
    "FileGroup",
    "TableCluster",
    "cluster_files",
    "group_files",
    "partition_types",
    "partition_values",
    "table_name",
]

#: Hive's folder value for a NULL partition key.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

_PARTITION = re.compile(r"^([^=/]+)=(.*)$")
_BAD = re.compile(r"[^a-z0-9_]+")
_SIMILARITY = 0.5


@dataclass(frozen=True)
class FileGroup:
    """Files that may form one table: a folder (``prefix``) and the default table name."""

    name: str
    prefix: tuple[str, ...]
    files: tuple[DataFile, ...]


@dataclass
class TableCluster:
    """Files assigned to one table, and the union of their column names."""

    table: str
    classification: Classification | None
    columns: set[str]
    files: list[DataFile] = field(default_factory=list)


def table_name(text: str) -> str:
    """A table name from a folder or file name: lower case, ``_`` for anything else.

    >>> table_name("SouthGermanCredit.asc"), table_name("Credit Card-2024")
    ('southgermancredit', 'credit_card_2024')
    """
    stem = text.rsplit("/", 1)[-1]
    for suffix in (".gz", ".gzip"):
        stem = stem.removesuffix(suffix)
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    name = _BAD.sub("_", stem.lower()).strip("_")[:128] or "table"
    return check_name("table", name)


def group_files(
    files: Sequence[DataFile], *, location_name: str, table: str | None, is_file: bool
) -> list[FileGroup]:
    """Group files by the folder that makes them one table (see the module docstring).

    Args:
        files: every file under the location.
        location_name: the location's base name (the root table's default name).
        table: the table name the caller asked for, if any.
        is_file: True when the location is a single file.

    Returns:
        The groups, in order of their names.
    """
    if table is not None:
        return [FileGroup(check_name("table", table), (), tuple(files))]
    if is_file:
        return [FileGroup(table_name(files[0].name), (), tuple(files))] if files else []
    by_folder: dict[tuple[str, ...], list[DataFile]] = {}
    for f in files:
        top = f.folders[:1]
        key = () if not top or _PARTITION.match(top[0]) else top
        by_folder.setdefault(key, []).append(f)
    groups = [
        FileGroup(table_name(prefix[0] if prefix else location_name), prefix, tuple(group))
        for prefix, group in by_folder.items()
    ]
    return sorted(groups, key=lambda g: g.name)


def partition_values(file: DataFile, prefix: Sequence[str]) -> dict[str, str | None]:
    """The ``key=value`` folders between a group's folder and the file.

    >>> partition_values(DataFile("t/year=2024/m=1/a.csv", "", 0, 0), ("t",))
    {'year': '2024', 'm': '1'}
    """
    values: dict[str, str | None] = {}
    for folder in file.folders[len(prefix) :]:
        match = _PARTITION.match(folder)
        if match:
            value = match.group(2)
            values[match.group(1)] = None if value == HIVE_NULL else value
    return values


def partition_types(values: Iterable[Mapping[str, str | None]]) -> dict[str, pa.DataType]:
    """The type of each partition key over all its values (``string`` when unknown).

    >>> partition_types([{"y": "2023"}, {"y": "2024", "r": "eu"}])
    {'y': DataType(int64), 'r': DataType(string)}
    """
    seen: dict[str, list[str | None]] = {}
    for mapping in values:
        for key, value in mapping.items():
            seen.setdefault(key, []).append(value)
    return {key: normalize_type(infer_type(vals)) for key, vals in seen.items()}


def _similar(a: set[str], b: set[str]) -> bool:
    union = a | b
    return not union or len(a & b) / len(union) >= _SIMILARITY


def cluster_files(
    group: FileGroup,
    files: Sequence[tuple[DataFile, Classification, pa.Schema]],
    seeds: Mapping[str, pa.Schema],
    *,
    single_table: bool,
) -> list[TableCluster]:
    """Assign a group's new files to tables.

    Args:
        group: the group.
        files: the group's new files with their format and schema.
        seeds: tables this group already has (name -> schema), the group's own name first.
        single_table: True when the caller named the table: every file goes to it.

    Returns:
        One cluster per table that receives files (existing tables first).
    """
    clusters = [TableCluster(name, None, set(schema.names)) for name, schema in seeds.items()]
    if not any(c.table == group.name for c in clusters):
        clusters.insert(0, TableCluster(group.name, None, set()))
    for file, kind, schema in files:
        columns = set(schema.names)
        target = clusters[0] if single_table else None
        for cluster in clusters if target is None else ():
            fresh = not cluster.columns and not cluster.files
            same_kind = cluster.classification in (None, kind)
            if fresh or (same_kind and _similar(cluster.columns, columns)):
                target = cluster
                break
        if target is None:
            target = TableCluster(_free_name(group.name, file, clusters), kind, set())
            clusters.append(target)
        target.classification = target.classification or kind
        target.columns |= columns
        target.files.append(file)
    return [c for c in clusters if c.files]


def _free_name(base: str, file: DataFile, clusters: Sequence[TableCluster]) -> str:
    taken = {c.table for c in clusters}
    first = name = table_name(f"{base}_{table_name(file.name)}")
    n = 1
    while name in taken:
        n += 1
        name = f"{first}_{n}"
    return name
