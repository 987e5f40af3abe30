"""The console script answers plain help requests from the recorded help: the record is up
to date, every help it prints is byte for byte typer's, and anything else goes to typer."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshlake.cli import app, helprecord, quickhelp

#: Colours on (rich honours FORCE_COLOR), so styles are compared too, not only the text.
COLOURED = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": None}


def _record() -> quickhelp.Record:
    return quickhelp.Record(Path(quickhelp.RECORD).read_text(encoding="utf-8"))


def test_record_is_up_to_date() -> None:
    current = Path(quickhelp.RECORD).read_text(encoding="utf-8")
    assert helprecord.record() == current, (
        "src/meshlake/cli/quickhelp.json is out of date: run python docs/gen_cli_docs.py"
    )


def test_record_covers_every_command() -> None:
    paths = {path for path, _ in _record().walk()}
    assert {(), ("table",), ("table", "create"), ("ml", "pipeline", "run"), ("query",)} <= paths
    assert len(paths) > 100


def _quick(argv: list[str], env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch) -> str:
    """What :func:`quickhelp.answer` prints for ``argv`` in ``env`` (it must answer)."""
    with monkeypatch.context() as patch:
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = quickhelp.answer(argv)
    assert code is not None, f"meshlake {' '.join(argv)} was not answered from the record"
    return f"{code}\n{out.getvalue()}"


def _typer(argv: list[str], env: dict[str, str | None]) -> str:
    result = CliRunner().invoke(app, argv, env=env)
    return f"{result.exit_code}\n{result.stdout}"


@pytest.mark.parametrize("columns", ["100", "64"])
def test_every_help_is_typers(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For every command: ``--help``, and the command alone when it shows its help."""
    env = {**COLOURED, "COLUMNS": columns}
    for path, entry in _record().walk():
        requests = [[*path, "--help"]] + ([list(path)] if "bare" in entry else [])
        for argv in requests:
            assert _quick(argv, env, monkeypatch) == _typer(argv, env), argv


PROGRAM_TYPER = "from meshlake.cli.root import app; app(prog_name='meshlake')"
PROGRAM_SCRIPT = "from meshlake.cli import main; main()"


#: What decides how typer's help looks (terminal size, colours): the tests set them.
TERMINAL_VARIABLES = (
    "COLUMNS",
    "LINES",
    "TERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "TERMINAL_WIDTH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
)


def _run(program: str, argv: list[str], env: dict[str, str]) -> tuple[int, str, str, set[str]]:
    """Exit code, stdout, stderr and the modules imported by ``python -c PROGRAM ARGV``."""
    base = {k: v for k, v in os.environ.items() if k not in TERMINAL_VARIABLES}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", program, *argv],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )
    lines = out.stderr.splitlines()
    timing = [line for line in lines if line.startswith("import time:")]
    stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    imported = {line.rsplit("|", 1)[-1].strip() for line in timing}
    return out.returncode, out.stdout, stderr, imported


@pytest.mark.parametrize(
    "env",
    [
        {"COLUMNS": "90", "TERM": "dumb"},
        {"TERMINAL_WIDTH": "120", "PY_COLORS": "1", "TERM": "xterm-256color"},
        {"COLUMNS": "70", "FORCE_COLOR": "1", "_TYPER_FORCE_DISABLE_TERMINAL": "1"},
    ],
)
@pytest.mark.parametrize("argv", [[], ["--help"], ["table", "-h"], ["events", "webhook"]])
def test_the_console_script_prints_typers_help_without_typer(
    argv: list[str], env: dict[str, str]
) -> None:
    """The real entry point in a fresh interpreter, with the environment variables typer
    reads when it is imported: the same bytes and exit code as typer, typer not imported."""
    code, stdout, stderr, imported = _run(PROGRAM_SCRIPT, argv, env)
    assert (code, stdout, stderr) == _run(PROGRAM_TYPER, argv, env)[:3]
    assert code == (0 if argv and argv[-1].startswith("-") else 2)
    assert "meshlake.cli.quickhelp" in imported
    assert not {"typer", "click", "pydantic", "meshlake.cli.root"} & imported


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "--help"],  # an option before the last word
        ["--version"],
        ["table", "list"],  # a command that runs without arguments... or fails: typer says
        ["table", "list", "sales"],
        ["tabel", "--help"],  # unknown: typer suggests
        ["table", "--help", "list"],
        ["whoami"],
        ["", "--help"],
        ["query", "--help", "x"],
    ],
)
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert quickhelp.answer(argv) is None
    assert out.getvalue() == ""


def test_completion_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(quickhelp.COMPLETE_VAR, "complete_bash")
    assert quickhelp.answer([]) is None
    assert quickhelp.answer(["--help"]) is None


def test_the_console_script_completes_commands() -> None:
    """The shell runs ``meshlake`` without arguments to complete a word: typer answers."""
    env = {
        quickhelp.COMPLETE_VAR: "complete_bash",
        "COMP_WORDS": "meshlake ta",
        "COMP_CWORD": "1",
    }
    code, stdout, stderr, imported = _run(PROGRAM_SCRIPT, [], env)
    assert (code, stdout.split(), stderr) == (0, ["table", "tag"], "")
    assert "typer" in imported


def test_a_stale_or_missing_record_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = Path(quickhelp.RECORD).read_text(encoding="utf-8")
    sources = _record().header["sources"]
    stale = tmp_path / "stale.json"
    stale.write_text(text.replace(sources, "00000000", 1), encoding="utf-8")
    other_format = tmp_path / "format.json"
    other_format.write_text(text.replace('"format":1', '"format":0', 1), encoding="utf-8")
    lines = text.splitlines(keepends=True)
    table = next(i for i, line in enumerate(lines) if line.startswith('["table",'))
    broken = tmp_path / "broken.json"
    broken.write_text("".join(lines[:table]) + lines[table][:200] + "\n", encoding="utf-8")
    truncated = tmp_path / "truncated.json"
    truncated.write_text("".join(lines[:table]), encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    for record in (stale, other_format, tmp_path / "missing.json", broken, truncated, empty):
        monkeypatch.setattr(quickhelp, "RECORD", str(record))
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert quickhelp.answer(["table", "--help"]) is None, record.name
        assert out.getvalue() == ""


def test_the_fingerprint_follows_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any change to a ``.py`` file of the CLI changes it (a copy of the package is changed)."""
    import shutil

    cli = Path(quickhelp.__file__).parent
    copy = tmp_path / "cli"
    shutil.copytree(cli, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(quickhelp, "__file__", str(copy / "quickhelp.py"))
    assert quickhelp.fingerprint() == _record().header["sources"]
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    (copy / "notes.txt").write_text("ignored", encoding="utf-8")
    assert quickhelp.fingerprint() == _record().header["sources"]
    tables = copy / "commands" / "tables.py"
    tables.write_text(tables.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert quickhelp.fingerprint() != _record().header["sources"]


def test_a_closed_stdout_exits_1_quietly() -> None:
    """``meshlake --help | head -1``: exit code 1 and nothing on stderr, as click does."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    read, write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", PROGRAM_SCRIPT, "--help"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(write)
    os.close(read)  # before the interpreter has started: the first write fails
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (1, b"")
