"""Resource options shared by ``grant``, ``revoke``, ``check``, ``explain`` and ``tag``.

One resource per command, written the way people type it::

    --table sales.orders --columns id,amount     a column-limited table
    --table sales.*                              every table of a database
    --database sales   --catalog   --location s3://bucket/landing
    --filter sales.orders.us_only                a data filter
    --tag domain=sales,hr                        tag values of one key (--tag domain: all)
    --tag-policy 'TABLE:domain=sales|hr;classification=public'
    --account central                            the resource belongs to another account

:func:`resource_options` adds these options to a command and hands it the parsed
:class:`~meshlake.resources.Resource`; a malformed value is a usage error (exit 2).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer

from meshlake.errors import InvalidInputError
from meshlake.resources import (
    Catalog,
    Column,
    Database,
    DataFilter,
    Location,
    Resource,
    Table,
    TagKey,
    TagPolicy,
    resource_to_dict,
)

__all__ = [
    "ALL_KINDS",
    "TAGGABLE_KINDS",
    "build_resource",
    "describe_resource",
    "parse_dotted",
    "parse_list",
    "parse_tag_policy",
    "resource_options",
]

F = TypeVar("F", bound=Callable[..., Any])

ALL_KINDS = ("catalog", "database", "table", "filter", "location", "tag", "tag_policy")
TAGGABLE_KINDS = ("database", "table", "column")
PANEL = "Resource (give one)"

_Str = str | None
_OPTIONS: dict[str, tuple[Any, Any]] = {
    "catalog": (
        bool,
        typer.Option(
            "--catalog",
            help="The account's catalog (where CREATE_DATABASE applies).",
            rich_help_panel=PANEL,
        ),
    ),
    "database": (
        _Str,
        typer.Option(
            "--database", metavar="DB", help="A database or resource link.", rich_help_panel=PANEL
        ),
    ),
    "table": (
        _Str,
        typer.Option(
            "--table",
            metavar="DB.TABLE",
            help="A table; DB.* means every table of DB.",
            rich_help_panel=PANEL,
        ),
    ),
    "columns": (
        _Str,
        typer.Option(
            "--columns",
            metavar="A,B",
            help="With --table: only these columns.",
            rich_help_panel=PANEL,
        ),
    ),
    "excluded_columns": (
        _Str,
        typer.Option(
            "--excluded-columns",
            metavar="A,B",
            help="With --table: every column except these.",
            rich_help_panel=PANEL,
        ),
    ),
    "column": (
        _Str,
        typer.Option(
            "--column",
            metavar="DB.TABLE.COLUMN",
            help="One column of a table.",
            rich_help_panel=PANEL,
        ),
    ),
    "filter": (
        _Str,
        typer.Option(
            "--filter", metavar="DB.TABLE.FILTER", help="A data filter.", rich_help_panel=PANEL
        ),
    ),
    "location": (
        _Str,
        typer.Option(
            "--location", metavar="URI", help="A registered data location.", rich_help_panel=PANEL
        ),
    ),
    "tag": (
        _Str,
        typer.Option(
            "--tag",
            metavar="KEY[=V1,V2]",
            help="Values of one tag key (no values: all of them).",
            rich_help_panel=PANEL,
        ),
    ),
    "tag_policy": (
        _Str,
        typer.Option(
            "--tag-policy",
            metavar="TYPE:KEY=V1|V2;KEY2=V3",
            help="Every DATABASE or TABLE whose tags match: keys are ANDed, the values of one "
            "key ORed, * matches any value.",
            rich_help_panel=PANEL,
        ),
    ),
    "account": (
        _Str,
        typer.Option(
            "--account",
            metavar="ACCOUNT",
            help="The account owning the resource (default: your own).",
            rich_help_panel=PANEL,
        ),
    ),
}
_KIND_OPTIONS = {"table": ("table", "columns", "excluded_columns")}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def parse_list(text: str | None) -> list[str] | None:
    """Split ``a,b`` (spaces allowed) into names; ``None`` stays ``None``.

    >>> parse_list("id, amount,"), parse_list(None)
    (['id', 'amount'], None)
    """
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_dotted(text: str, parts: int, option: str, shape: str) -> list[str]:
    """Split ``db.table`` (``parts=2``) or ``db.table.name`` (``parts=3``).

    Raises:
        typer.BadParameter: the text does not have exactly ``parts`` non-empty parts.

    >>> parse_dotted("sales.orders", 2, "--table", "DB.TABLE")
    ['sales', 'orders']
    """
    pieces = text.split(".")
    if len(pieces) != parts or not all(p.strip() for p in pieces):
        raise _bad(option, f"write {shape} (names joined by dots), not {text!r}")
    return [p.strip() for p in pieces]


def parse_tag_key(text: str, option: str = "--tag") -> TagKey:
    """``key`` (every value), ``key=*`` or ``key=v1,v2`` as a :class:`TagKey`.

    >>> parse_tag_key("domain=sales,hr")
    TagKey(key='domain', values=('sales', 'hr'), account=None)
    """
    key, sep, rest = text.partition("=")
    if not key.strip():
        raise _bad(option, f"write KEY or KEY=V1,V2, not {text!r}")
    values = parse_list(rest) if sep else None
    if sep and not values:
        raise _bad(option, f"tag key {key.strip()!r} needs values after '=' (or * for all)")
    return TagKey(key.strip(), values)


def parse_tag_policy(text: str, option: str = "--tag-policy") -> TagPolicy:
    """``TYPE:key=v1|v2;key2=v3`` as a :class:`TagPolicy` (values may also be comma separated).

    Raises:
        typer.BadParameter: the text does not follow the syntax.

    >>> parse_tag_policy("table:domain=sales|hr;pii=false").as_dict()
    {'domain': ['hr', 'sales'], 'pii': ['false']}
    """
    rtype, sep, body = text.partition(":")
    rtype = rtype.strip().upper()
    if not sep or rtype not in ("DATABASE", "TABLE"):
        raise _bad(
            option,
            f"start with DATABASE: or TABLE:, as in "
            f"'TABLE:domain=sales|hr;classification=public' (got {text!r})",
        )
    expression: dict[str, list[str]] = {}
    for clause in body.split(";"):
        if not clause.strip():
            continue
        key, eq, values = clause.partition("=")
        names = [v.strip() for v in values.replace(",", "|").split("|") if v.strip()]
        if not eq or not key.strip() or not names:
            raise _bad(option, f"each condition is KEY=V1|V2 (or KEY=*), not {clause.strip()!r}")
        if key.strip().lower() in expression:
            raise _bad(option, f"tag key {key.strip()!r} appears twice: list its values once")
        expression[key.strip().lower()] = names
    if not expression:
        raise _bad(option, "name at least one condition after the type, as in 'TABLE:domain=sales'")
    try:
        return TagPolicy(rtype, expression)
    except InvalidInputError as exc:
        raise _bad(option, exc.message) from exc


def build_resource(
    values: dict[str, Any], *, kinds: Sequence[str] = ALL_KINDS, required: bool = True
) -> Resource | None:
    """The one resource the options in ``values`` describe.

    Args:
        values: option values keyed by parameter name (``table``, ``columns``, ...).
        kinds: which resource options the command offers.
        required: raise when none is given (else return ``None``).

    Raises:
        typer.BadParameter: none or several resources, or a malformed one.
    """
    given = [k for k in kinds if values.get(k)]
    if (values.get("columns") or values.get("excluded_columns")) and "table" not in given:
        raise _bad("--columns", "--columns and --excluded-columns go with --table")
    if len(given) > 1:
        both = " and ".join(_flag(g) for g in given)
        raise _bad(_flag(given[1]), f"give one resource, not {both}")
    if not given:
        if required:
            options = ", ".join(_flag(k) for k in kinds)
            raise _bad("resource", f"name the resource with one of {options}")
        if values.get("account"):
            raise _bad("--account", "--account qualifies a resource option: add one")
        return None
    account = values.get("account") or None
    kind = given[0]
    text = values[kind]
    if kind == "catalog":
        return Catalog(account)
    if kind == "database":
        return Database(text.strip(), account)
    if kind == "table":
        db, name = parse_dotted(text, 2, "--table", "DB.TABLE or DB.*")
        try:
            return Table(
                db,
                name,
                parse_list(values.get("columns")),
                parse_list(values.get("excluded_columns")),
                account,
            )
        except InvalidInputError as exc:
            raise _bad("--columns", exc.message) from exc
    if kind == "column":
        db, table, col = parse_dotted(text, 3, "--column", "DB.TABLE.COLUMN")
        return Column(db, table, col, account)
    if kind == "filter":
        db, table, name = parse_dotted(text, 3, "--filter", "DB.TABLE.FILTER")
        return DataFilter(db, table, name, account)
    if kind == "location":
        return Location(text.strip(), account)
    if kind == "tag":
        tag = parse_tag_key(text)
        return TagKey(tag.key, tag.values, account)
    policy = parse_tag_policy(text)
    return TagPolicy(policy.resource_type, policy.as_dict(), account)


def describe_resource(resource: Resource) -> str:
    """A short human label of a resource.

    >>> describe_resource(Table("sales", "orders", columns=["id"], account="central"))
    'table central:sales.orders (columns id)'
    """
    data = resource_to_dict(resource)
    kind = data.pop("kind")
    account = data.pop("account", None)
    prefix = f"{account}:" if account else ""
    if isinstance(resource, Catalog):
        return f"catalog of {account}" if account else "your account's catalog"
    if isinstance(resource, Database):
        return f"database {prefix}{resource.name}"
    if isinstance(resource, Table):
        label = f"table {prefix}{resource.database}.{resource.name}"
        if resource.columns is not None:
            label += f" (columns {', '.join(resource.columns)})"
        if resource.excluded_columns is not None:
            label += f" (excluding {', '.join(resource.excluded_columns)})"
        return label
    if isinstance(resource, Column):
        return f"column {prefix}{resource.database}.{resource.table}.{resource.name}"
    if isinstance(resource, DataFilter):
        return f"data filter {prefix}{resource.database}.{resource.table}.{resource.name}"
    if isinstance(resource, Location):
        return f"location {resource.uri}"
    if isinstance(resource, TagKey):
        values = ",".join(resource.values) if resource.values else "*"
        return f"tag {prefix}{resource.key}={values}"
    if isinstance(resource, TagPolicy):
        expr = ";".join(f"{k}={'|'.join(v)}" for k, v in resource.expression)
        return f"tag policy {prefix}{resource.resource_type}:{expr}"
    return f"{kind} {data}"


def resource_options(
    kinds: Sequence[str] = ALL_KINDS, *, required: bool = True, column_lists: bool = True
) -> Callable[[F], F]:
    """Give a command the resource options of ``kinds``.

    The decorated function declares a ``resource`` parameter instead of the options; it
    receives the parsed :class:`Resource` (or ``None`` when ``required`` is false and no
    option was given). ``--account`` always comes with the others.

    Args:
        kinds: resource kinds the command accepts (see :data:`ALL_KINDS`).
        required: whether the command needs a resource.
        column_lists: offer ``--columns`` / ``--excluded-columns`` with ``--table``.
    """
    names: list[str] = []
    for kind in kinds:
        names.extend(_KIND_OPTIONS.get(kind, (kind,)) if column_lists else (kind,))
    names.append("account")
    extra = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[_OPTIONS[name][0], _OPTIONS[name][1]],
            default=False if name == "catalog" else None,
        )
        for name in names
    ]

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        params = [p for p in signature.parameters.values() if p.name != "resource"]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, None) for name in names}
            kwargs["resource"] = build_resource(values, kinds=kinds, required=required)
            return func(*args, **kwargs)

        new = signature.replace(parameters=[*params, *extra])
        wrapper.__signature__ = new  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in new.parameters.values()}
        return wrapper  # type: ignore[return-value]

    return decorate
