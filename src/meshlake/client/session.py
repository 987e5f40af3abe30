"""The remote session: the embedded :class:`~meshlake.mesh.Session`'s methods over HTTP.

Each method sends one request and rebuilds the same value the embedded session returns
(``AccountInfo``, ``TableDescription``, ``Decision``, ``QueryResult`` ...); server errors come
back as the same :class:`~meshlake.errors.MeshError` subclasses. What the server never sends
(storage locations) is ``None`` or empty here.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import time
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from meshlake.audit.anchor import Checkpoint
from meshlake.audit.log import AuditEvent
from meshlake.audit.verify import VerifyReport
from meshlake.client.http import ARROW_STREAM, HttpTransport, outcome
from meshlake.governance.engine import Decision
from meshlake.inputs import require_arrow_schema, require_arrow_table, require_mapping
from meshlake.products.search import Hit
from meshlake.query.results import QueryResult
from meshlake.resources import Resource, resource_to_dict
from meshlake.service.access import AccessRequest
from meshlake.service.accounts import AccountInfo, PrincipalInfo
from meshlake.service.catalog import DatabaseInfo, DroppedTable, TableDescription
from meshlake.service.filters import FilterView
from meshlake.service.grants import EffectiveView, GrantInfoView
from meshlake.service.operations import Operation
from meshlake.service.products import ProductVersion, contract_text
from meshlake.service.queries import QueryExecution, Workgroup
from meshlake.service.tags import TagKeyView
from meshlake.service.tokens import NewToken, TokenInfo

if TYPE_CHECKING:
    import pandas as pd

    from meshlake.client.events import RemoteEvents
    from meshlake.client.ml import RemoteML
    from meshlake.client.storage import RemoteStorage

__all__ = ["Record", "RemoteSession"]


def _q(name: str) -> str:
    return quote(name, safe="")


def _res(resource: Resource) -> dict[str, Any]:
    return resource_to_dict(resource)


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class Record(dict[str, Any]):
    """A JSON object with attribute access (products, versions, search hits)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self)


class _Part:
    def __init__(self, http: HttpTransport) -> None:
        self.http = http


class RemoteAccounts(_Part):
    """Accounts (creation and admins: root only)."""

    def create(self, name: str, description: str = "") -> AccountInfo:
        """Create an account (root only)."""
        d = self.http.json("POST", "/v1/accounts", json={"name": name, "description": description})
        return AccountInfo(d["name"], tuple(d["admins"]), d.get("description", ""))

    def list(self) -> list[AccountInfo]:
        """Every account with its admins."""
        return [
            AccountInfo(d["name"], tuple(d["admins"]), d.get("description", ""))
            for d in self.http.items("/v1/accounts")
        ]

    def get(self, name: str) -> AccountInfo:
        """One account."""
        d = self.http.json("GET", f"/v1/accounts/{_q(name)}")
        return AccountInfo(d["name"], tuple(d["admins"]), d.get("description", ""))

    def set_admins(self, name: str, admins: builtins.list[str]) -> AccountInfo:
        """Replace an account's admins (root only)."""
        d = self.http.json("PUT", f"/v1/accounts/{_q(name)}/admins", json={"admins": admins})
        return AccountInfo(d["name"], tuple(d["admins"]), d.get("description", ""))


class RemotePrincipals(_Part):
    """Users and roles (creation: root only)."""

    def create(self, principal: str, kind: str = "role") -> PrincipalInfo:
        """Create ``account/name`` (root only)."""
        d = self.http.json("POST", "/v1/principals", json={"principal": principal, "kind": kind})
        return PrincipalInfo(**d)

    def list(self, account: str | None = None) -> list[PrincipalInfo]:
        """Principals, optionally of one account."""
        return [PrincipalInfo(**d) for d in self.http.items("/v1/principals", {"account": account})]

    def get(self, principal: str) -> PrincipalInfo:
        """One principal."""
        account, _, name = principal.partition("/")
        return PrincipalInfo(**self.http.json("GET", f"/v1/principals/{_q(account)}/{_q(name)}"))


def _database(d: dict[str, Any]) -> DatabaseInfo:
    return DatabaseInfo(d["name"], d["account"], d.get("description", ""), None, d.get("link"))


