"""``meshlake product ...`` (data products) and ``meshlake access ...`` (access requests).

A product is a table published under an ODCS data contract: its quality and bias are
measured at publication and every publication is a version. Consumers find products with
``product search``, ask for access with ``access request``; the owner account's admins
``approve`` (a grant follows), ``deny`` or later ``revoke`` it.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import parse_list
from meshlake.cli.state import CliState, get_state
from meshlake.jsonable import to_jsonable

__all__ = ["access_app", "product_app", "register"]

product_app = typer.Typer(
    help="Data products: tables published under a data contract (ODCS), with quality, "
    "bias and versions; discoverable by other accounts.",
    no_args_is_help=True,
)
access_app = typer.Typer(
    help="Access requests to data products: consumers ask, the owner account's admins "
    "approve (a grant), deny or revoke.",
    no_args_is_help=True,
)


def _read_contract(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="'CONTRACT.yaml'"
        ) from exc


def _dict(value: Any) -> dict[str, Any]:
    data = to_jsonable(value)
    return data if isinstance(data, dict) else {"value": data}


@product_app.command(
    "publish",
    epilog=examples(
        "meshlake --as producer/steward product publish credit_card.yaml --database credit"
    ),
)
def product_publish(
    ctx: typer.Context,
    contract: Annotated[
        Path, typer.Argument(metavar="CONTRACT.yaml", help="The ODCS data contract.")
    ],
    database: Annotated[
        str, typer.Option("--database", "-d", metavar="DB", help="The table's database.")
    ],
    table: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="The table (default: the contract's physical name)."),
    ] = None,
    account: Annotated[
        str | None, typer.Option(metavar="ACCOUNT", help="The database's account.")
    ] = None,
) -> None:
    """Publish (or re-publish) a product from its data contract.

    The table is checked against the contract, its quality rules are measured (a blocking
    failure refuses it) and a new version is kept.
    """
    state = get_state(ctx)
    text = _read_contract(contract)
    with state.out.status(f"publishing {contract.name}"):
        version = state.op("products.publish")(
            text, database=database, table=table, account=account
        )
    data = _dict(version)
    state.out.emit(
        data,
        f"published {bold(data.get('product'))} version {bold(data.get('version'))}",
    )


@product_app.command("list")
def product_list(ctx: typer.Context) -> None:
    """List the products you can see."""
    state = get_state(ctx)
    products = [_dict(p) for p in state.op("products.list")()]
    state.out.records(
        products,
        ["name", "owner_account", "database", "table", "status", "latest_version"],
        title="Data products",
        empty="no products you can see: `meshlake product search TEXT` finds them by content",
    )


@product_app.command("search", epilog=examples("meshlake product search 'credit risk'"))
def product_search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words to look for (name, description, columns).")],
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many hits.")] = 20,
) -> None:
    """Full-text search over the products you can see, best first."""
    state = get_state(ctx)
    hits = [_dict(h) for h in state.op("products.search")(text, limit=limit)]
    if state.json:
        state.out.print_json(hits)
        return
    state.out.table(
        ["product", "score", "matches"],
        [
            [
                h.get("product_id"),
                round(float(h.get("score") or 0), 3),
                "; ".join(f"{x['field']}: {x['text']}" for x in h.get("highlights") or []),
            ]
            for h in hits
        ],
        title=f"Products matching {text!r}",
        empty="no product matches: try other words, or `meshlake product list`",
    )


@product_app.command("describe")
def product_describe(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The product.")]
) -> None:
    """Show a product: its contract's table, versions and the models built on it."""
    state = get_state(ctx)
    data = _dict(state.op("products.describe")(name))
    if state.json:
        state.out.print_json(data)
        return
    skip = {"contract", "versions", "models"}
    contract = data.get("contract") or {}
    state.out.fields(
        [(k, v) for k, v in data.items() if k not in skip]
        + [(f"contract {k}", v) for k, v in contract.items() if not isinstance(v, (dict, list))],
        title=f"Product {name}",
    )
    _versions_table(state, data.get("versions") or [])
    models = data.get("models") or []
    if models:
        state.out.records(models, list(models[0]), title="Models built on it")


