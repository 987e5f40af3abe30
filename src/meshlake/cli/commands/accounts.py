"""``meshlake account ...`` and ``meshlake principal ...`` (created by the mesh root)."""

from enum import StrEnum
from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.state import get_state

__all__ = ["account_app", "principal_app"]

account_app = typer.Typer(
    help="Accounts (tenants of the mesh) and their admins. Changes need the mesh root.",
    no_args_is_help=True,
)
principal_app = typer.Typer(
    help="Principals: users and roles written account/name. Creation needs the mesh root.",
    no_args_is_help=True,
)


class PrincipalKind(StrEnum):
    """What a principal stands for."""

    user = "user"
    role = "role"


@account_app.command("create")
def account_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name (letters, digits, _ and -).")],
    description: Annotated[str, typer.Option(help="What the account is for.")] = "",
) -> None:
    """Create an account."""
    state = get_state(ctx)
    info = state.op("accounts.create")(name, description)
    state.out.emit(info, f"created account {bold(info.name)}")
    state.out.note(
        f"next: meshlake principal create {info.name}/NAME, then meshlake account "
        f"set-admins {info.name} {info.name}/NAME"
    )


@account_app.command("list")
def account_list(ctx: typer.Context) -> None:
    """List every account with its admins (any principal may)."""
    state = get_state(ctx)
    accounts = state.op("accounts.list")()
    state.out.records(
        accounts,
        ["name", "admins"],
        title="Accounts",
        empty="no accounts yet: create one with `meshlake account create NAME`",
    )


@account_app.command(
    "set-admins", epilog=examples("meshlake account set-admins central central/DataMeshOwner")
)
def account_set_admins(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account.")],
    admins: Annotated[
        list[str],
        typer.Argument(
            metavar="ADMIN",
            help="Its admins (account/name principals of that account); replaces the old list.",
        ),
    ],
) -> None:
    """Set an account's admins (they administer its catalog, tags and grants)."""
    state = get_state(ctx)
    info = state.op("accounts.set_admins")(name, admins)
    state.out.emit(info, f"admins of {bold(name)}: {bold(', '.join(info.admins))}")


@principal_app.command("create")
def principal_create(
    ctx: typer.Context,
    principal: Annotated[str, typer.Argument(metavar="ACCOUNT/NAME", help="The new principal.")],
    kind: Annotated[PrincipalKind, typer.Option(help="A person or a role.")] = PrincipalKind.role,
) -> None:
    """Create a user or role in an existing account."""
    state = get_state(ctx)
    info = state.op("principals.create")(principal, kind.value)
    state.out.emit(info, f"created {info.kind} {bold(info.id)}")


@principal_app.command("list")
def principal_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account's principals.")] = None,
) -> None:
    """List principals."""
    state = get_state(ctx)
    principals = state.op("principals.list")(account)
    state.out.records(
        principals,
        ["id", "kind"],
        title="Principals",
        empty="no principals yet: create one with `meshlake principal create ACCOUNT/NAME`",
    )
