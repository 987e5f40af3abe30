"""``meshlake events ...``: subscriptions, the inbox, webhooks and triggers.

Events (CloudEvents) are what changed in the mesh: ``product.published``,
``table.updated``, ``model.approved``, ``access.requested`` ... You see those of resources you
may see. Subscribe to get them in your inbox, or POSTed (signed) to a webhook that
``meshlake worker`` delivers; triggers (``on EVENT [where ...] do ACTION``) run as their
creator.
"""

import json
import re
from typing import Annotated, Any

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import parse_list
from meshlake.cli.state import CliState, get_state
from meshlake.errors import InvalidInputError
from meshlake.jsonable import to_jsonable

__all__ = ["events_app", "parse_pairs"]

events_app = typer.Typer(
    help="Events: subscribe to products, databases, model groups or event types; read the "
    "inbox; webhooks and their dead letters; triggers.",
    no_args_is_help=True,
)
webhook_app = typer.Typer(
    help="Webhooks: events POSTed to your URL (signed; delivered by `meshlake worker`).",
    no_args_is_help=True,
)
trigger_app = typer.Typer(
    help="Triggers of your account: on EVENT (where FIELD=VALUE) do recrawl | pipeline | "
    "drift_check (admins create them; they run as their creator).",
    no_args_is_help=True,
)
events_app.add_typer(webhook_app, name="webhook")
events_app.add_typer(trigger_app, name="trigger")

TARGET_PANEL = "Target (give one)"
ProductOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="A data product.", rich_help_panel=TARGET_PANEL)
]
DatabaseOpt = Annotated[
    str | None, typer.Option(metavar="DB", help="A database.", rich_help_panel=TARGET_PANEL)
]
GroupOpt = Annotated[
    str | None,
    typer.Option(metavar="GROUP", help="A model group.", rich_help_panel=TARGET_PANEL),
]
TypeOpt = Annotated[
    str | None,
    typer.Option(
        "--type",
        metavar="PATTERN",
        help="An event type or pattern: product.published, model.*",
        rich_help_panel=TARGET_PANEL,
    ),
]
AccountOpt = Annotated[
    str | None, typer.Option(metavar="ACCOUNT", help="The target's account (default: yours).")
]
TypesOpt = Annotated[
    str | None,
    typer.Option(metavar="T1,T2", help="Only these event types of the target."),
]

SUBSCRIPTION_COLUMNS = ["id", "kind", "target", "types", "url", "created_at"]


def parse_pairs(values: list[str] | None, option: str) -> dict[str, Any]:
    """``key=value`` options as a dict; values that are JSON (numbers, lists) are decoded.

    >>> parse_pairs(["database=sales", "psi_threshold=0.2"], "--param")
    {'database': 'sales', 'psi_threshold': 0.2}
    """
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"write KEY=VALUE, not {item!r}", param_hint=f"'{option}'")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _subscribe(
    state: CliState,
    *,
    product: str | None,
    database: str | None,
    model_group: str | None,
    type_: str | None,
    account: str | None,
    types: str | None,
    url: str | None = None,
    secret: str | None = None,
) -> Any:
    given = [x for x in (product, database, model_group, type_) if x]
    if len(given) != 1:
        raise typer.BadParameter(
            "name one target: --product, --database, --model-group or --type",
            param_hint="'target'",
        )
    kwargs: dict[str, Any] = {
        "product": product,
        "database": database,
        "model_group": model_group,
        "type": type_,
        "account": account,
        "types": parse_list(types),
    }
    if url is not None:
        kwargs["url"] = url
        kwargs["secret"] = secret
    return state.op("events.subscribe")(**{k: v for k, v in kwargs.items() if v is not None})


def _dict(value: Any) -> dict[str, Any]:
    data = to_jsonable(value)
    return data if isinstance(data, dict) else {"value": data}


@events_app.command(
    "subscribe",
    epilog=examples(
        "meshlake --as consumer/analyst events subscribe --product credit_card",
        "meshlake events subscribe --type 'model.*'",
        "meshlake events subscribe --database sales --types table.updated,table.created",
    ),
)
def events_subscribe(
    ctx: typer.Context,
    product: ProductOpt = None,
    database: DatabaseOpt = None,
    model_group: GroupOpt = None,
    type_: TypeOpt = None,
    types: TypesOpt = None,
    account: AccountOpt = None,
) -> None:
    """Subscribe to events in your inbox (`meshlake events inbox` shows them)."""
    state = get_state(ctx)
    sub = _subscribe(
        state,
        product=product,
        database=database,
        model_group=model_group,
        type_=type_,
        account=account,
        types=types,
    )
    data = _dict(sub)
    state.out.emit(data, f"subscription {bold(data['id'])}: {data['kind']} {data['target']}")


