"""``Cli``: runs the ``meshlake`` app in-process against one mesh home."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from meshlake.cli import app

#: Wide enough that rich never folds the values the tests look for.
WIDTH = "200"


@dataclass
class Cli:
    """Runs ``meshlake`` in-process against one home."""

    runner: CliRunner
    home: Path

    def __call__(
        self,
        *args: str,
        as_: str | None = None,
        json_mode: bool = False,
        input: str | None = None,
        code: int | None = 0,
    ) -> Result:
        """Invoke ``meshlake [--home H] [--as P] [--json] args``; check the exit code."""
        argv = ["--home", str(self.home)]
        if as_ is not None:
            argv += ["--as", as_]
        if json_mode:
            argv.append("--json")
        result = self.runner.invoke(
            app,
            [*argv, *args],
            input=input,
            env={
                "COLUMNS": WIDTH,
                "MESHLAKE_PRINCIPAL": None,
                "MESHLAKE_HOME": None,
                "NO_COLOR": "1",
            },
        )
        if code is not None:
            assert result.exit_code == code, (
                f"meshlake {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, as_: str | None = None, code: int | None = 0) -> Any:
        """Invoke with ``--json`` and parse stdout."""
        return json.loads(self(*args, as_=as_, json_mode=True, code=code).stdout)
