"""Console forms over the small world: the tag ontology, tags on a database, a table and a
column, data cells filters, workgroups, webhook subscriptions and dead letters. Each form
changes what its facade changes; a refused one shows its page again with the typed message
and changes nothing."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import meshlake
from meshlake import Database, DataFilter
from meshlake.service.events import dispatcher

from ..world import build_world
from .conftest import Browser, csrf_of

ORDERS = "/console/databases/sales/tables/orders"
JSON = {"Accept": "application/json"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[meshlake.Mesh]:
    """The small world on a server that lets webhooks go to 127.0.0.1 (explicitly: by
    default only public addresses may receive them)."""
    mesh = meshlake.connect(
        tmp_path / "home", allowed_roots=[], webhook_allowed_hosts=["127.0.0.1"]
    )
    build_world(mesh)
    yield mesh
    mesh.close()


def changes(world: meshlake.Mesh) -> int:
    """How many changes the audit log records (a refused form adds none; signing a browser
    in adds its token)."""
    return len(world.session("root").audit(category="change"))


def refused(r: object, status: int, kind: str, words: str) -> None:
    """``r`` is its page again (not a redirect) with the typed error above it."""
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    alert = re.search(r'<p class="error" role="alert">(.*?)</p>', text, re.S)
    assert alert and f"<strong>{kind}</strong>" in alert[1], text
    assert words in html.unescape(alert[1]), text


def test_tag_keys_created_changed_and_deleted(world: meshlake.Mesh, browser: Browser) -> None:
    admin = browser("p/admin")
    page = admin.get("/console/tags")
    assert 'id="new-tag"' in page.text
    csrf = csrf_of(page.text)
    r = admin.post(
        "/console/tags",
        data={"csrf": csrf, "key": "Tier", "values": "gold, silver"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/console/tags")
    twin = admin.get("/console/tags?format=json").json()
    assert twin["may_create"] is True
    tier = next(t for t in twin["tags"] if t["key"] == "tier")
    assert tier == {"key": "tier", "account": "p", "values": ["gold", "silver"], "editable": True}
    user = browser("p/u")

    before = changes(world)
    r = admin.post("/console/tags", data={"csrf": csrf, "key": "a=b", "values": "x"})
    refused(r, 400, "invalid_input", "must not contain")
    assert 'value="a=b"' in r.text and 'id="tags"' in r.text  # the page, with what was typed
    refused(
        admin.post("/console/tags", data={"csrf": csrf, "key": "tier", "values": "x"}),
        409,
        "conflict",
        "already exists",
    )
    refused(
        admin.post("/console/tags", data={"csrf": csrf, "key": "empty", "values": " , "}),
        400,
        "invalid_input",
        "at least one value",
    )
    assert changes(world) == before

    r = admin.post(
        "/console/tags/values",
        data={"csrf": csrf, "key": "tier", "add": "bronze", "remove": "silver"},
    )
    assert r.status_code == 200 and r.url.path == "/console/tags"
    assert world.session("p/admin").tags.list()[-1].values == ("bronze", "gold")
    world.session("p/admin").tags.assign(Database("sales"), {"tier": "gold"})
    before = changes(world)
    refused(
        admin.post("/console/tags/values", data={"csrf": csrf, "key": "tier", "remove": "gold"}),
        409,
        "conflict",
        "still assigned",
    )
    refused(
        admin.post("/console/tags/values", data={"csrf": csrf, "key": "nope", "add": "x"}),
        404,
        "not_found",
        "tag key nope not found",
    )

    # a user of the account sees the keys, is offered no new key, and may change none
    page = user.get("/console/tags")
    assert "tier" in page.text and 'id="new-tag"' not in page.text
    assert user.get("/console/tags?format=json").json()["may_create"] is False
    ucsrf = csrf_of(page.text)
    refused(
        user.post("/console/tags", data={"csrf": ucsrf, "key": "mine", "values": "a"}),
        403,
        "access_denied",
        "only admins of p",
    )
    refused(
        user.post("/console/tags/values", data={"csrf": ucsrf, "key": "tier", "add": "x"}),
        403,
        "access_denied",
        "ALTER on tag key tier",
    )
    refused(
        user.post("/console/tags/delete", data={"csrf": ucsrf, "key": "tier"}),
        403,
        "access_denied",
        "DROP on tag key tier",
    )
    assert changes(world) == before

    r = admin.post("/console/tags/delete", data={"csrf": csrf, "key": "tier"}, headers=JSON)
    assert r.json() == {"deleted": "tier"}
    assert [t.key for t in world.session("p/admin").tags.list()] == ["domain"]
    assert world.session("p/admin").tags.tags_of(Database("sales")) == {"domain": "sales"}


def test_tags_on_a_database_a_table_and_a_column(world: meshlake.Mesh, browser: Browser) -> None:
    admin = browser("p/admin")
    page = admin.get("/console/databases/sales?account=p")
    assert 'id="assign-database-tag"' in page.text and "<option>domain=hr</option>" in page.text
    twin = admin.get("/console/databases/sales?account=p&format=json").json()
    assert twin["tags"] == {"domain": "sales"}
    assert twin["tag_choices"] == ["domain=hr", "domain=sales"]
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "account": "p"}
    r = admin.post(ORDERS + "/tags", data={**form, "tag": "domain=hr"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, ORDERS + "?account=p")
    r = admin.post(ORDERS + "/tags", data={**form, "column": "ssn", "tag": "domain=hr"})
    assert r.status_code == 200 and r.url.path == ORDERS
    table = admin.get(ORDERS + "?account=p&format=json").json()
    assert table["tags"] == {"domain": "hr"}
    assert table["column_tags"]["ssn"] == {"domain": "hr"}
    assert table["tag_keys"] == ["domain"]
    user = browser("p/u")

    before = changes(world)
    refused(
        admin.post(ORDERS + "/tags", data={**form, "tag": "domain=finance"}),
        400,
        "invalid_input",
        "not a value of tag key domain",
    )
    r = admin.post(ORDERS + "/tags", data={**form, "tag": "domain"})
    refused(r, 400, "invalid_input", "key=value")
    assert 'id="columns"' in r.text  # the table page again
    refused(
        admin.post(ORDERS + "/tags/remove", data={**form, "column": "amount", "key": "domain"}),
        404,
        "not_found",
        "carries no tag domain",  # inherited: removed where it was assigned
    )
    refused(
        admin.post(ORDERS + "/tags", data={**form, "column": "nope", "tag": "domain=hr"}),
        404,
        "not_found",
        "column nope",
    )
    # p/u reads the table through a filter but holds no ASSOCIATE on the tag
    ucsrf = csrf_of(user.get("/console").text)
    refused(
        user.post(ORDERS + "/tags", data={"csrf": ucsrf, "account": "p", "tag": "domain=hr"}),
        403,
        "access_denied",
        "ASSOCIATE on tag domain=hr",
    )
    refused(
        user.post(
            "/console/databases/sales/tags/remove",
            data={"csrf": ucsrf, "account": "p", "key": "domain"},
        ),
        403,
        "access_denied",
        "ASSOCIATE",
    )
    assert changes(world) == before

    # the table's override removed, the database's value comes back (rule 12)
    admin.post(ORDERS + "/tags/remove", data={**form, "key": "domain"})
    table = admin.get(ORDERS + "?account=p&format=json").json()
    assert table["tags"] == {"domain": "sales"} and table["column_tags"]["ssn"] == {"domain": "hr"}
    r = admin.post(
        "/console/databases/sales/tags/remove", data={**form, "key": "domain"}, headers=JSON
    )
    assert r.json() == {"removed": "domain"}
    assert world.session("p/admin").tags.tags_of(Database("sales")) == {}
    r = admin.post("/console/databases/sales/tags", data={**form, "tag": "domain=hr"})
    assert r.url.path == "/console/databases/sales" and 'id="database-tags"' in r.text
    assert world.session("p/admin").tags.tags_of(Database("sales")) == {"domain": "hr"}


def test_data_filters_on_the_table_page(world: meshlake.Mesh, browser: Browser) -> None:
    admin = browser("p/admin")
    page = admin.get(ORDERS + "?account=p")
    assert 'id="new-filter"' in page.text and 'id="filters"' in page.text
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "account": "p"}
    r = admin.post(
        ORDERS + "/filters",
        data={
            **form, "filter_name": "eu_rows", "row_filter": "region = 'eu'",
            "column_mode": "except", "columns": ["ssn", "customer_name"],
        },
        follow_redirects=False,
    )  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, ORDERS + "?account=p")
    filters = admin.get(ORDERS + "?account=p&format=json").json()["filters"]
    assert [f["name"] for f in filters] == ["eu_rows", "us_only"]
    assert filters[0]["row_filter"] == "region = 'eu'"
    assert filters[0]["excluded_columns"] == ["ssn", "customer_name"]
    admin_session = world.session("p/admin")
    admin_session.grant("p/nobody", DataFilter("sales", "orders", "eu_rows"), ["SELECT"])
    assert world.session("p/nobody").query("SELECT * FROM sales.orders").rows() == [(2, "eu", 20.0)]
    user = browser("p/u")

    before = changes(world)
    for data, status, kind, words in [
        ({"filter_name": "bad", "row_filter": "region ="}, 400, "invalid_input", ""),
        (
            {"filter_name": "both", "row_filter": "id > 1", "all_rows": "true"},
            400,
            "invalid_input",
            "exactly one of row_filter and all_rows",
        ),
        ({"filter_name": "eu_rows", "all_rows": "true"}, 409, "conflict", "already exists"),
        (
            {"filter_name": "x", "all_rows": "true", "column_mode": "some"},
            400,
            "invalid_input",
            "not 'some'",
        ),
        (
            {"filter_name": "x", "all_rows": "true", "column_mode": "only"},
            400,
            "invalid_input",
            "at least one column",
        ),
        (
            {"filter_name": "x", "all_rows": "true", "column_mode": "only", "columns": "nope"},
            400,
            "invalid_input",
            "column 'nope'",
        ),
    ]:
        r = admin.post(ORDERS + "/filters", data={**form, **data})
        refused(r, status, kind, words)
        assert f'value="{data["filter_name"]}"' in r.text  # the form keeps what was typed
    page = user.get(ORDERS + "?account=p")
    assert "us_only" in page.text and "eu_rows" not in page.text  # it reads through us_only
    ucsrf = csrf_of(page.text)
    refused(
        user.post(ORDERS + "/filters/us_only/drop", data={"csrf": ucsrf, "account": "p"}),
        403,
        "access_denied",
        "only the creator of us_only",
    )
    refused(
        user.post(
            ORDERS + "/filters",
            data={"csrf": ucsrf, "account": "p", "filter_name": "mine", "all_rows": "true"},
        ),
        403,
        "access_denied",
        "rule 18",
    )
    assert changes(world) == before

    r = admin.post(ORDERS + "/filters/eu_rows/drop", data=form)
    assert r.status_code == 200 and r.url.path == ORDERS
    assert [f.name for f in admin_session.filters.list("sales", "orders")] == ["us_only"]
    assert world.session("p/nobody").catalog.list_databases() == []  # its grant went too


def test_workgroups_created_and_changed_by_admins(world: meshlake.Mesh, browser: Browser) -> None:
    admin = browser("p/admin")
    page = admin.get("/console/query")
    assert 'id="new-workgroup"' in page.text
    csrf = csrf_of(page.text)
    r = admin.post(
        "/console/workgroups",
        data={
            "csrf": csrf, "name": "etl", "retention_days": "1.5", "max_runtime_s": "60",
            "memory_limit": "512MB", "max_bytes_scanned": "1_000_000",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert (r.status_code, r.headers["location"]) == (303, "/console/query")

    def etl() -> tuple[object, ...]:
        wg = world.session("p/admin").queries.workgroup("etl")
        return wg.retention_seconds, wg.max_runtime_s, wg.memory_limit, wg.max_bytes_scanned

    assert etl() == (129_600, 60, "512MB", 1_000_000)
    twin = admin.get("/console/query?format=json").json()
    assert twin["may_manage"] is True
    assert [w["name"] for w in twin["workgroups"]] == ["etl", "primary"]
    # a blank retention keeps it, a blank byte limit removes it
    r = admin.post(
        "/console/workgroups/etl",
        data={"csrf": csrf, "max_runtime_s": "120", "memory_limit": "1GB"},
    )
    assert r.status_code == 200 and r.url.path == "/console/query"
    assert etl() == (129_600, 120, "1GB", None)
    user = browser("p/u")

    before = changes(world)
    for data, status, kind, words in [
        ({"name": "etl2", "memory_limit": "lots"}, 400, "invalid_input", "is not a size"),
        ({"name": "etl2", "retention_days": "soon"}, 400, "invalid_input", "number of days"),
        ({"name": "etl2", "retention_days": "0"}, 400, "invalid_input", "number of days"),
        ({"name": "etl2", "max_bytes_scanned": "-1"}, 400, "invalid_input", "whole number"),
        ({"name": "etl2", "max_runtime_s": "9" * 40}, 400, "invalid_input", "whole number"),
        ({"name": "bad name!"}, 400, "invalid_input", ""),
        ({"name": "etl"}, 409, "conflict", "already exists"),
    ]:
        r = admin.post("/console/workgroups", data={"csrf": csrf, **data})
        refused(r, status, kind, words)
        assert f'value="{data["name"]}"' in r.text and 'id="editor"' in r.text
    refused(
        admin.post("/console/workgroups/etl", data={"csrf": csrf, "max_runtime_s": "0"}),
        400,
        "invalid_input",
        "max_runtime_s",
    )
    refused(
        admin.post("/console/workgroups/nope", data={"csrf": csrf, "max_runtime_s": "5"}),
        404,
        "not_found",
        "workgroup nope",
    )
    assert etl() == (129_600, 120, "1GB", None)

    # a user of the account is offered no form, is refused, and runs queries in the group
    page = user.get("/console/query")
    assert 'id="new-workgroup"' not in page.text and "<option>etl</option>" in page.text
    ucsrf = csrf_of(page.text)
    refused(
        user.post("/console/workgroups", data={"csrf": ucsrf, "name": "mine"}),
        403,
        "access_denied",
        "only admins of p",
    )
    refused(
        user.post("/console/workgroups/etl", data={"csrf": ucsrf, "max_runtime_s": "1"}),
        403,
        "access_denied",
        "only admins of p",
    )
    assert changes(world) == before and etl() == (129_600, 120, "1GB", None)
    r = user.post(
        "/console/query",
        data={"csrf": ucsrf, "sql": "SELECT id FROM sales.orders", "workgroup": "etl"},
    )
    assert r.status_code == 200 and "2 row(s)" in r.text
    (past,) = user.get("/console/query?format=json").json()["history"]
    assert past["workgroup"] == "etl"


def test_webhook_subscriptions_and_dead_letters(world: meshlake.Mesh, browser: Browser) -> None:
    dispatcher(world.runtime, base_delay_s=0.0, max_attempts=1, timeout_s=2.0)
    user = browser("p/u")
    csrf = csrf_of(user.get("/console/inbox").text)
    hook = "http://127.0.0.1:9/hook"  # nothing listens there: every delivery fails
    r = user.post("/console/subscriptions", data={"csrf": csrf, "database": "sales", "url": hook})
    assert r.status_code == 200 and 'id="webhook-created"' in r.text  # no redirect: the secret
    secret = re.search(r'id="webhook-secret">([0-9a-f]{64})<', r.text)
    assert secret
    (sub,) = user.get("/console/inbox?format=json").json()["subscriptions"]
    assert sub["url"] == hook and sub["kind"] == "database"
    assert secret[1] not in user.get("/console/inbox").text  # shown once only
    assert secret[1] not in user.get("/console/inbox?format=json").text
    # a secret of one's own: back to the inbox; an inbox subscription to a type pattern
    r = user.post(
        "/console/subscriptions",
        data={"csrf": csrf, "type": "model.*", "url": "http://127.0.0.1:9/m", "secret": "s3"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/console/inbox")
    r = user.post(
        "/console/subscriptions",
        data={"csrf": csrf, "type": "product.*"},
        headers=JSON,
    )
    assert r.json()["target"] == "product.*" and r.json()["url"] is None
    subs = user.get("/console/inbox?format=json").json()["subscriptions"]
    assert [s["target"] for s in subs] == ["p/sales", "model.*", "product.*"]
    user.post(f"/console/subscriptions/{subs[1]['id']}/delete", data={"csrf": csrf})

    before = len(world.session("p/u").events.subscriptions())
    r = user.post("/console/subscriptions", data={"csrf": csrf, "type": "x.*", "url": "ftp://x"})
    refused(r, 400, "invalid_input", "must be http:// or https://")
    assert 'value="ftp://x"' in r.text and 'id="subscribe"' in r.text
    refused(
        user.post("/console/subscriptions", data={"csrf": csrf, "database": "sales", "type": "a"}),
        400,
        "invalid_input",
        "exactly one of",
    )
    refused(
        user.post("/console/subscriptions", data={"csrf": csrf, "database": "nope"}),
        404,
        "not_found",
        "database nope",
    )
    assert len(world.session("p/u").events.subscriptions()) == before

    # an event about the database: its delivery fails once and becomes a dead letter
    world.session("p/admin").tags.assign(Database("sales"), {"domain": "hr"})
    deadline = time.monotonic() + 20
    while not (dead := user.get("/console/deliveries?state=dead&format=json").json())["deliveries"]:
        assert time.monotonic() < deadline, "no dead letter"
        world.session("p/u").events.deliver()
        time.sleep(0.1)
    (letter,) = dead["deliveries"]
    assert letter["state"] == "dead" and letter["attempts"] == 1
    assert letter["subscription_id"] == sub["id"] and letter["type"] == "tag.assigned"
    page = user.get("/console/deliveries?state=dead")
    assert 'id="deliveries"' in page.text and hook in page.text
    mine = user.get(f"/console/deliveries?subscription={sub['id']}&format=json").json()
    assert [d["id"] for d in mine["deliveries"]] == [letter["id"]]
    assert browser("p/admin").get("/console/deliveries?format=json").json()["deliveries"] == []
    refused(user.get("/console/deliveries?state=lost"), 400, "invalid_input", "lost")
    refused(
        user.post("/console/deliveries/replay", data={"csrf": csrf}),
        400,
        "invalid_input",
        "tick the dead letters",
    )
    r = user.post(
        "/console/deliveries/replay", data={"csrf": csrf, "ids": [str(letter["id"])]}, headers=JSON
    )
    assert r.json() == {"queued": 1}
    r = user.post("/console/deliveries/replay", data={"csrf": csrf, "every": "true"})
    assert r.status_code == 200 and r.url.path == "/console/deliveries"
