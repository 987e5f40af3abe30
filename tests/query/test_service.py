"""run_query end to end over the fake catalog."""

# ruff: noqa: E501  (SQL corpora read best one query per line)
from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest
from query_fakes import PEOPLE, T0, FakeCatalog

from meshlake.errors import AccessDeniedError, InvalidQueryError, NotFoundError
from meshlake.governance.policy import RowRule
from meshlake.query import run_query
from meshlake.query.engines.duckdb import DuckDBEngine
from meshlake.query.service import plan_query


def rows(
    cat: FakeCatalog, engine: DuckDBEngine, sql: str, **kwargs: object
) -> list[tuple[object, ...]]:
    outcome = run_query(cat, sql, engine=engine, **kwargs)  # type: ignore[arg-type]
    assert outcome.result is not None
    return outcome.result.rows()


def test_outcome_describes_what_was_read(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    visible = ["id", "name", "region", "amount"]
    catalog.set_policy(
        "db", "people", visible, [[RowRule(frozenset(visible), "\"region\" = 'us'", "us")]]
    )
    outcome = run_query(
        catalog,
        "SELECT p.name, sum(o.total) AS spent FROM db.people p JOIN orders o ON o.person_id = p.id "
        "GROUP BY p.name ORDER BY p.name",
        engine=engine,
    )
    assert outcome.result is not None and outcome.result.rows() == [("ann", 5.0)]
    people, orders = outcome.tables
    assert (str(people.ref), people.columns, people.filters) == (
        "acct:db.people",
        ("id", "name"),
        ("us",),
    )
    assert (str(orders.ref), orders.columns, orders.filters) == (
        "acct:db.orders",
        ("person_id", "total"),
        (),
    )
    assert people.snapshot_id == catalog.tables[("db", "people")].snapshots[-1][0]
    assert outcome.rows == 1 and outcome.bytes and outcome.bytes > 0
    assert '"__meshlake_scan_0" AS p' in outcome.rewritten_sql
    assert '"db"."people" AS "p"' in outcome.analyzed_sql
    assert outcome.timings.total_ms > 0 and outcome.exact_columns


def test_default_database_links_and_case(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.default = None
    catalog.links["rl_db"] = "db"
    with pytest.raises(NotFoundError):
        run_query(catalog, "SELECT * FROM people", engine=engine)
    assert rows(catalog, engine, "SELECT count(*) FROM people", database="db") == [(6,)]
    outcome = run_query(catalog, 'SELECT ID FROM "RL_DB".People WHERE Id = 1', engine=engine)
    assert outcome.tables[0].link == "rl_db"
    assert ("rl_db", "people") in catalog.resolved


def test_time_travel(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    first = catalog.tables[("db", "people")].snapshots[-1][0]
    second = catalog.append("db", "people", {"id": [7], "name": ["gus"]})
    assert rows(catalog, engine, "SELECT count(*) FROM people") == [(7,)]
    assert rows(catalog, engine, f"SELECT count(*) FROM people FOR VERSION AS OF {first}") == [(6,)]
    when = (T0 + timedelta(hours=1)).isoformat()
    assert rows(catalog, engine, f"SELECT count(*) FROM people FOR TIMESTAMP AS OF '{when}'") == [
        (6,)
    ]
    outcome = run_query(
        catalog,
        f"SELECT n.id FROM people n LEFT JOIN people FOR VERSION AS OF {first} AS o USING (id) "
        "WHERE o.id IS NULL",
        engine=engine,
    )
    assert outcome.result is not None and outcome.result.rows() == [(7,)]
    assert [t.snapshot_id for t in outcome.tables] == [second, first]
    assert outcome.tables[1].time_travel == f"VERSION AS OF {first}"
    with pytest.raises(NotFoundError):
        run_query(catalog, "SELECT * FROM people FOR VERSION AS OF 1", engine=engine)
    with pytest.raises(NotFoundError):
        run_query(catalog, "SELECT * FROM people FOR TIMESTAMP AS OF '2000-01-01'", engine=engine)


def test_time_travel_stays_under_the_current_policy(
    catalog: FakeCatalog, engine: DuckDBEngine
) -> None:
    first = catalog.tables[("db", "people")].snapshots[-1][0]
    catalog.append("db", "people", {"id": [7], "name": ["gus"], "region": ["us"]})
    catalog.set_policy(
        "db", "people", ["id"], [[RowRule(frozenset({"id"}), "\"region\" = 'eu'", "eu")]]
    )
    assert rows(catalog, engine, f"SELECT * FROM people FOR VERSION AS OF {first} ORDER BY id") == [
        (2,),
        (4,),
    ]
    with pytest.raises(NotFoundError):
        run_query(catalog, f"SELECT name FROM people FOR VERSION AS OF {first}", engine=engine)


def test_renamed_column(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.rename_column("db", "people", "name", "first_name")
    assert rows(catalog, engine, "SELECT first_name FROM people WHERE id = 2") == [("bob",)]
    with pytest.raises(NotFoundError, match="column name not found"):
        run_query(catalog, "SELECT name FROM people", engine=engine)


def test_empty_table(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.add_table("db", "empty", {"a": "BIGINT", "b": "VARCHAR"}, None)
    outcome = run_query(catalog, "SELECT * FROM empty", engine=engine)
    assert outcome.result is not None
    table = outcome.result.to_arrow()
    assert table.num_rows == 0 and table.schema.field("a").type == pa.int64()
    assert outcome.tables[0].snapshot_id is None
    assert rows(catalog, engine, "SELECT count(*), max(b) FROM empty") == [(0, None)]


def test_errors_in_rule_zero_order(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.tables[("db", "orders")].select = False
    with pytest.raises(InvalidQueryError):
        run_query(catalog, "SELECT * FROM nothing; SELECT 1", engine=engine)
    assert catalog.resolved == []
    with pytest.raises(NotFoundError):
        run_query(catalog, "SELECT * FROM orders JOIN nothing USING (id)", engine=engine)
    with pytest.raises(AccessDeniedError):
        run_query(catalog, "SELECT nope FROM orders", engine=engine)
    catalog.tables[("db", "orders")].select = True
    catalog.tables[("db", "orders")].policy = None
    policy = catalog.set_policy("db", "orders")
    catalog.tables[("db", "orders")].policy = type(policy)(
        policy.table, policy.columns, policy.views, select=False
    )
    with pytest.raises(AccessDeniedError):
        run_query(catalog, "SELECT * FROM orders", engine=engine)


def test_unknown_column_beside_a_table_function(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    catalog.set_policy("db", "people", ["id"])
    for column in ("nope", "ssn", "name"):
        with pytest.raises(NotFoundError, match=f"^column {column} not found$"):
            run_query(catalog, f"SELECT {column} FROM people, range(3)", engine=engine)


def test_streaming(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    outcome = run_query(catalog, "SELECT id FROM people ORDER BY id", engine=engine, stream=True)
    assert outcome.result is None and outcome.rows is None and outcome.reader is not None
    assert outcome.reader.read_all().column("id").to_pylist() == PEOPLE["id"]


def test_plans_are_cached_per_visible_schema(catalog: FakeCatalog, engine: DuckDBEngine) -> None:
    sql = "SELECT id, name FROM people WHERE id < 3 ORDER BY id"
    run_query(catalog, sql, engine=engine)
    hits = plan_query.cache_info().hits
    assert rows(catalog, engine, sql) == [(1, "ann"), (2, "bob")]
    assert plan_query.cache_info().hits == hits + 1
    catalog.set_policy("db", "people", ["id"])
    with pytest.raises(NotFoundError):
        run_query(catalog, sql, engine=engine)


def test_default_engine(catalog: FakeCatalog) -> None:
    outcome = run_query(catalog, "SELECT count(*) FROM people")
    assert outcome.result is not None and outcome.result.rows() == [(6,)]


CORPUS = [
    "SELECT * FROM people",
    "FROM people",
    "SELECT id, name FROM people WHERE region = 'us' ORDER BY id",
    "SELECT region, count(*) AS n, sum(amount) FROM people GROUP BY region ORDER BY region",
    "SELECT region, count(*) FROM people GROUP BY ALL ORDER BY ALL",
    "SELECT p.name, o.total FROM people p JOIN orders o ON o.person_id = p.id ORDER BY o.order_id",
    "SELECT p.name, o.total FROM people AS p LEFT JOIN orders AS o ON o.person_id = p.id ORDER BY p.id, o.order_id",
    "SELECT name FROM people WHERE id IN (SELECT person_id FROM orders) ORDER BY name",
    "SELECT name FROM people p WHERE EXISTS (SELECT 1 FROM orders o WHERE o.person_id = p.id) ORDER BY name",
    "SELECT name, (SELECT count(*) FROM orders o WHERE o.person_id = p.id) AS n FROM people p ORDER BY name",
    "WITH us AS (SELECT * FROM people WHERE region = 'us') SELECT count(*) FROM us",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r",
    "SELECT id FROM people UNION SELECT person_id FROM orders ORDER BY 1",
    "SELECT id FROM people EXCEPT SELECT person_id FROM orders ORDER BY 1",
    "SELECT id, row_number() OVER (PARTITION BY region ORDER BY amount DESC) AS rn FROM people ORDER BY id",
    "SELECT id, lag(amount) OVER w, lead(amount, 2) OVER w FROM people WINDOW w AS (ORDER BY id) ORDER BY id",
    "SELECT id FROM people QUALIFY row_number() OVER (PARTITION BY region ORDER BY id) = 1 ORDER BY id",
    "SELECT * EXCLUDE (ssn) FROM people ORDER BY id",
    "SELECT * REPLACE (amount * 2 AS amount) FROM people ORDER BY id",
    "SELECT COLUMNS('am.*') FROM people ORDER BY 1",
    "SELECT max(COLUMNS(*)) FROM people",
    "SELECT #1, #2 FROM people ORDER BY 1",
    "SELECT p FROM people p ORDER BY p.id",
    "SELECT list_filter([1, 2, 3], lambda x: x > 1) AS f",
    "SELECT upper(name), length(name), substr(name, 1, 2), concat(name, '-', region) FROM people ORDER BY id",
    "SELECT CASE WHEN amount > 100 THEN 'big' ELSE 'small' END, coalesce(NULL, name), if(id > 3, 'hi', 'lo') FROM people ORDER BY id",
    "SELECT CAST(id AS VARCHAR), id::DOUBLE, TRY_CAST(name AS INTEGER), round(amount / 3, 2) FROM people ORDER BY id",
    "SELECT DATE '2024-01-01' + INTERVAL 3 DAY, date_trunc('month', TIMESTAMP '2024-05-17 10:00:00'), extract(year FROM DATE '2024-03-01')",
    "SELECT id FROM people WHERE name LIKE 'a%' OR name ILIKE 'B%' OR name GLOB 'd*' ORDER BY id",
    "SELECT DISTINCT ON (region) region, id FROM people ORDER BY region, id",
    "SELECT * FROM people ORDER BY amount DESC NULLS LAST LIMIT 2 OFFSET 1",
    "SELECT count(DISTINCT region), median(amount), quantile_cont(amount, 0.5), mode(region) FROM people",
    "SELECT string_agg(name, ',' ORDER BY name), list(id ORDER BY id) FROM people",
    "SELECT sum(amount) FILTER (WHERE region = 'us'), arg_max(name, amount) FROM people",
    "SELECT region, count(*) FROM people GROUP BY ROLLUP (region) ORDER BY ALL",
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(x, y) ORDER BY x",
    "SELECT i FROM range(1, 4) t(i) JOIN people ON people.id = t.i ORDER BY i",
    "SELECT id, u FROM people, unnest([1, 2]) AS t(u) ORDER BY id, u",
    "SELECT p.id, x.doubled FROM people p, LATERAL (SELECT p.amount * 2 AS doubled) x ORDER BY p.id",
    "SELECT id FROM people p1 WHERE amount > (SELECT avg(amount) FROM people p2 WHERE p2.region = p1.region) ORDER BY id",
    "SELECT json_extract('{\"a\": 1}', '$.a'), json_object('k', id) FROM people ORDER BY id",
    "SELECT * FROM db.people JOIN db.orders ON people.id = orders.person_id ORDER BY order_id",
    "SELECT db.people.name FROM db.people ORDER BY db.people.id",
    'SELECT People.Name FROM PEOPLE ORDER BY "ID"',
    "SELECT map([1, 2], ['a', 'b'])[1] AS m, MAP {'k': 1}['k'] AS n",
    "SELECT id AS i FROM people WHERE i > 2 ORDER BY i",
    "SELECT * FROM people NATURAL JOIN (SELECT id, 1 AS one FROM people) q ORDER BY id",
    "SELECT * FROM people ASOF JOIN orders ON people.id >= orders.person_id ORDER BY people.id",
]


@pytest.fixture(scope="module")
def plain() -> duckdb.DuckDBPyConnection:
    """Plain DuckDB holding the same data as tables."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA db; USE db")
    con.register("people_data", pa.table(PEOPLE))
    con.execute("CREATE TABLE db.people AS SELECT * FROM people_data")
    con.execute(
        "CREATE TABLE db.orders AS SELECT * FROM (VALUES (10, 1, 5.0), (11, 2, 7.5), (12, 2, 1.0), "
        "(13, 5, 3.0)) v(order_id, person_id, total)"
    )
    return con


@pytest.mark.parametrize("sql", CORPUS)
def test_same_answer_as_plain_duckdb(
    catalog: FakeCatalog, engine: DuckDBEngine, plain: duckdb.DuckDBPyConnection, sql: str
) -> None:
    """With full access, governed SQL answers exactly like DuckDB over the same data."""
    assert rows(catalog, engine, sql) == plain.sql(sql).fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "(" * 3000 + "1" + ")" * 3000,
        "SELECT * FROM " + "(SELECT * FROM " * 300 + "people" + ") x" * 300,
    ],
    ids=["parentheses", "subqueries"],
)
def test_absurdly_deep_queries_are_query_errors(
    catalog: FakeCatalog, engine: DuckDBEngine, sql: str
) -> None:
    with pytest.raises(InvalidQueryError, match="nested too deeply"):
        run_query(catalog, sql, database="db", engine=engine)
