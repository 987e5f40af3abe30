"""Run a recipe: read a source table, apply the steps, write the target table in one commit.

The run records its lineage: source table and snapshot -> target table and snapshot, and
the sha256 of the recipe's canonical JSON (codebook references resolved, so the hash
changes when the mappings do).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from meshlake.storage.recipes.engine import apply_recipe, resolve_recipe, validate_recipe
from meshlake.storage.recipes.model import Recipe, load_recipe, parse_recipe

__all__ = ["RecipeRun", "RecipeSource", "RecipeTarget", "recipe_sha256", "run_recipe"]


class RecipeSource(Protocol):
    """The table a recipe reads (the service implements it as the running principal)."""

    @property
    def table(self) -> str:
        """The source's name for lineage (``database.table``)."""
        ...

    def read(self) -> tuple[pa.Table, int | None]:
        """The table's rows and the snapshot id they were read from (None: no snapshot)."""
        ...


class RecipeTarget(Protocol):
    """The table a recipe writes: created, or overwritten, in one commit."""

    @property
    def table(self) -> str:
        """The target's name for lineage (``database.table``)."""
        ...

    def write(self, data: pa.Table) -> int:
        """Create or overwrite the table with ``data`` in one commit; return the snapshot id."""
        ...


@dataclass(frozen=True)
class RecipeRun:
    """The record of one recipe run, with its lineage."""

    id: str
    recipe_name: str | None
    recipe_sha256: str
    source_table: str
    source_snapshot: int | None
    target_table: str
    target_snapshot: int
    rows_in: int
    rows_out: int
    columns_out: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "recipe_name": self.recipe_name,
            "recipe_sha256": self.recipe_sha256,
            "source": {"table": self.source_table, "snapshot_id": self.source_snapshot},
            "target": {"table": self.target_table, "snapshot_id": self.target_snapshot},
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "columns_out": list(self.columns_out),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "timings": dict(self.timings),
        }


def recipe_sha256(recipe: Recipe) -> str:
    """The sha256 of the recipe's canonical JSON.

    >>> r = parse_recipe("steps: [{drop: [x]}]")
    >>> recipe_sha256(r) == recipe_sha256(parse_recipe({"steps": [{"action": "drop",
    ...     "columns": ["x"]}]}))
    True
    """
    return hashlib.sha256(recipe.canonical_json().encode("utf-8")).hexdigest()


def _coerce(
    recipe: Recipe | Mapping[str, Any] | str | os.PathLike[str], base_dir: Path | None
) -> tuple[Recipe, Path | None]:
    if isinstance(recipe, Recipe | Mapping):
        return parse_recipe(recipe), base_dir
    if isinstance(recipe, str) and not recipe.strip().lower().endswith((".yaml", ".yml")):
        return parse_recipe(recipe), base_dir  # YAML text
    path = Path(recipe)
    return load_recipe(path), base_dir if base_dir is not None else path.parent


def run_recipe(
    source: RecipeSource,
    target: RecipeTarget,
    recipe: Recipe | Mapping[str, Any] | str | os.PathLike[str],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
) -> RecipeRun:
    """Read ``source``, apply ``recipe``, write ``target`` in one commit.

    The recipe is validated against the source's schema before any row is transformed; a
    failing step writes nothing.

    Args:
        source: the table to read.
        target: the table to write.
        recipe: a :class:`Recipe`, a mapping, the path of a YAML file (a ``Path``, or a
            string ending in ``.yaml`` / ``.yml``) or YAML text (any other string).
        base_dir: where relative codebook paths resolve (default: the recipe file's folder).
        run_id: the run's id (default: a new random id).

    Returns:
        The run, with lineage and timings.

    Raises:
        InvalidInputError: the recipe is malformed or does not fit the source.
        NotFoundError: the recipe file (or a codebook) does not exist.
    """
    started = datetime.now(UTC)
    timings: dict[str, float] = {}
    parsed, folder = _coerce(recipe, Path(base_dir) if base_dir is not None else None)
    resolved = resolve_recipe(parsed, base_dir=folder)
    clock = time.perf_counter()
    data, source_snapshot = source.read()
    timings["read"] = time.perf_counter() - clock
    clock = time.perf_counter()
    validate_recipe(resolved, data.schema)
    timings["validate"] = time.perf_counter() - clock
    steps: dict[str, float] = {}
    result = apply_recipe(resolved, data, timings=steps)
    timings.update({f"step {k}": v for k, v in steps.items()})
    clock = time.perf_counter()
    target_snapshot = target.write(result)
    timings["write"] = time.perf_counter() - clock
    finished = datetime.now(UTC)
    timings["total"] = (finished - started).total_seconds()
    return RecipeRun(
        id=run_id or uuid.uuid4().hex,
        recipe_name=parsed.name,
        recipe_sha256=recipe_sha256(resolved),
        source_table=source.table,
        source_snapshot=source_snapshot,
        target_table=target.table,
        target_snapshot=target_snapshot,
        rows_in=data.num_rows,
        rows_out=result.num_rows,
        columns_out=tuple(result.column_names),
        started_at=started,
        finished_at=finished,
        timings={k: round(v, 6) for k, v in timings.items()},
    )
