"""Which scans may read their files by name: only when that gives what field ids give."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from query_fakes import FakeCatalog

from meshlake.query.context import ScanColumn
from meshlake.query.engines import GovernedScan
from meshlake.query.engines.duckdb import DuckDBEngine, local_path
from meshlake.query.engines.file_schemas import FileSchemas, readable_by_name

COLUMNS = (ScanColumn("id", 1, "BIGINT"), ScanColumn("name", 2, "VARCHAR"))


def _file(path: Path, fields: list[tuple[str, int, pa.DataType]], rows: int = 1) -> str:
    schema = pa.schema(
        [pa.field(n, t, metadata={b"PARQUET:field_id": str(i).encode()}) for n, i, t in fields]
    )
    arrays = [pa.array([None] * rows, type=t) for _, _, t in fields]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return str(path)


def test_top_level_columns_skip_nested_children(tmp_path: Path) -> None:
    nested = pa.struct([pa.field("a", pa.int64()), pa.field("b", pa.list_(pa.string()))])
    path = _file(
        tmp_path / "f.parquet", [("id", 1, pa.int64()), ("s", 2, nested), ("z", 5, pa.string())]
    )
    assert FileSchemas().columns([path]) == [
        (("id", 1, "BIGINT"), ("s", 2, None), ("z", 5, "VARCHAR"))
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([("id", 1, pa.int64()), ("name", 2, pa.string())], True),
        ([("id", 1, pa.int64()), ("name", 2, pa.string()), ("old", 3, pa.string())], True),
        ([("id", 1, pa.int64()), ("full_name", 2, pa.string())], False),  # renamed since
        ([("id", 1, pa.int32()), ("name", 2, pa.string())], False),  # int promoted to long
        ([("id", 1, pa.int64())], False),  # written before "name" existed
        ([("id", 1, pa.int64()), ("name", 7, pa.string())], False),  # dropped and re-added
    ],
)
def test_only_files_with_the_current_schema_are_read_by_name(
    tmp_path: Path, fields: list[tuple[str, int, pa.DataType]], expected: bool
) -> None:
    files = FileSchemas().columns([_file(tmp_path / "f.parquet", fields)])
    assert readable_by_name(COLUMNS, files) is expected


def test_files_must_agree_with_each_other(tmp_path: Path) -> None:
    a = _file(tmp_path / "a.parquet", [("id", 1, pa.int64()), ("name", 2, pa.string())])
    b = _file(
        tmp_path / "b.parquet",
        [("id", 1, pa.int64()), ("name", 2, pa.string()), ("extra", 3, pa.string())],
    )
    schemas = FileSchemas()
    assert readable_by_name(COLUMNS, schemas.columns([a, a]))
    assert not readable_by_name(COLUMNS, schemas.columns([a, b]))
    assert not readable_by_name(COLUMNS, [])


def test_files_are_read_once_and_forgotten_oldest_first(tmp_path: Path) -> None:
    schemas = FileSchemas(size=2)
    paths = [
        _file(tmp_path / f"{i}.parquet", [("id", 1, pa.int64()), ("name", 2, pa.string())])
        for i in range(3)
    ]
    schemas.columns(paths[:2])
    Path(paths[0]).unlink()
    assert schemas.columns([paths[0]])[0][0] == ("id", 1, "BIGINT")  # cached, not re-read
    schemas.columns([paths[2]])  # evicts paths[1], the least recently used
    assert set(schemas._files) == {paths[0], paths[2]}


def test_the_engine_reads_by_name_only_when_it_may(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    def scan() -> GovernedScan:
        resolved = catalog.resolve("db", "people")
        visible = tuple(c for c in resolved.columns if c.name in resolved.policy.columns)
        return GovernedScan("__meshlake_scan_0", catalog.scan(resolved), resolved.policy, visible)

    current = scan()
    assert engine._by_name(current, [current])
    before = engine.execute('SELECT * FROM "__meshlake_scan_0" ORDER BY id', [current])
    catalog.rename_column("db", "people", "name", "full_name")
    renamed = scan()
    assert not engine._by_name(renamed, [renamed])
    after = engine.execute('SELECT * FROM "__meshlake_scan_0" ORDER BY id', [renamed])
    assert after.column("full_name").to_pylist() == before.column("name").to_pylist()
    assert [local_path(f) for f in renamed.scan.files] == [
        local_path(f) for f in current.scan.files
    ]
