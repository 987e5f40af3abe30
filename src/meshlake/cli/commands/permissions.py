"""``grant``, ``revoke``, ``check``, ``explain`` and ``permissions list``."""

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.tree import Tree

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import ALL_KINDS, describe_resource, parse_list, resource_options
from meshlake.cli.state import get_state
from meshlake.resources import Resource, resource_to_dict

__all__ = ["DENIED_EXIT_CODE", "permissions_app", "register"]

#: ``meshlake check`` exits with this code when the permission is not granted.
DENIED_EXIT_CODE = 3
PANEL = "Governance"

permissions_app = typer.Typer(help="List explicit grants.", no_args_is_help=True)

GranteeArg = Annotated[
    str,
    typer.Argument(
        metavar="GRANTEE",
        help="A principal (account/name) or a whole account (its admins re-grant).",
    ),
]
PermissionsOpt = Annotated[
    list[str],
    typer.Option(
        "--permissions",
        "-p",
        metavar="P1,P2",
        help="Permissions: ALL, SELECT, INSERT, DELETE, DESCRIBE, ALTER, DROP, CREATE_TABLE, "
        "CREATE_DATABASE, DATA_LOCATION_ACCESS; on tags ASSOCIATE, "
        "GRANT_WITH_TAG_EXPRESSION.",
    ),
]
GrantableOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--grantable",
        "-g",
        metavar="P1,P2",
        help="Of those, the ones the grantee may grant on (the grant option).",
    ),
]
ActionArg = Annotated[
    str, typer.Argument(metavar="ACTION", help="A permission, e.g. SELECT or CREATE_TABLE.")
]
PrincipalOpt = Annotated[
    str | None,
    typer.Option(
        "--principal",
        metavar="ACCOUNT/NAME",
        help="Ask about another principal of an account you administer (default: --as).",
    ),
]


def _names(options: list[str] | None) -> list[str]:
    return [p.upper() for text in options or [] for p in parse_list(text) or []]


@resource_options(ALL_KINDS)
def grant(
    ctx: typer.Context,
    grantee: GranteeArg,
    permissions: PermissionsOpt,
    resource: Resource,
    grantable: GrantableOpt = None,
) -> None:
    """Grant permissions on a resource, optionally with the grant option.

    A grant to another account must carry the grant option for every permission.
    """
    state = get_state(ctx)
    view = state.op("grant")(grantee, resource, _names(permissions), _names(grantable))
    extra = f" (grantable: {', '.join(view.grantable)})" if view.grantable else ""
    state.out.emit(
        view,
        f"granted {bold(', '.join(view.permissions))} on "
        f"{bold(view.resource)} to {bold(view.grantee)}{escape(extra)}",
    )


@resource_options(ALL_KINDS)
def revoke(
    ctx: typer.Context,
    grantee: GranteeArg,
    resource: Resource,
    permissions: Annotated[
        list[str] | None,
        typer.Option(
            "--permissions",
            "-p",
            metavar="P1,P2",
            help="Permissions to take away (their grant option goes too).",
        ),
    ] = None,
    grantable: Annotated[
        list[str] | None,
        typer.Option(
            "--grantable",
            "-g",
            metavar="P1,P2",
            help="Grant options to take away, keeping the permissions.",
        ),
    ] = None,
) -> None:
    """Revoke permissions, or only their grant option, from a grantee."""
    state = get_state(ctx)
    perms, gopt = _names(permissions), _names(grantable)
    if not perms and not gopt:
        raise typer.BadParameter(
            "give --permissions and/or --grantable", param_hint="'--permissions'"
        )
    state.op("revoke")(grantee, resource, perms, gopt)
    what = ", ".join(perms) + (f" (grant option of {', '.join(gopt)})" if gopt else "")
    state.out.emit(
        {
            "grantee": grantee,
            "resource": resource_to_dict(resource),
            "permissions": perms,
            "grantable": gopt,
        },
        f"revoked {bold(what.strip())} on {bold(describe_resource(resource))} from {bold(grantee)}",
    )