def _table(d: dict[str, Any]) -> TableDescription:
    return TableDescription(
        d["database"],
        d["name"],
        d["account"],
        d["columns"],
        "",
        d["creator"],
        d.get("description", ""),
        d.get("snapshots", []),
        d.get("schema_history", []),
    )


class RemoteCatalog(_Part):
    """Databases, resource links and tables (storage locations are never sent)."""

    def create_database(
        self, name: str, description: str = "", location: str | None = None
    ) -> DatabaseInfo:
        """Create a database in the caller's account."""
        body = {"name": name, "description": description, "location": location}
        return _database(self.http.json("POST", "/v1/databases", json=body))

    def create_resource_link(self, name: str, *, account: str, database: str) -> DatabaseInfo:
        """Create a resource link to another account's database."""
        body = {"name": name, "account": account, "database": database}
        return _database(self.http.json("POST", "/v1/links", json=body))

    def get_database(self, name: str, account: str | None = None) -> DatabaseInfo:
        """One database or link."""
        return _database(
            self.http.json("GET", f"/v1/databases/{_q(name)}", params={"account": account})
        )

    def list_databases(self) -> builtins.list[DatabaseInfo]:
        """Databases and links the caller can see."""
        return [_database(d) for d in self.http.items("/v1/databases")]

    def drop_database(self, name: str) -> None:
        """Drop an empty database or a link."""
        self.http.call("DELETE", f"/v1/databases/{_q(name)}")

    def register_location(self, uri: str) -> str:
        """Register a data location (admins); returns ``uri`` as given (the server names no
        paths)."""
        self.http.call("POST", "/v1/locations", json={"uri": uri})
        return uri

    def create_table(
        self,
        database: str,
        name: str,
        columns: dict[str, str] | None = None,
        rows: list[list[Any]] | None = None,
        *,
        location: str | None = None,
        description: str = "",
        account: str | None = None,
    ) -> TableDescription:
        """Create a table from ``columns`` and ``rows``."""
        body = {
            "name": name,
            "columns": columns or {},
            "rows": rows,
            "location": location,
            "description": description,
            "account": account,
        }
        return _table(self.http.json("POST", f"/v1/databases/{_q(database)}/tables", json=body))

    def get_table(self, database: str, name: str, account: str | None = None) -> TableDescription:
        """A table's visible columns."""
        path = _table_path(database, name)
        return _table(self.http.json("GET", path, params={"account": account}))

    def describe_table(
        self, database: str, name: str, account: str | None = None
    ) -> TableDescription:
        """:meth:`get_table` plus snapshots and the schema history (visible columns only)."""
        path = _table_path(database, name, "description")
        return _table(self.http.json("GET", path, params={"account": account}))

    def evolve_schema(
        self, database: str, name: str, schema: pa.Schema, *, account: str | None = None
    ) -> TableDescription:
        """Union ``schema`` into the table's (new columns, widened types): needs ALTER. The
        schema travels as an Arrow IPC stream, so its types arrive exactly."""
        reply = self.http.call(
            "POST",
            _table_path(database, name, "schema"),
            content=_arrow_stream(require_arrow_schema("schema", schema)),
            content_type=ARROW_STREAM,
            params={"account": account},
        )
        return _table(reply.json())

    def rename_column(
        self, database: str, name: str, old: str, new: str, *, account: str | None = None
    ) -> TableDescription:
        """Rename a column (needs ALTER); its field id, data and tags stay (refused while a
        grant or data filter names it)."""
        path = _table_path(database, name, "columns", old, "rename")
        return _table(self.http.json("POST", path, json={"to": new}, params={"account": account}))

    def set_properties(
        self,
        database: str,
        name: str,
        properties: dict[str, str | None],
        *,
        account: str | None = None,
    ) -> None:
        """Set table properties (needs ALTER); a value of None removes the key."""
        require_mapping("properties", properties, "{'owner': 'sales'}")
        path = _table_path(database, name, "properties")
        body = {
            "properties": {str(k): None if v is None else str(v) for k, v in properties.items()}
        }
        self.http.call("PATCH", path, json=body, params={"account": account})

    def properties(self, database: str, name: str, *, account: str | None = None) -> dict[str, str]:
        """A visible table's properties."""
        path = _table_path(database, name, "properties")
        return dict(self.http.json("GET", path, params={"account": account})["properties"])

    def current_snapshot(
        self, database: str, name: str, *, account: str | None = None
    ) -> int | None:
        """The id of a visible table's current snapshot (None before any data)."""
        path = _table_path(database, name, "snapshot")
        snap = self.http.json("GET", path, params={"account": account})["snapshot_id"]
        return None if snap is None else int(snap)

    def list_tables(self, database: str, account: str | None = None) -> builtins.list[str]:
        """Names of the tables the caller holds some permission on."""
        return list(self.http.items(f"/v1/databases/{_q(database)}/tables", {"account": account}))

    def drop_table(self, database: str, name: str, account: str | None = None) -> DroppedTable:
        """Drop a table."""
        path = _table_path(database, name)
        return DroppedTable(**self.http.json("DELETE", path, params={"account": account}))

    def _write(
        self,
        method: str,
        database: str,
        name: str,
        rows: builtins.list[builtins.list[Any]] | None,
        data: pa.Table | None,
        account: str | None,
    ) -> int | None:
        path = _table_path(database, name, "rows")
        if data is not None:
            data = require_arrow_table("data", data)
            response = self.http.call(
                method,
                path,
                content=_arrow_stream(data.schema, data),
                content_type=ARROW_STREAM,
                params={"account": account},
            )
        else:
            response = self.http.call(
                method, path, json={"rows": rows or []}, params={"account": account}
            )
        snap = response.json()["snapshot_id"]
        return None if snap is None else int(snap)

    def append(
        self,
        database: str,
        name: str,
        rows: builtins.list[builtins.list[Any]] | None = None,
        *,
        data: pa.Table | None = None,
        account: str | None = None,
    ) -> int | None:
        """Append rows (INSERT): ``rows`` as JSON, or ``data`` as an Arrow IPC stream.
        Returns the new snapshot id."""
        return self._write("POST", database, name, rows, data, account)

    def overwrite(
        self,
        database: str,
        name: str,
        rows: builtins.list[builtins.list[Any]] | None = None,
        *,
        data: pa.Table | None = None,
        account: str | None = None,
    ) -> int | None:
        """Replace all rows (INSERT and DELETE). Returns the new snapshot id."""
        return self._write("PUT", database, name, rows, data, account)


