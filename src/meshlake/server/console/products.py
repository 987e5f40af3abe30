"""Data product pages: search, and a product's contract, schema history, quality and bias
charts, consumers and the models built on it (``session.products.describe``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from meshlake.server.console.charts import bar_chart
from meshlake.server.console.pages import ConsoleRoute, Signed, render

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


@router.get("/products")
def products(request: Request, session: Signed, q: str = "") -> Response:
    """Every visible product, or those matching a search."""
    listed = {p.name: p for p in session.products.list()}
    if q.strip():
        hits = session.products.search(q, limit=50)
        items = [
            {
                **_summary(listed[h.product_id]),
                "score": h.score,
                "highlights": h.to_dict()["highlights"],
            }
            for h in hits
            if h.product_id in listed
        ]
    else:
        items = [_summary(p) for p in listed.values()]
    return render(request, "products.html", {"q": q, "products": items}, session)


def _summary(p: Any) -> dict[str, Any]:
    c = p.contract
    return {
        "name": p.name,
        "owner_account": p.owner_account,
        "domain": c.domain,
        "description": c.description,
        "classification": c.classification,
        "tags": list(c.tags),
        "latest_version": p.latest_version,
        "status": p.status,
    }


@router.get("/products/{name}")
def product(request: Request, session: Signed, name: str) -> Response:
    """A product: contract, versions and schema history, quality, bias, consumers, models."""
    described = session.products.describe(name)
    consumers = [
        {
            "id": r.id,
            "for_principal": r.for_principal,
            "permissions": list(r.permissions),
            "columns": None if r.columns is None else list(r.columns),
            "decided_at": r.decided_at,
        }
        for r in session.access.list(product=name, state="APPROVED")
    ]
    subscribed = any(
        s.kind == "product" and s.target == name for s in session.events.subscriptions()
    )
    data = {"product": described, "consumers": consumers, "subscribed": subscribed}
    latest = described["versions"][-1] if described["versions"] else None
    return render(request, "product.html", data, session, extra={"charts": _charts(latest)})


def _charts(version: dict[str, Any] | None) -> list[Markup]:
    """Completeness per column, and the label rate per group of each sensitive column."""
    if version is None:
        return []
    charts = []
    quality = version["quality"]
    columns = quality.get("columns") or []
    if columns:
        charts.append(
            bar_chart(
                [(c["name"], c.get("completeness")) for c in columns],
                title=f"Completeness per column (version {version['version']}, "
                f"{quality['row_count']} rows)",
            )
        )
    bias: dict[str, Any] = version.get("bias") or {}
    for col in bias.get("columns", []):
        rate = bias["positives"] / bias["rows"] if bias.get("rows") else None
        ratio = col.get("ratio")
        charts.append(
            bar_chart(
                [(f"{g['group']} (n={g['n']})", g["rate"]) for g in col["groups"]],
                title=f"{bias['label_column']} = {bias['positive_label']} rate by {col['column']}"
                + ("" if ratio is None else f" (ratio {ratio:.2f})"),
                marker=rate,
            )
        )
    return charts
