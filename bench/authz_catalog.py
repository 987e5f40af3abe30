"""A synthetic governed catalog for the authorization benchmark, written straight to the store.

Creating 10,000 Iceberg tables through the API would take far too long, so the rows go in with
SQLAlchemy Core bulk inserts after :func:`meshlake.connect` ran the migrations. Nothing reads
table data, so ``iceberg_id`` and ``location`` are placeholders.

The shape follows the reference scenario (a central governance account owns every shared
database and the tag ontology; producers create tables in them through links; consumers receive
cross-account grants and re-grant them to their principals), and every count except the tag
ontology and the principals is proportional to the number of tables:

* 100 tables per database, 20 columns per table;
* 20 tag keys with 1,000 values in all; 2 tags per database, 3 per table, 10 per table on columns;
* 5 grants per table: named table grants (a third column-limited), table wildcards, database
  grants, tag policies with 1-2 keys, tag grants, data-filter grants, grants to external
  accounts and the bounded re-grants of those inside the receiving accounts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert

from meshlake.catalog.models import (
    AccountAdminRow,
    AccountRow,
    ColumnRow,
    DatabaseRow,
    FilterRow,
    GrantRow,
    PrincipalRow,
    TableRow,
    TagAssignmentRow,
    TagKeyRow,
    TagValueRow,
)
from meshlake.catalog.store import CatalogStore
from meshlake.governance.filters import compile_row_filter

__all__ = ["CENTRAL", "Catalog", "build_catalog"]

CENTRAL = "central"
#: Accounts and how many principals each has (500 in all by default).
ACCOUNT_SHARES = {
    CENTRAL: 0.10,
    "producer_a": 0.15,
    "producer_b": 0.15,
    "consumer_a": 0.30,
    "consumer_b": 0.30,
}
EXTERNAL = ("producer_a", "producer_b", "consumer_a", "consumer_b")
TABLES_PER_DB = 100
COLUMNS = 20
COLUMN_TYPES = ("VARCHAR", "BIGINT", "DOUBLE", "DATE")
CLASSIFICATION = ("public", "internal", "confidential", "restricted")
#: Kinds of grants and their share of all grants (grants = 5 per table).
GRANT_MIX = {
    "table": 0.45,
    "filter": 0.02,
    "table_wildcard": 0.05,
    "database": 0.08,
    "tag_policy_table": 0.08,
    "tag_policy_database": 0.02,
    "tag": 0.02,
    "account": 0.05,
    "bounded": 0.23,
}
GRANTS_PER_TABLE = 5
COLUMN_TAGS_PER_TABLE = 10


@dataclass
class Catalog:
    """What was written, for picking realistic benchmark samples."""

    tables: int
    databases: list[str] = field(default_factory=list)
    table_names: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (db, name)
    tables_of_db: dict[int, list[int]] = field(default_factory=dict)
    principals: list[str] = field(default_factory=list)
    select_pairs: list[tuple[str, int]] = field(default_factory=list)  # (principal, table id)
    counts: dict[str, int] = field(default_factory=dict)


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _ontology() -> list[tuple[str, list[str]]]:
    """20 tag keys with 1,000 values in all."""
    keys: list[tuple[str, list[str]]] = [
        ("classification", list(CLASSIFICATION)),
        ("pii", ["false", "true"]),
        ("domain", [f"d{i:03d}" for i in range(100)]),
        ("lob", [f"lob{i:02d}" for i in range(24)]),
        ("region", [f"r{i:02d}" for i in range(20)]),
    ]
    rest = 1000 - sum(len(v) for _, v in keys)
    extra = 15
    for i in range(extra):
        n = rest // extra + (1 if i < rest % extra else 0)
        keys.append((f"k{i + 5:02d}", [f"v{j:02d}" for j in range(n)]))
    return keys


class _Builder:
    def __init__(self, tables: int, principals: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_tables = tables
        self.n_dbs = max(1, -(-tables // TABLES_PER_DB))
        self.now = datetime.now(UTC)
        self.rows: dict[Any, list[dict[str, Any]]] = {}
        self.cat = Catalog(tables)
        self.by_account: dict[str, list[str]] = {}
        self.admins: dict[str, list[str]] = {}
        self.keys: dict[str, tuple[int, list[str]]] = {}
        self.seen: set[tuple[str, str, str, int, str]] = set()
        self.received: dict[str, list[dict[str, Any]]] = {a: [] for a in EXTERNAL}
        self.filters: list[tuple[int, int]] = []  # (filter id, table id)
        self._principals(principals)

    def add(self, model: Any, row: dict[str, Any]) -> None:
        self.rows.setdefault(model.__table__, []).append(row)

    def _principals(self, total: int) -> None:
        for account, share in ACCOUNT_SHARES.items():
            self.add(AccountRow, {"name": account, "description": "", "created_at": self.now})
            names = [f"{account}/user{i:04d}" for i in range(max(2, round(total * share)))]
            self.by_account[account] = names
            self.admins[account] = names[:2]
            for pid in names:
                self.add(
                    PrincipalRow,
                    {
                        "id": pid,
                        "account": account,
                        "name": pid.split("/")[1],
                        "kind": "user",
                        "created_at": self.now,
                    },
                )
            for pid in names[:2]:
                self.add(AccountAdminRow, {"account": account, "principal": pid})
            self.cat.principals.extend(names)

    def catalog(self) -> None:
        rng, central_admin = self.rng, self.admins[CENTRAL][0]
        for kid, (key, values) in enumerate(_ontology(), start=1):
            self.keys[key] = (kid, values)
            self.add(
                TagKeyRow, {"id": kid, "account": CENTRAL, "key": key, "creator": central_admin}
            )
            for v in values:
                self.add(TagValueRow, {"key_id": kid, "value": v})
        tid = cid = 0
        for d in range(1, self.n_dbs + 1):
            name = f"db{d:04d}"
            self.cat.databases.append(name)
            self.add(
                DatabaseRow,
                {
                    "id": d,
                    "account": CENTRAL,
                    "name": name,
                    "description": "",
                    "location": None,
                    "creator": central_admin,
                    "link_account": None,
                    "link_database": None,
                    "created_at": self.now,
                },
            )
            self._tag("database", d, "domain", f"d{(d - 1) % 100:03d}")
            self._tag("database", d, "lob", rng.choice(self.keys["lob"][1]))
            steward = self.admins[("producer_a", "producer_b")[d % 2]][0]
            first = tid + 1
            for t in range(min(TABLES_PER_DB, self.n_tables - tid)):
                tid += 1
                self.cat.table_names[tid] = (name, f"t{t:03d}")
                self.add(
                    TableRow,
                    {
                        "id": tid,
                        "database_id": d,
                        "name": f"t{t:03d}",
                        "description": "",
                        "creator": steward,
                        "location": f"file:///bench/{name}/t{t:03d}",
                        "iceberg_id": f"db{d}.t{t:03d}",
                        "properties": {},
                        "created_at": self.now,
                    },
                )
                for c in range(COLUMNS):
                    cid += 1
                    self.add(
                        ColumnRow,
                        {
                            "id": cid,
                            "table_id": tid,
                            "position": c,
                            "name": f"c{c:02d}",
                            "type": COLUMN_TYPES[c % 4],
                            "field_id": c + 1,
                            "description": "",
                        },
                    )
                self._tag_table(tid, cid - COLUMNS + 1)
            self.cat.tables_of_db[d] = list(range(first, tid + 1))

    def _tag(self, kind: str, target: int, key: str, value: str) -> None:
        self.add(
            TagAssignmentRow,
            {"kind": kind, "target_id": target, "key_id": self.keys[key][0], "value": value},
        )

    def _tag_table(self, tid: int, first_col: int) -> None:
        rng = self.rng
        self._tag(
            "table", tid, "classification", rng.choices(CLASSIFICATION, weights=(20, 50, 25, 5))[0]
        )
        self._tag("table", tid, "region", rng.choice(self.keys["region"][1]))
        self._tag("table", tid, "pii", "false")
        cols = rng.sample(range(COLUMNS), 7)
        for c in cols[:5]:
            self._tag(
                "column",
                first_col + c,
                "classification",
                rng.choices(CLASSIFICATION, weights=(10, 20, 45, 25))[0],
            )
        for c in cols[5:]:
            self._tag("column", first_col + c, "pii", "true")
        others = [f"k{i:02d}" for i in range(5, 20)]
        for c, key in rng.sample([(c, k) for c in range(COLUMNS) for k in others], 3):
            self._tag("column", first_col + c, key, rng.choice(self.keys[key][1]))

    # ------------------------------------------------------------------ grants
    def grant(
        self,
        grantee: str,
        kind: str,
        target_id: int,
        spec: dict[str, Any],
        perms: list[str],
        grantable: list[str] | None = None,
        *,
        grantor: str = "",
        bounded: bool = False,
    ) -> bool:
        key = (grantee, kind, CENTRAL, target_id, _spec_key(spec))
        if key in self.seen:
            return False
        self.seen.add(key)
        self.add(
            GrantRow,
            {
                "grantee": grantee,
                "kind": kind,
                "target_account": CENTRAL,
                "target_id": target_id,
                "spec_key": key[4],
                "spec": spec,
                "permissions": sorted(perms),
                "grantable": sorted(grantable or []),
                "grantor": grantor or self.admins[CENTRAL][0],
                "bounded": bounded,
                "created_at": self.now,
            },
        )
        if kind == "table" and "SELECT" in perms and "/" in grantee:
            self.cat.select_pairs.append((grantee, target_id))
        elif kind == "table_wildcard" and "SELECT" in perms and "/" in grantee:
            self.cat.select_pairs.append(
                (grantee, self.rng.choice(self.cat.tables_of_db[target_id]))
            )
        return True

    def _table_target(self) -> tuple[str, int, dict[str, Any], list[str]]:
        rng = self.rng
        tid = rng.randint(1, self.n_tables)
        r = rng.random()
        if r < 0.30:
            cols = sorted(rng.sample([f"c{c:02d}" for c in range(COLUMNS)], rng.randint(3, 15)))
            return "table", tid, {"columns": cols}, ["SELECT"]
        if r < 0.35:
            cols = sorted(rng.sample([f"c{c:02d}" for c in range(COLUMNS)], rng.randint(1, 3)))
            return "table", tid, {"excluded": cols}, ["SELECT"]
        perms = rng.choices(
            [["SELECT"], ["DESCRIBE", "SELECT"], ["DESCRIBE"], ["ALL"], ["INSERT", "SELECT"]],
            weights=(50, 25, 10, 5, 10),
        )[0]
        return "table", tid, {}, perms

    def _expression(self, table_level: bool) -> dict[str, Any]:
        rng, keys = self.rng, self.keys
        r = rng.random()  # scoped to 1-2 domains (100 values) or 1 line of business (24)
        scope = "domain" if r < 0.78 else "lob" if r < 0.98 else None
        expr: list[list[Any]] = []
        if scope is not None:
            vals = keys[scope][1]
            n = rng.randint(1, 2) if scope == "domain" else 1
            expr.append([keys[scope][0], sorted(rng.sample(vals, n))])
        if table_level and (scope is None or rng.random() < 0.6):
            key = rng.choice(["classification", "classification", "region", "pii"])
            vals = keys[key][1]
            pick = sorted(rng.sample(vals, max(1, min(len(vals) - 1, rng.randint(1, 3)))))
            expr.append([keys[key][0], pick])
        if not expr:
            expr.append([keys["lob"][0], [rng.choice(keys["lob"][1])]])
        return {"type": "TABLE" if table_level else "DATABASE", "expression": sorted(expr)}

    def _one(self, kind: str) -> bool:
        rng = self.rng
        who = rng.choice(self.cat.principals)
        if kind == "table":
            k, tid, spec, perms = self._table_target()
            return self.grant(who, k, tid, spec, perms)
        if kind == "filter":
            fid, _ = rng.choice(self.filters)
            return self.grant(who, "filter", fid, {}, ["SELECT"])
        if kind == "table_wildcard":
            perms = rng.choice([["SELECT"], ["DESCRIBE", "SELECT"]])
            return self.grant(who, kind, rng.randint(1, self.n_dbs), {}, perms)
        if kind == "database":
            perms = rng.choice([["DESCRIBE"], ["CREATE_TABLE", "DESCRIBE"]])
            return self.grant(who, kind, rng.randint(1, self.n_dbs), {}, perms)
        if kind.startswith("tag_policy"):
            table_level = kind == "tag_policy_table"
            perms = (
                rng.choice([["SELECT"], ["DESCRIBE", "SELECT"]]) if table_level else ["DESCRIBE"]
            )
            return self.grant(who, "tag_policy", 0, self._expression(table_level), perms)
        if kind == "tag":
            key = rng.choice(list(self.keys))
            kid, vals = self.keys[key]
            spec = {"values": sorted(rng.sample(vals, min(len(vals), rng.randint(1, 4))))}
            return self.grant(who, "tag", kid, spec, [rng.choice(["DESCRIBE", "ASSOCIATE"])])
        if kind == "account":
            return self._account_grant(rng.choice(EXTERNAL))
        return self._bounded(rng.choice(EXTERNAL))

    def _account_grant(self, account: str) -> bool:
        rng = self.rng
        r = rng.random()
        spec: dict[str, Any] = {}
        if r < 0.90:
            tid = rng.randint(1, self.n_tables)
            k, perms = "table", rng.choice([["SELECT"], ["DESCRIBE", "SELECT"]])
        elif r < 0.97:
            k, tid, perms = "table_wildcard", rng.randint(1, self.n_dbs), ["SELECT"]
        else:
            k, tid, spec, perms = "tag_policy", 0, self._expression(True), ["SELECT"]
        if not self.grant(account, k, tid, spec, perms, perms):
            return False
        self.received[account].append({"kind": k, "target_id": tid, "spec": spec, "perms": perms})
        return True

    def _bounded(self, account: str) -> bool:
        got = self.received[account]
        if not got:
            return self._account_grant(account)
        g = self.rng.choice(got)
        who = self.rng.choice(self.by_account[account][2:])
        return self.grant(
            who,
            g["kind"],
            g["target_id"],
            g["spec"],
            ["SELECT"],
            grantor=self.admins[account][0],
            bounded=True,
        )

    def grants(self) -> None:
        rng = self.rng
        for n in range(max(1, self.n_tables // 20)):
            tid = rng.randint(1, self.n_tables)
            text = f"c00 = 'x{n % 7}' OR c01 > {n % 1000}"
            sql = compile_row_filter(text, {"c00": "VARCHAR", "c01": "BIGINT"})
            cols = sorted(rng.sample([f"c{c:02d}" for c in range(COLUMNS)], 8)) if n % 2 else None
            self.add(
                FilterRow,
                {
                    "id": n + 1,
                    "table_id": tid,
                    "name": f"f{n:04d}",
                    "row_filter": sql,
                    "row_filter_text": text,
                    "columns": cols,
                    "excluded_columns": None,
                    "creator": self.admins[CENTRAL][0],
                    "created_at": self.now,
                },
            )
            self.filters.append((n + 1, tid))
        total = GRANTS_PER_TABLE * self.n_tables
        kinds = list(GRANT_MIX)
        weights = [GRANT_MIX[k] for k in kinds]
        made = 0
        while made < total:
            if self._one(rng.choices(kinds, weights)[0]):
                made += 1


def build_catalog(
    store: CatalogStore, tables: int, *, principals: int = 500, seed: int = 7
) -> Catalog:
    """Write the synthetic catalog into an empty, migrated store and bump its version.

    Args:
        store: the store of a freshly opened mesh (no accounts yet).
        tables: number of tables (100 per database).
        principals: number of principals over the five accounts.
        seed: random seed (the same arguments always give the same catalog).

    Returns:
        The names and sample pools the benchmark draws from.
    """
    b = _Builder(tables, principals, seed)
    b.catalog()
    b.grants()
    with store.transaction() as session:  # bumps the store version
        for table in (
            AccountRow,
            PrincipalRow,
            AccountAdminRow,
            TagKeyRow,
            TagValueRow,
            DatabaseRow,
            TableRow,
            ColumnRow,
            TagAssignmentRow,
            FilterRow,
            GrantRow,
        ):
            core = cast(Table, table.__table__)
            rows = b.rows.get(core, [])
            for i in range(0, len(rows), 20_000):
                session.execute(insert(core), rows[i : i + 20_000])
    b.cat.counts = {t.name: len(r) for t, r in b.rows.items()}
    b.cat.counts["column_tag_assignments"] = sum(
        1 for r in b.rows[TagAssignmentRow.__table__] if r["kind"] == "column"
    )
    b.cat.counts["tag_values_total"] = len(b.rows[TagValueRow.__table__])
    return b.cat