@events_app.command("unsubscribe")
def events_unsubscribe(
    ctx: typer.Context,
    subscription_id: Annotated[int, typer.Argument(metavar="ID", help="See `subscriptions`.")],
) -> None:
    """End one of your subscriptions (inbox or webhook)."""
    state = get_state(ctx)
    state.op("events.unsubscribe")(subscription_id)
    state.out.emit({"unsubscribed": subscription_id}, f"ended subscription {bold(subscription_id)}")


@events_app.command("subscriptions")
def events_subscriptions(ctx: typer.Context) -> None:
    """List your active subscriptions (webhook secrets are never shown again)."""
    state = get_state(ctx)
    state.out.records(
        [_dict(s) for s in state.op("events.subscriptions")()],
        SUBSCRIPTION_COLUMNS,
        title="Subscriptions",
        empty="no subscriptions: `meshlake events subscribe --product NAME`",
    )


@events_app.command("inbox")
def events_inbox(
    ctx: typer.Context,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread events.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most N events.")] = 100,
) -> None:
    """List the events of your inbox subscriptions that you may see, oldest first."""
    state = get_state(ctx)
    items = [_dict(i) for i in state.op("events.inbox")(unread_only=unread, limit=limit)]
    if state.json:
        state.out.print_json(items)
        return
    state.out.table(
        ["id", "type", "subject", "time", "by", "read"],
        [
            [
                i["event"].get("id"),
                i["event"].get("type"),
                i["event"].get("subject"),
                i["event"].get("time"),
                i["event"].get("principal"),
                "yes" if i.get("read") else "",
            ]
            for i in items
        ],
        title="Inbox",
        empty="the inbox is empty" if not unread else "no unread events",
        no_wrap=["id"],
    )


@events_app.command("mark-read")
def events_mark_read(
    ctx: typer.Context,
    event_ids: Annotated[
        list[str] | None, typer.Argument(metavar="EVENT_ID", help="Events of your inbox.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every unread event.")] = False,
) -> None:
    """Mark inbox events read."""
    state = get_state(ctx)
    ids = list(event_ids or [])
    if all_ == bool(ids):
        raise typer.BadParameter("give EVENT_ID... or --all", param_hint="'EVENT_ID'")
    if all_:
        ids = [_dict(i)["event"]["id"] for i in state.op("events.inbox")(unread_only=True)]
    changed = state.op("events.mark_read")(ids)
    state.out.emit({"marked_read": changed}, f"marked {changed} event(s) read")


# ------------------------------------------------------------------ webhooks
@webhook_app.command(
    "add",
    epilog=examples(
        "meshlake --as consumer/analyst events webhook add https://hooks.example.com/mesh "
        "--product credit_card"
    ),
)
def webhook_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="Where events are POSTed.")],
    product: ProductOpt = None,
    database: DatabaseOpt = None,
    model_group: GroupOpt = None,
    type_: TypeOpt = None,
    types: TypesOpt = None,
    account: AccountOpt = None,
    secret: Annotated[
        str | None,
        typer.Option(metavar="SECRET", help="The signing secret (default: a new random one)."),
    ] = None,
) -> None:
    """Send events to a webhook, signed with a secret that is printed this once.

    The URL must lead where the mesh sends webhooks: public addresses only unless its
    operator set MESHLAKE_WEBHOOK_ALLOWED_HOSTS (loopback, private and link-local addresses,
    and host names resolving to them, are refused); redirects are not followed."""
    state = get_state(ctx)
    sub = _subscribe(
        state,
        product=product,
        database=database,
        model_group=model_group,
        type_=type_,
        account=account,
        types=types,
        url=url,
        secret=secret,
    )
    data = {**_dict(sub), "secret": getattr(sub, "secret", None)}
    if state.json:
        state.out.print_json(data)
        return
    state.out.success(f"webhook {bold(data['id'])} -> {bold(url)}: {data['target']}")
    if secret is None and data["secret"]:
        typer.echo(data["secret"])
        state.out.note(
            "that is the signing secret: keep it now, it cannot be shown again; "
            "`meshlake worker` delivers the events"
        )


@webhook_app.command("list")
def webhook_list(ctx: typer.Context) -> None:
    """List your webhook subscriptions."""
    state = get_state(ctx)
    hooks = [_dict(s) for s in state.op("events.subscriptions")() if _dict(s).get("url")]
    state.out.records(
        hooks,
        SUBSCRIPTION_COLUMNS,
        title="Webhooks",
        empty="no webhooks: `meshlake events webhook add URL --product NAME`",
    )


DELIVERY_COLUMNS = ["id", "event_id", "type", "subscription_id", "state", "attempts", "last_error"]


