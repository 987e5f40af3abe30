"""Grouping files into tables: folders, partitions, compatible schemas."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshlake.errors import InvalidInputError
from meshlake.storage.crawler.classify import (
    FileGroup,
    cluster_files,
    group_files,
    partition_types,
    partition_values,
    table_name,
)
from meshlake.storage.crawler.detect import Classification
from meshlake.storage.crawler.location import DataFile

CSV, JSON = Classification.CSV, Classification.JSON


def _f(path: str) -> DataFile:
    return DataFile(path, "/" + path, 1, 1)


def test_group_by_top_folder_partitions_stay_with_the_root():
    files = [_f("a.csv"), _f("year=2024/b.csv"), _f("sales/x.csv"), _f("sales/m=1/y.csv")]
    groups = group_files(files, location_name="Landing", table=None, is_file=False)
    assert [(g.name, g.prefix, [f.path for f in g.files]) for g in groups] == [
        ("landing", (), ["a.csv", "year=2024/b.csv"]),
        ("sales", ("sales",), ["sales/x.csv", "sales/m=1/y.csv"]),
    ]


def test_named_table_and_single_file():
    files = [_f("a.csv"), _f("sub/b.csv")]
    [group] = group_files(files, location_name="x", table="raw", is_file=False)
    assert group.name == "raw" and len(group.files) == 2
    [single] = group_files([_f("My Data.csv.gz")], location_name="x", table=None, is_file=True)
    assert single.name == "my_data"
    with pytest.raises(InvalidInputError):
        group_files(files, location_name="x", table="bad name!", is_file=False)


def test_table_names():
    assert table_name("statlog-german.data") == "statlog_german"
    assert table_name(".hidden") == "hidden"


def test_partitions_values_and_types():
    file = _f("t/year=2024/region=eu/day=__HIVE_DEFAULT_PARTITION__/a.csv")
    values = partition_values(file, ("t",))
    assert values == {"year": "2024", "region": "eu", "day": None}
    types = partition_types([values, {"year": "2023", "region": "us", "day": "2024-01-02"}])
    assert types == {"year": pa.int64(), "region": pa.string(), "day": pa.date32()}


def _schema(*names: str) -> pa.Schema:
    return pa.schema([(n, pa.string()) for n in names])


def test_cluster_compatible_files_together_incompatible_apart():
    group = FileGroup("t", (), ())
    files = [
        (_f("1.csv"), CSV, _schema("id", "a", "b")),
        (_f("2.csv"), CSV, _schema("id", "a", "b", "c")),  # one more column: same table
        (_f("3.csv"), CSV, _schema("x", "y")),  # nothing in common
        (_f("4.json"), JSON, _schema("id", "a", "b")),  # same columns, other format
    ]
    clusters = cluster_files(group, files, {}, single_table=False)
    assert [(c.table, [f.path for f in c.files]) for c in clusters] == [
        ("t", ["1.csv", "2.csv"]),
        ("t_3", ["3.csv"]),
        ("t_4", ["4.json"]),
    ]
    named = cluster_files(group, files, {}, single_table=True)
    assert [(c.table, len(c.files)) for c in named] == [("t", 4)]


def test_cluster_seeds_with_existing_tables():
    group = FileGroup("t", (), ())
    seeds = {"t": _schema("id", "a"), "t_other": _schema("x", "y")}
    clusters = cluster_files(
        group, [(_f("n.csv"), CSV, _schema("x", "y", "z"))], seeds, single_table=False
    )
    assert [(c.table, len(c.files)) for c in clusters] == [("t_other", 1)]
