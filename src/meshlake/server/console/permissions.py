"""Permission pages: grants the principal may see, grant and revoke forms, and "why can X do
Y on Z" (``session.explain``). The tag ontology has its own page (:mod:`.tags`).

A resource travels in forms as flat fields (``kind``, ``account``, ``database``, ``table``,
``columns``, ...) turned into the REST API's resource dict
(:func:`meshlake.resources.resource_from_dict`). Each listed grant carries a revoke form
rebuilt from its label (:func:`resource_of_label`); grants on locations show no path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from meshlake.errors import InvalidInputError
from meshlake.resources import Resource, resource_from_dict
from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, done, render

__all__ = ["form_resource", "resource_of_label", "router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

#: Permissions offered by the grant form.
PERMISSIONS = (
    "ALL", "SELECT", "DESCRIBE", "INSERT", "DELETE", "ALTER", "DROP", "CREATE_TABLE",
    "CREATE_DATABASE", "DATA_LOCATION_ACCESS", "ASSOCIATE", "GRANT_WITH_TAG_EXPRESSION",
    "APPROVE", "REGISTER", "USE",
)  # fmt: skip
KINDS = ("database", "table", "datafilter", "tagkey", "tagpolicy", "modelgroup", "catalog")
_TABLE = re.compile(r"^table:([^.]+)\.([^.]+)\.([^. ]+)(?: \((excluding )?(.*)\))?$")


def _names(text: str) -> list[str]:
    return [x.strip() for x in re.split(r"[,\s]+", text) if x.strip()]


def _expression(text: str) -> dict[str, list[str]]:
    """``key=v1|v2, key2=v`` as ``{key: [v1, v2], key2: [v]}``.

    >>> _expression("database=credit-card, classification=public|internal")
    {'database': ['credit-card'], 'classification': ['public', 'internal']}
    """
    out: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", text))):
        key, sep, values = part.partition("=")
        if not sep:
            raise InvalidInputError(f"write a tag expression as key=value|value, not {part!r}")
        out[key.strip()] = [v.strip() for v in values.split("|") if v.strip()]
    return out


def form_resource(fields: dict[str, str]) -> Resource:
    """The resource named by a form's flat fields.

    >>> form_resource({"kind": "table", "database": "sales", "table": "orders",
    ...                "columns": "id, amount"}).columns
    ('id', 'amount')

    Raises:
        InvalidInputError: an unknown kind or missing fields.
    """
    kind = fields.get("kind", "")
    account = fields.get("account", "").strip() or None
    data: dict[str, Any] = {"kind": kind}
    if account:
        data["account"] = account
    db, table, name = (fields.get(k, "").strip() for k in ("database", "table", "name"))
    if kind == "database":
        data["name"] = db
    elif kind == "table":
        data.update(database=db, name=table or "*")
        if fields.get("columns", "").strip():
            data["columns"] = _names(fields["columns"])
        if fields.get("excluded_columns", "").strip():
            data["excluded_columns"] = _names(fields["excluded_columns"])
    elif kind == "datafilter":
        data.update(database=db, table=table, name=name)
    elif kind == "tagkey":
        data["key"] = fields.get("key", "").strip()
        values = _names(fields.get("values", "").replace("|", ","))
        if values:
            data["values"] = values
    elif kind == "tagpolicy":
        data.update(
            resource_type=fields.get("resource_type", "TABLE") or "TABLE",
            expression=_expression(fields.get("expression", "")),
        )
    elif kind == "modelgroup":
        data["name"] = name
    elif kind != "catalog":
        raise InvalidInputError(f"resource kind is one of {', '.join(KINDS)}, not {kind!r}")
    return resource_from_dict(data)


def resource_of_label(label: str) -> dict[str, str] | None:
    """The form fields of a grant listing's resource label (``None``: not revocable here).

    >>> resource_of_label("table:central.credit-card.t (excluding age)")["excluded_columns"]
    'age'
    >>> resource_of_label("tag_policy:TABLE:{database=credit-card}")
    {'kind': 'tagpolicy', 'resource_type': 'TABLE', 'expression': 'database=credit-card'}
    """
    kind, _, rest = label.partition(":")
    if kind == "database":
        account, _, db = rest.partition(".")
        return {"kind": "database", "account": account, "database": db}
    if kind == "tables":
        account, db, _star = rest.split(".", 2)
        return {"kind": "table", "account": account, "database": db, "table": "*"}
    if kind == "table" and (m := _TABLE.match(label)):
        out = {"kind": "table", "account": m[1], "database": m[2], "table": m[3]}
        if m[5]:
            out["excluded_columns" if m[4] else "columns"] = m[5]
        return out
    if kind == "filter":
        account, db, table, name = rest.split(".", 3)
        return {"kind": "datafilter", "account": account, "database": db, "table": table,
                "name": name}  # fmt: skip
    if kind == "tag":
        owner, _, spec = rest.partition(".")
        key, _, values = spec.partition("=")
        return {"kind": "tagkey", "account": owner, "key": key, "values": values}
    if kind == "tag_policy":
        rtype, _, expr = rest.partition(":")
        return {"kind": "tagpolicy", "resource_type": rtype, "expression": expr.strip("{}")}
    if kind == "model_group" and "#" not in rest:
        account, _, name = rest.partition(".")
        return {"kind": "modelgroup", "account": account, "name": name}
    return None


def _grant_rows(session: Any, principal: str | None) -> list[dict[str, Any]]:
    rows = []
    for g in session.list_permissions(principal or None):
        hidden = g.resource.startswith("location:")
        rows.append(
            {
                "grantee": g.grantee,
                "resource": "location (registered)" if hidden else g.resource,
                "permissions": list(g.permissions),
                "grantable": list(g.grantable),
                "grantor": g.grantor,
                "revoke": None if hidden else resource_of_label(g.resource),
            }
        )
    return rows


@router.get("/permissions")
def permissions(request: Request, session: Signed, principal: str = "") -> Response:
    """Grants the principal may see (rule 26), optionally of one grantee, and the forms."""
    data = {"principal_filter": principal, "grants": _grant_rows(session, principal)}
    extra = {"kinds": KINDS, "all_permissions": PERMISSIONS}
    return render(request, "permissions.html", data, session, extra=extra)


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


@router.post("/permissions/grant")
async def grant(
    request: Request,
    session: Acting,
    grantee: Annotated[str, Form()],
    permissions: Annotated[list[str], Form()],
    grantable: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Grant permissions (``grantable`` ones with the grant option)."""
    resource = form_resource(await _fields(request))
    view = await run_in_threadpool(
        session.grant, grantee.strip(), resource, permissions, grantable or []
    )
    return done(request, "/console/permissions", view)


@router.post("/permissions/revoke")
async def revoke(
    request: Request,
    session: Acting,
    grantee: Annotated[str, Form()],
    permissions: Annotated[list[str], Form()],
    grantable: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Revoke permissions and, separately, grant options."""
    resource = form_resource(await _fields(request))
    await run_in_threadpool(session.revoke, grantee.strip(), resource, permissions, grantable or [])
    return done(request, "/console/permissions", {"revoked": True})


@router.get("/permissions/explain")
def explain(request: Request, session: Signed) -> Response:
    """Why may (or may not) a principal do an action on a resource: the decision path."""
    fields = dict(request.query_params)
    fields.pop("format", None)
    answer = None
    if fields.get("action"):
        who = fields.get("principal", "").strip() or None
        answer = session.explain(fields["action"], form_resource(fields), who)
    data = {"query": fields, "explanation": answer}
    extra = {"kinds": KINDS, "all_permissions": PERMISSIONS}
    return render(request, "explain.html", data, session, extra=extra)