@webhook_app.command("deliveries")
def webhook_deliveries(
    ctx: typer.Context,
    state_: Annotated[
        str | None,
        typer.Option("--state", metavar="STATE", help="pending, delivered or dead."),
    ] = None,
    subscription: Annotated[
        int | None, typer.Option(metavar="ID", help="Only this subscription's.")
    ] = None,
) -> None:
    """List your webhook deliveries."""
    state = get_state(ctx)
    state.out.records(
        state.op("events.deliveries")(state=state_, subscription_id=subscription),
        DELIVERY_COLUMNS,
        title="Webhook deliveries",
        empty="no deliveries",
    )


@webhook_app.command("dead-letters")
def webhook_dead_letters(ctx: typer.Context) -> None:
    """List your deliveries that failed too often (replay them with `replay`)."""
    state = get_state(ctx)
    state.out.records(
        state.op("events.dead_letters")(),
        DELIVERY_COLUMNS,
        title="Dead letters",
        empty="no dead letters",
    )


@webhook_app.command("replay")
def webhook_replay(
    ctx: typer.Context,
    delivery_ids: Annotated[
        list[int] | None,
        typer.Argument(metavar="DELIVERY_ID", help="Dead letters to retry (default: all)."),
    ] = None,
) -> None:
    """Queue dead letters again with a fresh attempt count."""
    state = get_state(ctx)
    count = state.op("events.replay")(list(delivery_ids) if delivery_ids else None)
    state.out.emit(
        {"replayed": count},
        f"queued {count} dead letter(s) again: `meshlake worker` delivers them",
    )


# ------------------------------------------------------------------ triggers
@trigger_app.command(
    "create",
    epilog=examples(
        "meshlake --as producer/admin events trigger create recrawl_orders "
        "--on table.updated --where \"database = 'raw'\" --do recrawl "
        "--param location=s3://bucket/orders --param database=sales",
        "meshlake events trigger create retrain --on drift.detected "
        "--where \"data.product = 'credit_card' and data.max_psi > 0.2\" --do pipeline "
        "--params-json @pipeline-params.json",
    ),
)
def trigger_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The trigger's name in your account.")],
    on: Annotated[str, typer.Option(metavar="PATTERN", help="The event type (pattern).")],
    do: Annotated[str, typer.Option(metavar="ACTION", help="recrawl, pipeline or drift_check.")],
    where: Annotated[
        list[str] | None,
        typer.Option(
            metavar="EXPR",
            help="Only matching events: a condition over event attributes and data.<path> "
            "(=, !=, <, <=, >, >=, IN, IS NULL, AND/OR/NOT), or FIELD=VALUE; repeated "
            "options must all hold.",
        ),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="A parameter of the action.")
    ] = None,
    params_json: Annotated[
        str | None,
        typer.Option(metavar="JSON|@FILE", help="The action's parameters as a JSON object."),
    ] = None,
) -> None:
    """Create a trigger (admins): it runs its action as you for each matching event."""
    state = get_state(ctx)
    params = _params_json(params_json)
    params.update(parse_pairs(param, "--param"))
    trigger = state.op("events.triggers.create")(
        name, on=on, do=do, where=_where(where), params=params
    )
    data = _dict(trigger)
    state.out.emit(data, f"created trigger {bold(name)}: on {on} do {do}")


_PAIR = re.compile(r"^[A-Za-z_][\w.]*=[^=<>!']*$")


def _where(values: list[str] | None) -> str | dict[str, str] | None:
    """``--where`` values: FIELD=VALUE pairs as a mapping, else the conditions joined."""
    if not values:
        return None
    if all(_PAIR.match(v) for v in values):
        return parse_pairs(values, "--where")
    return " AND ".join(f"({v})" for v in values)


def _params_json(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if text.startswith("@"):
        from pathlib import Path

        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {text[1:]}: {exc.strerror}", param_hint="'--params-json'"
            ) from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="'--params-json'") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("--params-json must be a JSON object of the action's parameters")
    return value


@trigger_app.command("list")
def trigger_list(ctx: typer.Context) -> None:
    """List your account's triggers."""
    state = get_state(ctx)
    state.out.records(
        [_dict(t) for t in state.op("events.triggers.list")()],
        ["name", "on", "where", "action", "params", "owner"],
        title="Triggers",
        empty="no triggers: `meshlake events trigger create NAME --on TYPE --do ACTION`",
    )


@trigger_app.command("delete")
def trigger_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The trigger.")]
) -> None:
    """Delete a trigger of your account (admins)."""
    state = get_state(ctx)
    state.op("events.triggers.delete")(name)
    state.out.emit({"deleted": name}, f"deleted trigger {bold(name)}")


@trigger_app.command("runs")
def trigger_runs(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this trigger's runs.")] = None,
) -> None:
    """List the runs of your account's triggers, oldest first."""
    state = get_state(ctx)
    state.out.records(
        state.op("events.triggers.runs")(name),
        ["trigger", "event_position", "state", "result", "error"],
        title="Trigger runs",
        empty="no trigger runs yet (`meshlake worker` runs the triggers)",
    )
