"""Query executions, workgroups, stored results with retention, and read audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import meshlake


@pytest.fixture
def world(mesh: meshlake.Mesh) -> meshlake.Mesh:
    root = mesh.bootstrap()
    root.accounts.create("p")
    for p in ("p/admin", "p/u", "p/v"):
        root.principals.create(p)
    root.accounts.set_admins("p", ["p/admin"])
    admin = mesh.session("p/admin")
    admin.catalog.create_database("sales")
    admin.catalog.create_table(
        "sales", "orders", {"id": "bigint", "region": "varchar"}, [[1, "us"], [2, "eu"], [3, "us"]]
    )
    admin.filters.create("sales", "orders", "us", row_filter="region = 'us'")
    admin.grant("p/u", meshlake.DataFilter("sales", "orders", "us"), ["SELECT"])
    return mesh


def test_executions_are_recorded_and_visible_to_owner_and_admins(world: meshlake.Mesh) -> None:
    u = world.session("p/u")
    result = u.query("SELECT id FROM orders ORDER BY id", database="sales")
    assert result.rows() == [(1,), (3,)]
    ex = u.queries.get(result.query_id or "")
    assert ex.state == "SUCCEEDED" and ex.rows == 2
    assert ex.tables[0]["filters"] == ["us"] and ex.tables[0]["columns"] == ["id"]
    assert ex.tables[0]["snapshot_id"] is not None
    assert world.session("p/admin").queries.get(ex.query_id).principal == "p/u"
    with pytest.raises(meshlake.NotFoundError):
        world.session("p/v").queries.get(ex.query_id)
    assert [e.query_id for e in u.queries.list()] == [ex.query_id]
    assert u.read_sql_query("SELECT count(*) AS n FROM sales.orders")["n"][0] == 2


def test_failed_queries_are_recorded_without_leaking(world: meshlake.Mesh) -> None:
    v = world.session("p/v")
    with pytest.raises(meshlake.NotFoundError):
        v.query("SELECT * FROM sales.orders")
    (ex,) = v.queries.list()
    assert ex.state == "FAILED" and "not_found" in (ex.error or "")
    with pytest.raises(meshlake.InvalidQueryError):
        v.query("DELETE FROM sales.orders")


def test_reads_are_audited_for_reader_and_owner_admins(world: meshlake.Mesh) -> None:
    u = world.session("p/u")
    result = u.query("SELECT * FROM sales.orders")
    events = [e.to_dict() for e in world.session("p/admin").audit(category="read")]
    (event,) = [e for e in events if e["query_id"] == result.query_id]
    assert event["principal"] == "p/u" and event["table"] == "sales.orders"
    assert event["filters"] == ["us"] and event["rows"] == 2 and event["service"] == "query"
    assert event["columns"] == ["id", "region"]
    assert world.session("p/v").audit(category="read") == []
    assert world.session("p/admin").verify_audit().ok


def test_workgroup_results_expire(world: meshlake.Mesh, tmp_path: object) -> None:
    admin = world.session("p/admin")
    wg = admin.queries.create_workgroup("short", retention=timedelta(hours=1))
    assert wg.retention_seconds == 3600
    with pytest.raises(meshlake.ConflictError):
        admin.queries.create_workgroup("short")
    with pytest.raises(meshlake.AccessDeniedError):
        world.session("p/u").queries.create_workgroup("mine")
    u = world.session("p/u")
    assert [w.name for w in u.queries.workgroups()] == ["primary", "short"]
    result = u.query("SELECT id FROM sales.orders", workgroup="short")
    assert u.queries.result(result.query_id or "").rows() == result.rows()
    assert u.queries.sweep() == 0
    assert u.queries.sweep(now=datetime.now(UTC) + timedelta(hours=2)) == 1
    with pytest.raises(meshlake.ExpiredError):
        u.queries.result(result.query_id or "")
    with pytest.raises(meshlake.NotFoundError):
        u.query("SELECT 1", workgroup="nosuch")


@pytest.mark.parametrize("stored", ["inline", "file"])
def test_small_results_stay_with_the_record_large_ones_go_to_files(
    world: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    from pathlib import Path

    import meshlake.service.queries as query_api

    if stored == "file":
        monkeypatch.setattr(query_api, "STORED_INLINE_BYTES", 0)
    folder = Path(world.runtime.settings.results_dir)
    files = set(folder.rglob("*.parquet"))
    u = world.session("p/u")
    result = u.query("SELECT id, region FROM sales.orders ORDER BY id")
    new_files = set(folder.rglob("*.parquet")) - files
    assert len(new_files) == (1 if stored == "file" else 0)
    ex = u.queries.get(result.query_id or "")
    assert (ex.result_path is None) == (stored == "inline")
    again = u.queries.result(ex.query_id)
    assert again.rows() == [(1, "us"), (3, "us")] and again.columns == ["id", "region"]
    assert u.queries.sweep(now=datetime.now(UTC) + timedelta(days=30)) >= 1
    assert not set(folder.rglob("*.parquet")) - files
    with pytest.raises(meshlake.ExpiredError):
        u.queries.result(ex.query_id)


def test_errors_do_not_reveal_the_spelling_of_invisible_tables(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    admin.catalog.create_table("sales", "SecretPlans", {"x": "bigint"}, [[1]])
    with pytest.raises(meshlake.NotFoundError) as info:
        world.session("p/v").query("SELECT * FROM sales.secretplans")
    assert "SecretPlans" not in str(info.value)
    assert admin.query("SELECT x FROM sales.secretplans").rows() == [(1,)]


def test_a_query_that_is_not_text_is_refused_and_not_recorded(world: meshlake.Mesh) -> None:
    analyst = world.session("p/u")
    before = len(analyst.queries.list())
    for sql in (None, 42, b"SELECT 1"):
        with pytest.raises(meshlake.InvalidQueryError, match="SQL text"):
            analyst.query(sql)  # type: ignore[arg-type]
    assert len(analyst.queries.list()) == before


def test_result_locations_must_be_local(world: meshlake.Mesh) -> None:
    admin = world.session("p/admin")
    version = world.runtime.store.version()
    with pytest.raises(meshlake.InvalidInputError, match="not a local folder"):
        admin.queries.create_workgroup("remote", result_location="s3://bucket/results")
    assert world.runtime.store.version() == version
    with pytest.raises(meshlake.NotFoundError):
        admin.queries.workgroup("remote")


def test_a_result_that_cannot_be_stored_ends_failed_without_reads(
    world: meshlake.Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meshlake.service.queries as query_api

    reader = world.session("p/u")
    executions = len(reader.queries.list())
    reads = len(world.session("p/admin").audit(category="read"))

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(query_api, "STORED_INLINE_BYTES", 0)  # every result goes to a file
    monkeypatch.setattr(query_api.pq, "write_table", full_disk)
    with pytest.raises(meshlake.StorageError, match="could not store the result"):
        reader.query("SELECT * FROM sales.orders")
    history = reader.queries.list()
    assert len(history) == executions + 1  # recorded RUNNING at the start, then FAILED
    assert history[0].state == "FAILED" and history[0].result_path is None
    assert "could not store the result" in (history[0].error or "")
    assert len(world.session("p/admin").audit(category="read")) == reads
    monkeypatch.undo()
    assert reader.query("SELECT count(*) AS n FROM sales.orders").rows() == [(2,)]