def _tag(d: dict[str, Any]) -> TagKeyView:
    return TagKeyView(d["key"], d["account"], tuple(d["values"]))


class RemoteTags(_Part):
    """Tag keys, values and assignments."""

    def create(self, key: str, values: list[str]) -> TagKeyView:
        """Create a tag key."""
        return _tag(self.http.json("POST", "/v1/tags", json={"key": key, "values": values}))

    def update(
        self, key: str, add: list[str] | None = None, remove: list[str] | None = None
    ) -> TagKeyView:
        """Add and remove allowed values."""
        body = {"add": add or [], "remove": remove or []}
        return _tag(self.http.json("PATCH", f"/v1/tags/{_q(key)}", json=body))

    def delete(self, key: str) -> None:
        """Delete a tag key."""
        self.http.call("DELETE", f"/v1/tags/{_q(key)}")

    def list(self) -> list[TagKeyView]:
        """Tag keys the caller can see."""
        return [_tag(d) for d in self.http.items("/v1/tags")]

    def assign(self, resource: Resource, tags: dict[str, str]) -> dict[str, str]:
        """Assign tags to a database, table or column."""
        body = {"resource": _res(resource), "tags": tags}
        return dict(self.http.json("POST", "/v1/tags/assign", json=body))

    def remove(self, resource: Resource, keys: builtins.list[str]) -> None:
        """Remove tag assignments."""
        self.http.call("POST", "/v1/tags/remove", json={"resource": _res(resource), "keys": keys})

    def tags_of(self, resource: Resource) -> dict[str, str]:
        """A resource's effective tags."""
        return dict(self.http.json("POST", "/v1/tags/of", json={"resource": _res(resource)}))


