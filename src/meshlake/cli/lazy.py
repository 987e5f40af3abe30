"""A root command group that builds its commands on first use.

Typer turns every command function into a click command by reading its signature and
evaluating its type hints; for the hundred-odd commands of ``meshlake`` that is most of the
time ``meshlake --help`` takes. :class:`LazyGroup` keeps the commands registered on a
separate :class:`typer.Typer` (the *registry*) and builds one only when it is invoked (or
its own ``--help`` is asked for). The root help lists the commands from light summaries:
their name, help text and panel, nothing built.
"""

import difflib
import inspect
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info, get_group_from_info, solve_typer_info_help
from typer.models import CommandInfo, DefaultPlaceholder, TyperInfo

__all__ = ["LazyGroup"]

#: click's UsageError as typer ships it (typer vendors click in recent versions).
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def _value(value: Any) -> Any:
    """A typer setting without its "left at the default" wrapper."""
    return value.value if isinstance(value, DefaultPlaceholder) else value


class LazyGroup(TyperGroup):
    """A typer group whose commands come from :attr:`registry`, built when first used.

    Subclasses set ``registry`` to the :class:`typer.Typer` the command modules register on.
    """

    registry: typer.Typer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._summaries = False

    # ------------------------------------------------------------ registry
    def _infos(self) -> dict[str, CommandInfo | TyperInfo]:
        infos: dict[str, CommandInfo | TyperInfo] = {}
        for command in self.registry.registered_commands:
            if command.name:
                infos[command.name] = command
        for group in self.registry.registered_groups:
            name = _value(group.name)
            if name:
                infos[name] = group
        return infos

    def list_commands(self, ctx: Any) -> list[str]:
        """The eagerly built commands, then the registered ones."""
        names = list(self.commands)
        names += [n for n in self._infos() if n not in self.commands]
        return names

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``: built on first use, or a summary while the root help
        lists the commands."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        info = self._infos().get(cmd_name)
        if info is None:
            return None
        if self._summaries:
            return _summary(cmd_name, info)
        if isinstance(info, TyperInfo):
            command: Any = get_group_from_info(
                info,
                pretty_exceptions_short=self.registry.pretty_exceptions_short,
                suggest_commands=self.registry.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        else:
            command = get_command_from_info(
                info,
                pretty_exceptions_short=self.registry.pretty_exceptions_short,
                rich_markup_mode=self.rich_markup_mode,
            )
        self.commands[cmd_name] = command
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As typer's, with "did you mean" suggestions among every registered command (typer
        suggests only among the commands built so far)."""
        try:
            return super().resolve_command(ctx, args)
        except _USAGE_ERROR as exc:
            error: Any = exc
            if args and self.suggest_commands and "Did you mean" not in error.message:
                matches = difflib.get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    names = ", ".join(repr(m) for m in matches)
                    error.message = f"{error.message.rstrip('.')}. Did you mean {names}?"
            raise

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The root help: commands listed from their summaries (nothing is built)."""
        self._summaries = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries = False


def _summary(name: str, info: CommandInfo | TyperInfo) -> Any:
    """A stand-in with the name, help and panel the root help shows."""
    if isinstance(info, TyperInfo):
        group = TyperGroup(
            name=name,
            help=solve_typer_info_help(info),
            rich_help_panel=_value(info.rich_help_panel),
            hidden=bool(_value(info.hidden)),
        )
        return group
    return TyperCommand(
        name=name,
        help=info.help or inspect.getdoc(info.callback) or "",
        short_help=info.short_help,
        rich_help_panel=info.rich_help_panel,
        hidden=bool(info.hidden),
        deprecated=bool(info.deprecated),
    )
