"""Model registry pages: the model groups the principal may DESCRIBE, their versions and
metrics, a ROC plot drawn from the recorded ROC points, and approve / reject (APPROVE)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup

from meshlake.errors import MeshError
from meshlake.mesh import Session
from meshlake.server.console.charts import line_chart
from meshlake.server.console.pages import Acting, ConsoleRoute, Signed, done, render

__all__ = ["roc_chart", "router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

SPLITS = ("validation", "test")


@router.get("/models")
def groups(request: Request, session: Signed) -> Response:
    """Model groups the principal may DESCRIBE."""
    return render(request, "models.html", {"groups": session.ml.list_model_groups()}, session)


@router.get("/models/{account}/{name}")
def group(request: Request, session: Signed, account: str, name: str) -> Response:
    """A group's versions with their status and summary metrics."""
    view = session.ml.describe_model_group(name, account)
    return render(request, "model_group.html", {"group": view}, session)


def _roc_points(session: Session, version: Any) -> dict[str, Any]:
    """The recorded ROC points per split: the version's own, else its training job's when
    the principal may see that job."""
    metrics = version.metrics or {}
    points = {s: (metrics.get(s) or {}).get("roc_points") for s in SPLITS}
    if not any(points.values()) and version.job_id:
        try:
            job_metrics = session.ml.job(version.job_id).metrics or {}
        except MeshError:
            job_metrics = {}
        points = {s: (job_metrics.get(s) or {}).get("roc_points") for s in SPLITS}
    return {s: p for s, p in points.items() if p}


def roc_chart(points: dict[str, Any], metrics: dict[str, Any]) -> Markup | None:
    """The ROC curves of the splits that recorded points (``None``: none did)."""
    if not points:
        return None
    series = []
    for split, pts in points.items():
        auc = (metrics.get(split) or {}).get("roc_auc")
        series.append((f"{split}" + ("" if auc is None else f" AUC {auc:.3f}"), pts))
    return line_chart(
        series,
        title="ROC",
        x_label="false positive rate",
        y_label="true positive rate",
        diagonal=True,
    )


@router.get("/models/{account}/{name}/{version}")
def version(request: Request, session: Signed, account: str, name: str, version: int) -> Response:
    """One version: status, metrics, ROC plot; approve / reject for APPROVE holders."""
    view = session.ml.describe_model_group(name, account)
    found = session.ml.model_version(name, version, account=account)
    points = _roc_points(session, found)
    data = {
        "group": {"name": view.name, "account": view.account, "permissions": view.permissions},
        "version": found,
        "roc_points": points,
        "may_approve": "APPROVE" in view.permissions or "ALL" in view.permissions,
    }
    extra = {"roc": roc_chart(points, found.metrics or {})}
    return render(request, "model_version.html", data, session, extra=extra)


@router.post("/models/{account}/{name}/{version}/{decision}")
def decide(
    request: Request,
    session: Acting,
    account: str,
    name: str,
    version: int,
    decision: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve or reject a version (needs APPROVE on the group)."""
    found = session.ml.model_version(name, version, account=account)
    if decision == "approve":
        changed = session.ml.approve(found, reason=reason)
    elif decision == "reject":
        changed = session.ml.reject(found, reason=reason)
    else:
        from meshlake.errors import NotFoundError

        raise NotFoundError(f"no action {decision}")
    return done(request, f"/console/models/{account}/{name}/{version}", changed)