def _filter(d: dict[str, Any]) -> FilterView:
    def tup(v: list[str] | None) -> tuple[str, ...] | None:
        return None if v is None else tuple(v)

    return FilterView(
        d["database"],
        d["table"],
        d["name"],
        d.get("row_filter"),
        tup(d.get("columns")),
        tup(d.get("excluded_columns")),
        d["creator"],
    )


class RemoteFilters(_Part):
    """Data filters."""

    def create(
        self,
        database: str,
        table: str,
        name: str,
        *,
        row_filter: str | None = None,
        all_rows: bool = False,
        columns: list[str] | None = None,
        excluded_columns: list[str] | None = None,
        account: str | None = None,
    ) -> FilterView:
        """Create a data filter."""
        body = {
            "name": name,
            "row_filter": row_filter,
            "all_rows": all_rows,
            "columns": columns,
            "excluded_columns": excluded_columns,
            "account": account,
        }
        path = f"/v1/databases/{_q(database)}/tables/{_q(table)}/filters"
        return _filter(self.http.json("POST", path, json=body))

    def list(self, database: str, table: str, account: str | None = None) -> list[FilterView]:
        """Data filters of a table."""
        path = f"/v1/databases/{_q(database)}/tables/{_q(table)}/filters"
        return [_filter(d) for d in self.http.items(path, {"account": account})]

    def drop(self, database: str, table: str, name: str, account: str | None = None) -> None:
        """Drop a data filter."""
        path = f"/v1/databases/{_q(database)}/tables/{_q(table)}/filters/{_q(name)}"
        self.http.call("DELETE", path, params={"account": account})


def _grant(d: dict[str, Any]) -> GrantInfoView:
    return GrantInfoView(
        d["grantee"], d["resource"], tuple(d["permissions"]), tuple(d["grantable"]), d["grantor"]
    )


