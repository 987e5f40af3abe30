"""Script mode: a user's own Python script in a subprocess, with SageMaker's contracts.

**Processing** (``sagemaker.processing``): each input is materialized as
``opt/ml/processing/input/<name>.parquet`` under the job folder (the reference's dataset
definition used ``/opt/ml/processing/input/dataset.parquet``); the script writes each output
as Parquet or CSV (with a header) files into ``opt/ml/processing/<output>/``; arguments are
passed through. A script written for SageMaker runs with ``/opt/ml`` changed to ``opt/ml``
(relative to its working directory, the job folder) or to ``$SM_PROCESSING_DIR/..``.

**Training** (SageMaker script mode): channels are folders named by ``SM_CHANNEL_TRAIN``,
``SM_CHANNEL_VALIDATION`` and ``SM_CHANNEL_TEST``, each holding ``<channel>.parquet`` (with
column names) and ``<channel>.csv`` (label first, no header: the SageMaker XGBoost layout); the
model goes to ``SM_MODEL_DIR``; hyperparameters arrive as ``--name value`` arguments and as
JSON in ``SM_HPS``; ``metrics.json`` written to ``SM_OUTPUT_DATA_DIR`` is logged.

The subprocess gets the governed data only: its environment is scrubbed of every
``MESHLAKE_*`` variable (no catalog URL, home or token), its working directory is the job
folder, and it receives nothing but the files above.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from meshlake.errors import InvalidInputError

__all__ = ["ScriptError", "ScriptRun", "run_processing_script", "run_training_script"]

_NAME = re.compile(r"[^a-z0-9_]+")
LOG_LIMIT = 20_000


class ScriptError(InvalidInputError):
    """A user script exited with an error (its log tail is in the message)."""


@dataclass(frozen=True)
class ScriptRun:
    """What a script run left: its exit code, log and output folders."""

    returncode: int
    log: str
    folder: Path


def scrubbed_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment without ``MESHLAKE_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MESHLAKE_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _script_path(script: str | os.PathLike[str]) -> Path:
    path = Path(script).expanduser().resolve()
    if not path.is_file():
        raise InvalidInputError(f"script {script} not found")
    return path


def _run(
    script: Path, args: Sequence[str], cwd: Path, env: dict[str, str], timeout: float | None
) -> ScriptRun:
    try:
        proc = subprocess.run(
            [sys.executable, str(script), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ScriptError(
            f"script {script.name} ran longer than {timeout}s and was stopped"
        ) from exc
    log = (proc.stdout or "") + (proc.stderr or "")
    (cwd / "script.log").write_text(log)
    if proc.returncode != 0:
        tail = log[-2000:]
        raise ScriptError(f"script {script.name} failed with exit code {proc.returncode}:\n{tail}")
    return ScriptRun(proc.returncode, log[-LOG_LIMIT:], cwd)


def _clean_name(name: str) -> str:
    text = _NAME.sub("_", str(name).lower()).strip("_")
    if not text or not (text[0].isalpha() or text[0] == "_"):
        text = f"c_{text}"
    return text[:120]


def _read_output(folder: Path) -> pa.Table | None:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".parquet", ".csv"))
    if not files:
        return None
    frames = [
        pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p) for p in files
    ]
    df = pd.concat(frames, ignore_index=True)
    names = [_clean_name(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"output {folder.name} has duplicate column names: {names}")
    df.columns = pd.Index(names)
    return pa.Table.from_pandas(df, preserve_index=False)


def run_processing_script(
    script: str | os.PathLike[str],
    inputs: dict[str, pa.Table],
    job_dir: Path,
    *,
    outputs: Sequence[str] = ("train", "validation", "test"),
    arguments: Sequence[str] = (),
    timeout: float | None = 3600,
) -> tuple[dict[str, pa.Table], Path, ScriptRun]:
    """Run a SageMaker-style processing script on governed inputs.

    Returns:
        The output tables by name (outputs the script left empty are absent), the folder of
        the ``model`` output (artifacts such as a fitted transformer), and the run.

    Raises:
        ScriptError: the script failed. InvalidInputError: no script, or unreadable outputs.
    """
    path = _script_path(script)
    base = job_dir / "opt" / "ml" / "processing"
    (base / "input").mkdir(parents=True, exist_ok=True)
    for name, table in inputs.items():
        pq.write_table(table, base / "input" / f"{name}.parquet")
    for name in (*outputs, "val", "model"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env = scrubbed_env({"SM_PROCESSING_DIR": str(base)})
    run = _run(path, [str(a) for a in arguments], job_dir, env, timeout)
    found: dict[str, pa.Table] = {}
    for name in outputs:
        table = _read_output(base / name)
        if table is None and name == "validation":  # the reference's scripts say "val"
            table = _read_output(base / "val")
        if table is not None:
            found[name] = table
    return found, base / "model", run


def run_training_script(
    script: str | os.PathLike[str],
    channels: dict[str, pd.DataFrame],
    target: str,
    job_dir: Path,
    *,
    hyperparameters: dict[str, Any] | None = None,
    timeout: float | None = 3600,
) -> tuple[Path, dict[str, Any], ScriptRun]:
    """Run a SageMaker script-mode training script.

    Returns:
        The model folder, the metrics it wrote (``metrics.json``, may be empty), the run.

    Raises:
        ScriptError: the script failed or wrote no model.
    """
    path = _script_path(script)
    base = job_dir / "opt" / "ml"
    env_extra: dict[str, str] = {}
    for name, frame in channels.items():
        folder = base / "input" / "data" / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        ordered = frame[[target, *[c for c in frame.columns if c != target]]]
        ordered.to_csv(folder / f"{name}.csv", header=False, index=False)
        env_extra[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    model_dir = base / "model"
    output_dir = base / "output" / "data"
    model_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    hps = {k: v for k, v in (hyperparameters or {}).items()}
    env_extra.update(
        {
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(output_dir),
            "SM_HPS": json.dumps(hps),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_TARGET": target,
        }
    )
    env = scrubbed_env(env_extra)
    args: list[str] = []
    for k, v in hps.items():
        args += [f"--{k}", json.dumps(v) if isinstance(v, (dict, list)) else str(v)]
    run = _run(path, args, job_dir, env, timeout)
    if not any(model_dir.iterdir()):
        raise ScriptError(f"script {path.name} wrote nothing to SM_MODEL_DIR ({model_dir})")
    metrics_file = output_dir / "metrics.json"
    metrics: dict[str, Any] = {}
    if metrics_file.exists():
        try:
            metrics = json.loads(metrics_file.read_text())
        except json.JSONDecodeError:
            metrics = {}
    return model_dir, metrics, run
