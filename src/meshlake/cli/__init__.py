"""The ``meshlake`` command line: a typer app over the same Python API as notebooks use.

Global options come before the command::

    meshlake --home ./mesh --as central/DataMeshOwner --json table list sales
    meshlake --url http://127.0.0.1:8470 table list sales     # a server ($MESHLAKE_TOKEN)
    meshlake --profile prod table list sales                  # saved by `meshlake login`

The app lives in :mod:`meshlake.cli.root` (imported here on first use of :data:`app`). The
console script answers a plain ``meshlake [COMMAND...] --help`` from the help recorded from
that app (:mod:`meshlake.cli.quickhelp`), without importing typer or a command module.

Exit codes: 0 success, 1 an error (one red line ``error (kind): message``, or a JSON error
document on stderr under ``--json``; never a traceback, unless ``MESHLAKE_DEBUG`` is set),
2 a usage error, 3 ``check`` denied, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshlake.cli.root import COMMAND_ORDER, ENV_PRINCIPAL, MeshGroup, app, command_registry

__all__ = ["COMMAND_ORDER", "ENV_PRINCIPAL", "MeshGroup", "app", "command_registry", "main"]

#: Names of :mod:`meshlake.cli.root`, imported on first access so that ``main`` can answer
#: ``--help`` before typer is imported.
_ROOT_NAMES = frozenset({"COMMAND_ORDER", "ENV_PRINCIPAL", "MeshGroup", "app", "command_registry"})


def __getattr__(name: str) -> Any:
    """:data:`_ROOT_NAMES` from :mod:`meshlake.cli.root`, on first access (PEP 562)."""
    if name not in _ROOT_NAMES:
        raise AttributeError(f"module 'meshlake.cli' has no attribute {name!r}")
    value = getattr(importlib.import_module("meshlake.cli.root"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ROOT_NAMES})


def main() -> None:
    """Entry point of the ``meshlake`` console script: a plain help request is answered from
    the recorded help, anything else runs the typer app."""
    from meshlake.cli import quickhelp

    code = quickhelp.answer(sys.argv[1:])
    if code is not None:
        if code:
            raise SystemExit(code)
        return
    from meshlake.cli.root import app

    app(prog_name="meshlake")