def _quality(report: dict[str, Any]) -> str:
    """``5/6 rules passed`` from a quality report's JSON form."""
    rules = report.get("rules") or []
    if not isinstance(rules, list) or not rules:
        return "ok" if report.get("ok", True) else "failed"
    passed = sum(
        1 for r in rules if isinstance(r, dict) and str(r.get("status")).lower() == "passed"
    )
    return f"{passed}/{len(rules)} rules passed"


def _versions_table(state: CliState, versions: list[dict[str, Any]]) -> None:
    state.out.table(
        ["version", "snapshot", "quality", "published by", "published at"],
        [
            [
                v.get("version"),
                v.get("snapshot_id"),
                _quality(v.get("quality") or {}),
                v.get("published_by"),
                v.get("published_at"),
            ]
            for v in versions
        ],
        title="Versions",
        empty="no versions",
    )


@product_app.command("versions")
def product_versions(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The product.")]
) -> None:
    """List a product's versions, oldest first."""
    state = get_state(ctx)
    versions = [_dict(v) for v in state.op("products.versions")(name)]
    if state.json:
        state.out.print_json(versions)
        return
    _versions_table(state, versions)


# ------------------------------------------------------------------ access requests
REQUEST_COLUMNS = ["id", "product", "for_principal", "permissions", "columns", "state", "reason"]


def _show_request(state: CliState, request: Any, verb: str) -> None:
    data = _dict(request)
    state.out.emit(
        data,
        f"{verb} access request {bold(data['id'])} ({data['state']}): {data['product']} for "
        f"{data['for_principal']}",
    )


@access_app.command(
    "request",
    epilog=examples(
        "meshlake --as consumer/analyst access request credit_card -p SELECT "
        "--reason 'risk model' --columns id,amount"
    ),
)
def access_request(
    ctx: typer.Context,
    product: Annotated[str, typer.Argument(help="The product.")],
    reason: Annotated[str, typer.Option(help="Why you need it (the reviewers read it).")],
    permissions: Annotated[
        str, typer.Option("--permissions", "-p", metavar="P1,P2", help="SELECT and/or DESCRIBE.")
    ] = "SELECT",
    columns: Annotated[
        str | None, typer.Option(metavar="A,B", help="Only these columns (default: all).")
    ] = None,
    for_principal: Annotated[
        str | None,
        typer.Option("--for", metavar="PRINCIPAL", help="Who gets access (of your account)."),
    ] = None,
) -> None:
    """Ask a product's owner account for access."""
    state = get_state(ctx)
    request = state.op("access.request")(
        product,
        parse_list(permissions) or [],
        reason,
        columns=parse_list(columns),
        for_principal=for_principal,
    )
    _show_request(state, request, "created")
    state.out.note("the product's owner account's admins decide it: `meshlake access list`")


@access_app.command("list")
def access_list(ctx: typer.Context) -> None:
    """List the pending requests you may decide (admins of the owner account)."""
    state = get_state(ctx)
    state.out.records(
        [_dict(r) for r in state.op("access.pending")()],
        REQUEST_COLUMNS,
        title="Pending access requests",
        empty="no pending access requests",
    )


@access_app.command("show")
def access_show(
    ctx: typer.Context, request_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Show one access request."""
    state = get_state(ctx)
    data = _dict(state.op("access.get")(request_id))
    state.out.emit(data, lambda: state.out.fields(data, title=f"Access request {request_id}"))


@access_app.command("approve")
def access_approve(
    ctx: typer.Context, request_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Approve a pending request: the requested permissions are granted."""
    state = get_state(ctx)
    _show_request(state, state.op("access.approve")(request_id), "approved")


@access_app.command("deny")
def access_deny(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why (the requester reads it).")] = "",
) -> None:
    """Deny a pending request."""
    state = get_state(ctx)
    _show_request(state, state.op("access.deny")(request_id, reason), "denied")


@access_app.command("revoke")
def access_revoke(
    ctx: typer.Context, request_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Revoke an approved request: its grants are taken back."""
    state = get_state(ctx)
    _show_request(state, state.op("access.revoke")(request_id), "revoked")


def register(app: typer.Typer) -> None:
    """Add ``product`` and ``access`` to the root app."""
    app.add_typer(product_app, name="product", rich_help_panel="Data products")
    app.add_typer(access_app, name="access", rich_help_panel="Data products")