class RemoteGrants(_Part):
    """Grant, revoke and list permissions."""

    def grant(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> GrantInfoView:
        """Grant permissions on a resource."""
        body = _grant_body(grantee, resource, permissions, grantable)
        return _grant(self.http.json("POST", "/v1/grants", json=body))

    def revoke(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> None:
        """Revoke permissions and, separately, grant options."""
        body = _grant_body(grantee, resource, permissions, grantable)
        self.http.call("POST", "/v1/grants/revoke", json=body)

    def list_permissions(
        self, principal: str | None = None, resource: Resource | None = None
    ) -> list[GrantInfoView] | list[EffectiveView]:
        """Explicit grants the caller may see; with both a principal and a resource, its
        effective permissions on it and their reasons."""
        params = {
            "principal": principal,
            "resource": None if resource is None else json.dumps(_res(resource)),
        }
        items = self.http.items("/v1/grants", params)
        if principal is not None and resource is not None:
            return [EffectiveView(**d) for d in items]
        return [_grant(d) for d in items]


def _grant_body(
    grantee: str, resource: Resource, permissions: list[str] | str, grantable: list[str] | None
) -> dict[str, Any]:
    """The JSON body of a grant or a revoke."""
    perms = [permissions] if isinstance(permissions, str) else list(permissions)
    return {
        "grantee": grantee,
        "resource": _res(resource),
        "permissions": perms,
        "grantable": list(grantable or []),
    }


def _execution(d: dict[str, Any]) -> QueryExecution:
    fields = {k: v for k, v in d.items() if k in QueryExecution.__dataclass_fields__}
    fields.setdefault("result_path", None)
    return QueryExecution(**fields)


def _table_path(database: str, name: str, *rest: str) -> str:
    """The API path of a table (and of ``rest`` below it), each part quoted."""
    return "/".join([f"/v1/databases/{_q(database)}/tables/{_q(name)}", *map(_q, rest)])


def _arrow_stream(schema: pa.Schema, table: pa.Table | None = None) -> bytes:
    """An Arrow IPC stream of ``table`` (or of ``schema`` alone: no batches)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        if table is not None:
            writer.write_table(table)
    return sink.getvalue()


def _result(response: Any) -> QueryResult:
    with pa.ipc.open_stream(io.BytesIO(response.content)) as reader:
        table = reader.read_all()
    return QueryResult(table, query_id=response.headers.get("X-Meshlake-Query-Id") or None)


def _workgroup(d: dict[str, Any]) -> Workgroup:
    fields = {k: v for k, v in d.items() if k in Workgroup.__dataclass_fields__}
    fields.setdefault("result_location", "")
    return Workgroup(**fields)


_UNSET: Any = object()


class RemoteOperations(_Part):
    """The caller's asynchronous operations on the server."""

    def get(self, operation_id: str) -> Operation:
        """One operation."""
        return Operation.from_dict(self.http.json("GET", f"/v1/operations/{_q(operation_id)}"))

    def list(self, *, limit: int = 100) -> builtins.list[Operation]:
        """The caller's operations, newest first."""
        body = self.http.json("GET", "/v1/operations", params={"limit": limit})
        return [Operation.from_dict(d) for d in body["items"]]

    def wait(self, operation_id: str, timeout: float | None = None) -> Operation:
        """The operation once it ended (or as it is after ``timeout`` seconds)."""
        op = self.http.json("GET", f"/v1/operations/{_q(operation_id)}")
        return Operation.from_dict(self.http.follow(op, timeout))

    def result(self, operation_id: str, timeout: float | None = None) -> Any:
        """An operation's JSON result once it SUCCEEDED; its error raised once it FAILED.

        Raises:
            MeshError: the operation failed (its error's class).
        """
        op = self.wait(operation_id, timeout)
        return outcome(op.to_dict())


class RemoteQueries(_Part):
    """Query executions and stored results."""

    def run(
        self,
        sql: str,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        query_id: str | None = None,
    ) -> QueryResult:
        """Run one governed SELECT (the result travels as an Arrow IPC stream)."""
        body = {"sql": sql, "database": database, "workgroup": workgroup, "query_id": query_id}
        return _result(self.http.call("POST", "/v1/query", json=body, accept=ARROW_STREAM))

    def get(self, query_id: str) -> QueryExecution:
        """One execution."""
        return _execution(self.http.json("GET", f"/v1/queries/{_q(query_id)}"))

    def list(self, *, limit: int = 100, principal: str | None = None) -> list[QueryExecution]:
        """Executions the caller may see, newest first."""
        body = self.http.json("GET", "/v1/queries", params={"limit": limit, "principal": principal})
        return [_execution(d) for d in body["items"]]

    def cancel(self, query_id: str) -> QueryExecution:
        """Stop a running query."""
        return _execution(self.http.json("POST", f"/v1/queries/{_q(query_id)}/cancel"))

    def result(self, query_id: str) -> QueryResult:
        """A stored result."""
        path = f"/v1/queries/{_q(query_id)}/result"
        return _result(self.http.call("GET", path, accept=ARROW_STREAM))

    def start(
        self,
        sql: str,
        *,
        database: str | None = None,
        workgroup: str | None = None,
        query_id: str | None = None,
    ) -> QueryExecution:
        """Start a query in the background (QUEUED); follow it with :meth:`wait`."""
        body = {"sql": sql, "database": database, "workgroup": workgroup, "query_id": query_id}
        return _execution(self.http.json("POST", "/v1/queries", json=body))

    def wait(self, query_id: str, timeout: float | None = None) -> QueryExecution:
        """Wait until a query finishes (or ``timeout`` seconds pass); its execution."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        ex = self.get(query_id)
        while not ex.done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            time.sleep(delay if left is None else min(delay, left))
            delay = min(delay * 2, 0.5)
            ex = self.get(query_id)
        return ex

    def workgroup(self, name: str | None = None) -> Workgroup:
        """A workgroup of the caller's account (``primary`` always exists)."""
        path = f"/v1/workgroups/{_q(name or 'primary')}"
        return _workgroup(self.http.json("GET", path))

    def workgroups(self) -> builtins.list[Workgroup]:
        """The workgroups of the caller's account."""
        return [_workgroup(d) for d in self.http.json("GET", "/v1/workgroups")["items"]]

    def create_workgroup(
        self,
        name: str,
        *,
        result_location: str | None = None,
        retention: timedelta = timedelta(days=7),
        max_runtime_s: int = 300,
        memory_limit: str | None = None,
        max_bytes_scanned: int | None = None,
    ) -> Workgroup:
        """Create a workgroup (admins of the account)."""
        body = {
            "name": name,
            "result_location": result_location,
            "retention_s": int(retention.total_seconds()),
            "max_runtime_s": max_runtime_s,
            "memory_limit": memory_limit,
            "max_bytes_scanned": max_bytes_scanned,
        }
        return _workgroup(self.http.json("POST", "/v1/workgroups", json=body))

    def update_workgroup(
        self,
        name: str,
        *,
        retention: timedelta | None = None,
        max_runtime_s: int | None = None,
        memory_limit: str | None = _UNSET,
        max_bytes_scanned: int | None = _UNSET,
    ) -> Workgroup:
        """Change a workgroup's retention or limits (arguments left out keep their value;
        ``None`` removes ``memory_limit`` or ``max_bytes_scanned``)."""
        body: dict[str, Any] = {
            "retention_s": None if retention is None else int(retention.total_seconds()),
            "max_runtime_s": max_runtime_s,
        }
        if memory_limit is not _UNSET:
            body["memory_limit"] = memory_limit
        if max_bytes_scanned is not _UNSET:
            body["max_bytes_scanned"] = max_bytes_scanned
        return _workgroup(self.http.json("PATCH", f"/v1/workgroups/{_q(name)}", json=body))


class RemoteProducts(_Part):
    """Data products (versions and search hits as the embedded values; products as
    :class:`Record`)."""

    def publish(
        self,
        contract: str | os.PathLike[str],
        *,
        database: str,
        table: str | None = None,
        account: str | None = None,
    ) -> ProductVersion:
        """Publish (or re-publish) a product from its contract: YAML text, or a local file
        (read here and sent as text). Returns the new version.

        Raises:
            InvalidInputError: the file cannot be read, or the server refuses the contract
                (as embedded: bad contract, schema mismatch, a blocking quality rule).
        """
        body = {
            "contract": contract_text(contract),
            "database": database,
            "table": table,
            "account": account,
        }
        return ProductVersion.from_dict(self.http.json("POST", "/v1/products", json=body))

    def list(self) -> builtins.list[Record]:
        """Published products."""
        return [Record(d) for d in self.http.items("/v1/products")]

    def get(self, name: str) -> Record:
        """One product."""
        return Record(self.http.json("GET", f"/v1/products/{_q(name)}"))

    def versions(self, name: str) -> builtins.list[ProductVersion]:
        """Published versions of a product, oldest first."""
        items = self.http.json("GET", f"/v1/products/{_q(name)}/versions")["items"]
        return [ProductVersion.from_dict(d) for d in items]

    def search(self, text: str, *, limit: int = 20) -> builtins.list[Hit]:
        """Full-text search over the visible products."""
        body = self.http.json("GET", "/v1/products/search", params={"q": text, "limit": limit})
        return [Hit.from_dict(d) for d in body["items"]]


def _request(d: dict[str, Any]) -> AccessRequest:
    fields = dict(d)
    fields["permissions"] = tuple(d["permissions"])
    fields["columns"] = None if d.get("columns") is None else tuple(d["columns"])
    fields["decided_at"] = _when(d.get("decided_at"))
    fields["created_at"] = _when(d["created_at"])
    return AccessRequest(
        **{k: v for k, v in fields.items() if k in AccessRequest.__dataclass_fields__}
    )


class RemoteAccess(_Part):
    """Access requests to data products."""

    def request(
        self,
        product: str,
        permissions: list[str] | str,
        reason: str,
        *,
        columns: list[str] | None = None,
        for_principal: str | None = None,
    ) -> AccessRequest:
        """Ask the product's owner account for access."""
        perms = [permissions] if isinstance(permissions, str) else list(permissions)
        body = {
            "product": product,
            "permissions": perms,
            "reason": reason,
            "columns": columns,
            "for_principal": for_principal,
        }
        return _request(self.http.json("POST", "/v1/access-requests", json=body))

    def pending(self) -> builtins.list[AccessRequest]:
        """Pending requests the caller may decide or made."""
        return [_request(d) for d in self.http.items("/v1/access-requests")]

    def get(self, request_id: int) -> AccessRequest:
        """One request."""
        return _request(self.http.json("GET", f"/v1/access-requests/{int(request_id)}"))

    def approve(self, request_id: int) -> AccessRequest:
        """Approve a pending request."""
        return _request(self.http.json("POST", f"/v1/access-requests/{int(request_id)}/approve"))

    def deny(self, request_id: int, reason: str = "") -> AccessRequest:
        """Deny a pending request."""
        path = f"/v1/access-requests/{int(request_id)}/deny"
        return _request(self.http.json("POST", path, json={"reason": reason}))

    def revoke(self, request_id: int) -> AccessRequest:
        """Revoke an approved request's grants."""
        return _request(self.http.json("POST", f"/v1/access-requests/{int(request_id)}/revoke"))


class RemoteTokens(_Part):
    """Bearer tokens (root: any principal; admins: their account's)."""

    def create(
        self, for_principal: str, ttl: str | int | None = None, *, description: str = ""
    ) -> NewToken:
        """Create a token (shown this once)."""
        body = {"for_principal": for_principal, "ttl": ttl, "description": description}
        d = self.http.json("POST", "/v1/tokens", json=body)
        return NewToken(d["token"], TokenInfo.from_dict(d))

    def list(self, principal: str | None = None) -> list[TokenInfo]:
        """Tokens the caller may manage."""
        return [
            TokenInfo.from_dict(d) for d in self.http.items("/v1/tokens", {"principal": principal})
        ]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token now."""
        return TokenInfo.from_dict(self.http.json("DELETE", f"/v1/tokens/{_q(token_id)}"))


class RemoteSession:
    """Everything the token's principal can do, over HTTP (the embedded Session's names)."""

    def __init__(self, http: HttpTransport, principal: str) -> None:
        self.http = http
        self.principal = principal

    def __repr__(self) -> str:
        return f"RemoteSession({self.principal!r}, {self.http.url!r})"

    @property
    def account(self) -> str:
        """The principal's account."""
        return self.principal.split("/", 1)[0]

    @cached_property
    def accounts(self) -> RemoteAccounts:
        """Accounts."""
        return RemoteAccounts(self.http)

    @cached_property
    def principals(self) -> RemotePrincipals:
        """Users and roles."""
        return RemotePrincipals(self.http)

    @cached_property
    def catalog(self) -> RemoteCatalog:
        """Databases, links and tables."""
        return RemoteCatalog(self.http)

    @cached_property
    def tags(self) -> RemoteTags:
        """Tag keys, values and assignments."""
        return RemoteTags(self.http)

    @cached_property
    def filters(self) -> RemoteFilters:
        """Data filters."""
        return RemoteFilters(self.http)

    @cached_property
    def grants(self) -> RemoteGrants:
        """Grants."""
        return RemoteGrants(self.http)

    @cached_property
    def queries(self) -> RemoteQueries:
        """Query executions and stored results."""
        return RemoteQueries(self.http)

    @cached_property
    def products(self) -> RemoteProducts:
        """Data products."""
        return RemoteProducts(self.http)

    @cached_property
    def access(self) -> RemoteAccess:
        """Access requests."""
        return RemoteAccess(self.http)

    @cached_property
    def tokens(self) -> RemoteTokens:
        """Bearer tokens."""
        return RemoteTokens(self.http)

    @cached_property
    def operations(self) -> RemoteOperations:
        """The caller's asynchronous operations."""
        return RemoteOperations(self.http)

    @cached_property
    def storage(self) -> RemoteStorage:
        """Crawling and recipes (server operations)."""
        from meshlake.client.storage import RemoteStorage

        return RemoteStorage(self.http)

    def crawl(
        self, location: str, *, database: str, table: str | None = None, **kwargs: Any
    ) -> Any:
        """Crawl files into tables of ``database`` (see :meth:`RemoteStorage.crawl`)."""
        return self.storage.crawl(location, database=database, table=table, **kwargs)

    @cached_property
    def ml(self) -> RemoteML:
        """ML: jobs, registry, pipelines, lineage."""
        from meshlake.client.ml import RemoteML

        return RemoteML(self.http)

    @cached_property
    def events(self) -> RemoteEvents:
        """Subscriptions, the inbox, webhooks and triggers."""
        from meshlake.client.events import RemoteEvents

        return RemoteEvents(self.http)

    # ------------------------------------------------------------ queries
    def query(
        self,
        sql: str,
        database: str | None = None,
        workgroup: str | None = None,
        *,
        query_id: str | None = None,
    ) -> QueryResult:
        """Run one governed SELECT as this principal."""
        return self.queries.run(sql, database=database, workgroup=workgroup, query_id=query_id)

    def read_sql_query(
        self, sql: str, database: str | None = None, workgroup: str | None = None
    ) -> pd.DataFrame:
        """Run a governed query and return a pandas DataFrame."""
        return self.query(sql, database=database, workgroup=workgroup).to_pandas()

    # ------------------------------------------------------------ permissions
    def grant(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> GrantInfoView:
        """Grant permissions on a resource."""
        return self.grants.grant(grantee, resource, permissions, grantable)

    def revoke(
        self,
        grantee: str,
        resource: Resource,
        permissions: list[str] | str,
        grantable: list[str] | None = None,
    ) -> None:
        """Revoke permissions and, separately, grant options."""
        self.grants.revoke(grantee, resource, permissions, grantable)

    def list_permissions(
        self, principal: str | None = None, resource: Resource | None = None
    ) -> list[GrantInfoView] | list[EffectiveView]:
        """Explicit grants the caller may see; with both a principal and a resource, its
        effective permissions on it and their reasons."""
        return self.grants.list_permissions(principal, resource)

    def decide(self, action: str, resource: Resource, principal: str | None = None) -> Decision:
        """Decide for this principal (or, for admins and root, another one)."""
        body = {"action": action, "resource": _res(resource), "principal": principal}
        d = self.http.json("POST", "/v1/decide", json=body)
        return Decision(bool(d["allowed"]), str(d["reason"]))

    def check(self, action: str, resource: Resource) -> bool:
        """``decide(...).allowed`` for this principal."""
        body = {"action": action, "resource": _res(resource)}
        return bool(self.http.json("POST", "/v1/check", json=body)["allowed"])

    def explain(
        self, action: str, resource: Resource, principal: str | None = None
    ) -> dict[str, Any]:
        """The decision path for one (principal, action, resource)."""
        body = {"action": action, "resource": _res(resource), "principal": principal}
        return dict(self.http.json("POST", "/v1/explain", json=body))

    # ------------------------------------------------------------ audit
    def audit(
        self,
        *,
        category: str | None = None,
        limit: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events the caller may see, in chronological order (``limit=None``: all)."""
        if limit is not None:
            return self._audit_page(category, limit, after_seq, before_seq)
        out: list[AuditEvent] = []
        cursor = after_seq if after_seq is not None else 0
        while True:  # page forward from the cursor until a short page
            chunk = self._audit_page(category, 1000, cursor, before_seq)
            out += chunk
            if len(chunk) < 1000:
                return out
            cursor = chunk[-1].seq

    def _audit_page(
        self, category: str | None, limit: int, after: int | None, before: int | None
    ) -> list[AuditEvent]:
        params = {"category": category, "limit": limit, "after_seq": after, "before_seq": before}
        body = self.http.json("GET", "/v1/audit", params=params)
        return [
            AuditEvent(
                d["seq"],
                datetime.fromisoformat(d["time"]),
                d["category"],
                d["principal"],
                d["action"],
                d["resource"],
                d["data"],
                d["prev_hash"],
                d["hash"],
            )
            for d in body["items"]
        ]

    def checkpoint_audit(self) -> Checkpoint | None:
        """Sign the audit chain's head into the server's digest folder now (admins); None
        when the log is empty. The checkpoint's ``file`` is empty (a server path)."""
        d = self.http.json("POST", "/v1/audit/checkpoints")
        if d is None:
            return None
        fields = {k: v for k, v in d.items() if k in Checkpoint.__dataclass_fields__}
        fields["time"] = datetime.fromisoformat(fields["time"])
        fields.setdefault("file", "")  # the digest file is the server's: never sent
        return Checkpoint(**fields)

    def verify_audit(self) -> VerifyReport:
        """Check the audit hash chain (admins)."""
        d = self.http.json("POST", "/v1/audit/verify")
        d["notes"] = tuple(d.get("notes", ()))
        fields = {k: v for k, v in d.items() if k in VerifyReport.__dataclass_fields__}
        return VerifyReport(**fields)
