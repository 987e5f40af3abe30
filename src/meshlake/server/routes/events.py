"""Events: subscriptions (inbox or webhook), the inbox, webhook deliveries and dead letters,
and the account's triggers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from meshlake.ml.pipelines import Pipeline
from meshlake.server.auth import CurrentSession, Scrub, SessionRoute
from meshlake.server.routes import STORE_INT_MAX, StoreInt
from meshlake.server.routes.storage import inline_document
from meshlake.server.wire import MAX_LIMIT

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"], route_class=SessionRoute)


class SubscribeBody(BaseModel):
    product: str | None = None
    database: str | None = None
    model_group: str | None = None
    type: str | None = Field(None, description="An event type pattern, e.g. product.*")
    account: str | None = None
    types: list[str] | None = None
    url: str | None = Field(
        None,
        description="A webhook URL (none: the inbox): http or https, at most 2048 characters, "
        "leading to public addresses unless the server's operator allowed more "
        "(MESHLAKE_WEBHOOK_ALLOWED_HOSTS); refused otherwise with 400 invalid_input.",
    )
    secret: str | None = None


class ReadBody(BaseModel):
    ids: list[str]


class ReplayBody(BaseModel):
    ids: list[StoreInt] | None = Field(None, description="Delivery ids (none: every dead letter).")


class TriggerBody(BaseModel):
    name: str
    on: str = Field(description="An event type pattern.")
    do: str = Field(description="recrawl, pipeline or drift_check.")
    where: str | dict[str, Any] | None = Field(
        None, description="A condition (data.max_psi > 0.2 and ...), or field equalities."
    )
    params: dict[str, Any] | None = None
    run_as: str | None = Field(
        None, description="A principal of the caller's account to run as (default: the caller)."
    )


@router.post("/subscriptions", status_code=201)
def subscribe(body: SubscribeBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Subscribe to one product, database, model group or event type pattern; with ``url``
    a webhook (its signing ``secret`` is shown in this answer only)."""
    sub = s.events.subscribe(**body.model_dump())
    out: dict[str, Any] = scrub.body(sub)
    out["secret"] = sub.secret
    return out


@router.get("/subscriptions")
def subscriptions(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """The caller's active subscriptions (never their secrets)."""
    return {"items": scrub.body(s.events.subscriptions())}


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(
    subscription_id: Annotated[int, Path(ge=0, le=STORE_INT_MAX)], s: CurrentSession
) -> None:
    """End one of the caller's subscriptions."""
    s.events.unsubscribe(subscription_id)


@router.get("/inbox")
def inbox(
    s: CurrentSession,
    scrub: Scrub,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    """Events of the caller's inbox that it may see now, oldest first."""
    return {"items": scrub.body(s.events.inbox(unread_only=unread_only, limit=limit))}


@router.post("/inbox/read")
def mark_read(body: ReadBody, s: CurrentSession) -> dict[str, int]:
    """Mark inbox events (CloudEvents ids) read."""
    return {"changed": s.events.mark_read(body.ids)}


@router.get("/deliveries")
def deliveries(
    s: CurrentSession,
    scrub: Scrub,
    state: Literal["pending", "delivered", "dead", "skipped"] | None = None,
    subscription_id: Annotated[int | None, Query(ge=0, le=STORE_INT_MAX)] = None,
) -> dict[str, Any]:
    """The caller's webhook deliveries."""
    return {"items": scrub.body(s.events.deliveries(state=state, subscription_id=subscription_id))}


@router.get("/dead-letters")
def dead_letters(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """The caller's webhook deliveries that failed too often."""
    return {"items": scrub.body(s.events.dead_letters())}


@router.post("/dead-letters/replay")
def replay(body: ReplayBody, s: CurrentSession) -> dict[str, int]:
    """Queue dead letters again with a fresh attempt count."""
    return {"queued": s.events.replay(body.ids)}


@router.post("/triggers", status_code=201)
def create_trigger(body: TriggerBody, s: CurrentSession, scrub: Scrub) -> Any:
    """Create a trigger of the caller's account (its admins): ``on`` events ``do`` an action
    as the caller, or as ``run_as`` (a principal of its account). Pipelines travel as JSON or
    YAML text and may name no ``script``."""
    params = dict(body.params or {})
    for key in ("pipeline", "then_pipeline"):
        if params.get(key) is not None:
            document = inline_document(params[key], "pipeline", {"script"})
            params[key] = Pipeline.from_dict(document).to_dict()
    return scrub.body(
        s.events.triggers.create(
            body.name,
            on=body.on,
            do=body.do,
            where=body.where,
            params=params,
            run_as=body.run_as,
        )
    )


@router.get("/triggers")
def list_triggers(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """The caller's account's active triggers."""
    return {"items": scrub.body(s.events.triggers.list())}


@router.delete("/triggers/{name}", status_code=204)
def delete_trigger(name: str, s: CurrentSession) -> None:
    """Deactivate a trigger of the caller's account (its admins)."""
    s.events.triggers.delete(name)


@router.get("/triggers/runs")
def trigger_runs(s: CurrentSession, scrub: Scrub, name: str | None = None) -> dict[str, Any]:
    """Runs of the account's triggers, oldest first."""
    return {"items": scrub.body(s.events.triggers.runs(name))}


@router.get("/triggers/settled")
def triggers_settled(s: CurrentSession) -> dict[str, bool]:
    """Whether the trigger runners have handled every event and no run is running or
    waiting for a retry (one flag for the whole mesh, so for account admins and the root
    only; the SDK's ``triggers.settle`` asks until it is true)."""
    return {"settled": s.events.triggers.settle(timeout_s=0)}


@router.get("/drift-reports")
def drift_reports(s: CurrentSession, scrub: Scrub) -> dict[str, Any]:
    """The drift reports computed as the caller (a trigger's owner), newest first."""
    return {"items": scrub.body(s.events.triggers.drift_reports())}


@router.get("/drift-reports/{report_id}")
def drift_report(
    report_id: Annotated[int, Path(ge=0, le=STORE_INT_MAX)], s: CurrentSession, scrub: Scrub
) -> Any:
    """One drift report: each column's statistics and the names of its plots (its
    principal and the mesh root only)."""
    return scrub.body(s.events.triggers.drift_report(report_id))


@router.get(
    "/drift-reports/{report_id}/plots/{name}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The plot as a PNG."}},
)
def drift_plot(
    report_id: Annotated[int, Path(ge=0, le=STORE_INT_MAX)], name: str, s: CurrentSession
) -> Response:
    """A plot of a drift report (``psi.png``, or ``<column>.png`` of a drifted column)."""
    return Response(s.events.triggers.drift_plot(report_id, name), media_type="image/png")
