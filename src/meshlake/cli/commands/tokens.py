"""``meshlake token ...`` (bearer tokens of the server) and ``meshlake serve``."""

from pathlib import Path
from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.state import get_state

__all__ = ["register", "token_app"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470

token_app = typer.Typer(
    help="Bearer tokens for `meshlake serve`: one principal each, shown once, stored as "
    "hashes. The mesh root manages every token; an account's admins their account's.",
    no_args_is_help=True,
)


@token_app.command(
    "create",
    epilog=examples(
        "meshlake token create --for consumer/analyst1 --ttl 30d",
        "meshlake --as consumer/ConsumerAdmin token create --for consumer/analyst1 --ttl 12h",
    ),
)
def token_create(
    ctx: typer.Context,
    for_principal: Annotated[
        str, typer.Option("--for", metavar="PRINCIPAL", help="Whom the token stands for.")
    ],
    ttl: Annotated[
        str, typer.Option(help="Time to live: 30d, 12h, 15m, 90s (at most 366d).")
    ] = "30d",
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create a token; it is printed this once and cannot be shown again."""
    state = get_state(ctx)
    new = state.op("tokens.create")(for_principal, ttl, description=description)
    if state.json:
        state.out.print_json(new)
        return
    state.out.success(
        f"token {bold(new.info.id)} for {bold(new.info.principal)}, expires "
        f"{new.info.expires_at.isoformat(timespec='seconds')}"
    )
    typer.echo(new.token)
    state.out.note("keep it now: only its hash is stored, it cannot be shown again")


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    principal: Annotated[
        str | None, typer.Option("--for", metavar="PRINCIPAL", help="Only this principal's.")
    ] = None,
) -> None:
    """List the tokens you may manage (never the token texts)."""
    state = get_state(ctx)
    tokens = state.op("tokens.list")(principal)
    state.out.records(
        tokens,
        ["id", "principal", "description", "expires_at", "revoked_at", "active"],
        title="Tokens",
        empty="no tokens: create one with `meshlake token create --for ACCOUNT/NAME`",
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (see list).")],
) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    state = get_state(ctx)
    info = state.op("tokens.revoke")(token_id)
    state.out.emit(info, f"revoked token {bold(info.id)} of {bold(info.principal)}")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = DEFAULT_PORT,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes (each with its own governance state; a change made through "
            "one is seen by the others from their next request).",
        ),
    ] = 1,
    query_threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Query engine threads per worker (default: $MESHLAKE_QUERY_THREADS, else one "
            "per core).",
        ),
    ] = None,
    allowed_root: Annotated[
        list[str] | None,
        typer.Option(
            help="A folder clients may register as a location or crawl (repeatable; default "
            "$MESHLAKE_ALLOWED_ROOTS, else none).",
        ),
    ] = None,
    webhook_allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Where webhooks may go besides public addresses: `public`, an address, a "
            "network, a host name, optionally with scheme and port (repeatable; default "
            "$MESHLAKE_WEBHOOK_ALLOWED_HOSTS, else public addresses only).",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Reverse proxies whose X-Forwarded-For/-Proto headers are trusted "
            "(comma-separated, * for any; default $FORWARDED_ALLOW_IPS, else 127.0.0.1).",
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate chain (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The private key (PEM) of --ssl-certfile.")
    ] = None,
) -> None:
    """Serve the mesh over HTTP (REST API, OpenAPI at /openapi.json). Every request needs
    a bearer token (`meshlake token create`); clients never see storage paths.

    Clients may name no folder as a location unless --allowed-root (or
    MESHLAKE_ALLOWED_ROOTS) allows it, and webhooks go to public addresses only unless
    --webhook-allowed-host (or MESHLAKE_WEBHOOK_ALLOWED_HOSTS) allows more."""
    state = get_state(ctx)
    state.require_home()
    from meshlake.server.app import serve as run_server  # imported on use: FastAPI, uvicorn

    settings = state.server_settings(
        allowed_roots=allowed_root, webhook_allowed_hosts=webhook_allowed_host
    )
    run_server(
        settings,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
        query_threads=query_threads,
        forwarded_allow_ips=forwarded_allow_ips,
        ssl_certfile=None if ssl_certfile is None else str(ssl_certfile),
        ssl_keyfile=None if ssl_keyfile is None else str(ssl_keyfile),
    )


def register(app: typer.Typer) -> None:
    """Add ``token`` and ``serve`` to the root app."""
    app.add_typer(token_app, name="token", rich_help_panel="Server")
    app.command("serve", rich_help_panel="Server")(serve)