@resource_options(ALL_KINDS)
def check(
    ctx: typer.Context,
    action: ActionArg,
    resource: Resource,
    principal: PrincipalOpt = None,
) -> None:
    """Decide whether a principal holds a permission on a resource.

    Exit status: 0 when allowed, 3 when denied (1 on errors), so scripts can test it.
    """
    state = get_state(ctx)
    session = state.session()
    who = principal or session.principal
    decision = session.decide(action.upper(), resource, principal=principal)
    data = {
        "principal": who,
        "action": action.upper(),
        "resource": resource_to_dict(resource),
        "allowed": decision.allowed,
        "reason": decision.reason,
    }
    verdict = "[green]allowed[/green]" if decision.allowed else "[red]denied[/red]"
    state.out.emit(
        data,
        lambda: state.out.console.print(
            f"{verdict}: {bold(who)} {bold(action.upper())} on "
            f"{bold(describe_resource(resource))} ({escape(decision.reason)})",
            soft_wrap=True,
        ),
    )
    if not decision.allowed:
        raise typer.Exit(DENIED_EXIT_CODE)


@resource_options(ALL_KINDS)
def explain(
    ctx: typer.Context,
    action: ActionArg,
    resource: Resource,
    principal: PrincipalOpt = None,
) -> None:
    """Explain a decision: which grants, tags and rules allowed or denied it."""
    state = get_state(ctx)
    data = state.op("explain")(action.upper(), resource, principal=principal)
    state.out.emit(data, lambda: state.out.console.print(_tree(data, resource)))


def _tree(data: dict[str, Any], resource: Resource) -> Tree:
    verdict = "[green]allowed[/green]" if data["allowed"] else "[red]denied[/red]"
    tree = Tree(
        f"{verdict}: {bold(data['principal'])} {bold(data['action'])} on "
        f"{bold(describe_resource(resource))}"
    )
    for step in data.get("path", []):
        tree.add(escape(str(step)))
    return tree


@permissions_app.command(
    "list",
    epilog=examples(
        "meshlake permissions list --principal consumer/analyst",
        "meshlake permissions list --table sales.orders",
    ),
)
@resource_options(ALL_KINDS, required=False)
def permissions_list(
    ctx: typer.Context,
    resource: Resource | None,
    principal: Annotated[
        str | None,
        typer.Option(
            "--principal", metavar="GRANTEE", help="Only grants to this principal or account."
        ),
    ] = None,
) -> None:
    """List the explicit grants you may see, optionally of one grantee or resource."""
    state = get_state(ctx)
    views = state.op("list_permissions")(principal, resource)
    state.out.records(
        views,
        ["grantee", "resource", "permissions", "grantable", "grantor"],
        title="Grants",
        empty="no grants you can see",
    )


EXAMPLES = {
    "grant": examples(
        "meshlake grant consumer --tag-policy 'TABLE:domain=sales' -p SELECT,DESCRIBE "
        "-g SELECT,DESCRIBE",
        "meshlake grant consumer/analyst --table sales.orders --columns id,region -p SELECT",
        "meshlake grant consumer/analyst --table sales.* --account central -p SELECT",
        "meshlake grant producer --tag classification=public,internal -p DESCRIBE,ASSOCIATE "
        "-g DESCRIBE,ASSOCIATE",
        "meshlake grant producer/steward --catalog -p CREATE_DATABASE",
    ),
    "revoke": examples(
        "meshlake revoke consumer/analyst --table sales.orders -p SELECT",
        "meshlake revoke consumer --database sales --grantable DESCRIBE",
    ),
    "check": examples(
        "meshlake --as consumer/analyst check SELECT --table sales.orders --account central",
        "meshlake --as consumer/admin check SELECT --table sales.orders --account central "
        "--principal consumer/analyst",
    ),
    "explain": examples(
        "meshlake --as consumer/analyst explain SELECT --table sales.orders --account central"
    ),
}


def register(app: typer.Typer) -> None:
    """Add ``grant``, ``revoke``, ``check`` and ``explain`` to the root app."""
    for command in (grant, revoke, check, explain):
        name = command.__name__
        app.command(name, rich_help_panel=PANEL, epilog=EXAMPLES[name])(command)
