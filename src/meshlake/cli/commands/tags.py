"""``meshlake tag ...``: the tag ontology and tag assignments."""

from typing import Annotated

import typer

from meshlake.cli.output import bold, examples
from meshlake.cli.resources import TAGGABLE_KINDS, describe_resource, parse_list, resource_options
from meshlake.cli.state import get_state
from meshlake.resources import Resource, resource_to_dict

__all__ = ["parse_assignments", "tag_app"]

tag_app = typer.Typer(
    help="Tags: keys with allowed values, assigned to databases, tables and columns "
    "(inherited downwards). Grants by tag policy follow them.",
    no_args_is_help=True,
)

ValuesOpt = Annotated[
    list[str] | None, typer.Option(metavar="V1,V2", help="Values (comma separated, repeatable).")
]


def _values(options: list[str] | None) -> list[str]:
    return [v for text in options or [] for v in parse_list(text) or []]


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``key=value`` arguments as a dict.

    >>> parse_assignments(["domain=sales", "classification = public"])
    {'domain': 'sales', 'classification': 'public'}
    """
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise typer.BadParameter(f"write KEY=VALUE, not {pair!r}", param_hint="'TAGS'")
        tags[key.strip()] = value.strip()
    return tags


@tag_app.command(
    "create", epilog=examples("meshlake tag create classification public internal restricted")
)
def tag_create(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The tag key.")],
    values: Annotated[list[str], typer.Argument(metavar="VALUE", help="Its allowed values.")],
) -> None:
    """Create a tag key with its allowed values (admins of your account)."""
    state = get_state(ctx)
    view = state.op("tags.create")(key, _values(values))
    state.out.emit(view, f"created tag {bold(view.key)} with values {bold(', '.join(view.values))}")


@tag_app.command("update")
def tag_update(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The tag key.")],
    add: ValuesOpt = None,
    remove: ValuesOpt = None,
) -> None:
    """Add and remove allowed values of a tag key (needs ALTER on it)."""
    state = get_state(ctx)
    added, removed = _values(add), _values(remove)
    if not added and not removed:
        raise typer.BadParameter("give --add and/or --remove", param_hint="'--add'")
    view = state.op("tags.update")(key, added, removed)
    state.out.emit(view, f"tag {bold(view.key)} now has values {bold(', '.join(view.values))}")


@tag_app.command("delete")
def tag_delete(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The tag key.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a tag key: it leaves every resource and grants on it stop matching."""
    state = get_state(ctx)
    delete = state.op("tags.delete")  # fails (no mesh, no server) before asking
    if not yes:
        typer.confirm(f"Delete tag key {key} from every resource?", abort=True, err=True)
    delete(key)
    state.out.emit({"deleted": key}, f"deleted tag {bold(key)}")


@tag_app.command("list")
def tag_list(ctx: typer.Context) -> None:
    """List the tag keys you can see, with their values."""
    state = get_state(ctx)
    views = state.op("tags.list")()
    state.out.records(
        views, ["key", "account", "values"], title="Tags", empty="no tags you can see"
    )


@tag_app.command(
    "assign",
    epilog=examples(
        "meshlake tag assign --database sales domain=sales",
        "meshlake tag assign --table sales.orders classification=internal",
        "meshlake tag assign --column sales.orders.email classification=restricted",
    ),
)
@resource_options(TAGGABLE_KINDS, column_lists=False)
def tag_assign(
    ctx: typer.Context,
    tags: Annotated[list[str], typer.Argument(metavar="KEY=VALUE", help="Tags to assign.")],
    resource: Resource,
) -> None:
    """Assign tags to a database, table or column (needs ASSOCIATE on the values)."""
    state = get_state(ctx)
    after = state.op("tags.assign")(resource, parse_assignments(tags))
    label = describe_resource(resource)
    state.out.emit(
        {"resource": resource_to_dict(resource), "tags": after},
        f"{bold(label)} now carries {bold(_pairs(after))}",
    )


@tag_app.command("remove")
@resource_options(TAGGABLE_KINDS, column_lists=False)
def tag_remove(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(metavar="KEY", help="Tag keys to remove.")],
    resource: Resource,
) -> None:
    """Remove tags from a resource; a removed override restores the inherited value."""
    state = get_state(ctx)
    state.op("tags.remove")(resource, keys)
    state.out.emit(
        {"resource": resource_to_dict(resource), "removed": keys},
        f"removed {bold(', '.join(keys))} from {bold(describe_resource(resource))}",
    )


@tag_app.command("show")
@resource_options(TAGGABLE_KINDS, column_lists=False)
def tag_show(ctx: typer.Context, resource: Resource) -> None:
    """Show a resource's effective tags (inheritance applied)."""
    state = get_state(ctx)
    tags = state.op("tags.tags_of")(resource)
    if state.json:
        state.out.print_json({"resource": resource_to_dict(resource), "tags": tags})
        return
    state.out.table(
        ["key", "value"],
        sorted(tags.items()),
        title=f"Tags of {describe_resource(resource)}",
        empty=f"{describe_resource(resource)} carries no tags you can see",
    )


def _pairs(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
