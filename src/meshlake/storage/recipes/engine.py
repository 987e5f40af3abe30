"""Apply a recipe's steps to an Arrow table.

``derive``, ``filter`` and ``deduplicate`` run as SQL in an in-process DuckDB connection on
the Arrow table (no extensions are ever installed or loaded); the other steps use
``pyarrow.compute``. Each failure becomes an :class:`InvalidInputError` naming the step
(1-based) and what was wrong. :func:`validate_recipe` runs the steps on an empty table of a
schema, so a recipe is checked against its source before any data is touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from meshlake.errors import InvalidInputError, MeshError
from meshlake.ids import check_name
from meshlake.storage.recipes.codebook import codebook_mapping
from meshlake.storage.recipes.expressions import check_columns, parse_expression
from meshlake.storage.recipes.model import (
    CastStep,
    DecodeStep,
    DeduplicateStep,
    DeriveStep,
    DropStep,
    FillMissingStep,
    FilterStep,
    Recipe,
    RenameStep,
    Step,
)
from meshlake.storage.types import arrow_type

__all__ = ["apply_recipe", "resolve_recipe", "validate_recipe"]

_DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
_POS = "__meshlake_row__"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Context:
    """What steps share during one application: a lazily opened DuckDB connection."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self._con: duckdb.DuckDBPyConnection | None = None

    def sql(self, table: pa.Table, query: str) -> pa.Table:
        if self._con is None:
            self._con = duckdb.connect(config=dict(_DUCKDB_CONFIG))
            self._con.execute("SET python_enable_replacements = false")
        self._con.register("src", table)
        try:
            return self._con.sql(query).to_arrow_table()
        finally:
            self._con.unregister("src")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _need(table: pa.Table, columns: list[str] | Mapping[str, Any]) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"unknown column(s) {', '.join(missing)} (columns: {', '.join(table.column_names)})"
        )


def _rename(step: RenameStep, table: pa.Table, ctx: _Context) -> pa.Table:
    _need(table, step.mapping)
    names = [step.mapping.get(n, n) for n in table.column_names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(f"renaming gives duplicate column(s) {', '.join(dupes)}")
    return table.rename_columns(names)


def _keys(column_type: pa.DataType, keys: list[Any]) -> pa.Array:
    """Mapping keys converted to the column's type (YAML keys may be ints or strings)."""
    try:
        if pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
            return pa.array([str(k) for k in keys], column_type)
        return pa.array([str(k) for k in keys], pa.string()).cast(column_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(f"mapping keys do not match the column type {column_type}") from exc


def _decode_mapping(step: DecodeStep, ctx: _Context) -> dict[Any, Any]:
    if step.mapping is not None:
        return step.mapping
    assert step.codebook is not None
    ref = step.codebook
    path = Path(ref.path)
    if not path.is_absolute() and ctx.base_dir is not None:
        path = ctx.base_dir / path
    return codebook_mapping(path, ref.attribute, ref.scheme, curated=ref.curated)


def _decode(step: DecodeStep, table: pa.Table, ctx: _Context) -> pa.Table:
    _need(table, step.columns)
    mapping = _decode_mapping(step, ctx)
    try:
        values = pa.array(list(mapping.values()))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError("mapping values must all have one type") from exc
    if pa.types.is_null(values.type):
        values = values.cast(pa.string())
    for name in step.columns:
        column = table[name]
        index = pc.index_in(column, value_set=_keys(column.type, list(mapping)))
        out = pc.take(values, index)
        unmapped = pc.and_(pc.is_valid(column), pc.is_null(index))
        if pc.any(unmapped).as_py():
            out = _unmapped(step, name, column, out, unmapped, values.type)
        table = table.set_column(table.column_names.index(name), name, out)
    return table


def _unmapped(
    step: DecodeStep, name: str, column: Any, out: Any, mask: Any, typ: pa.DataType
) -> Any:
    if "default" in step.model_fields_set:
        return pc.if_else(mask, pa.scalar(step.default).cast(typ), out)
    if step.unmapped == "null":
        return out
    if step.unmapped == "keep":
        try:
            return pc.if_else(mask, pc.cast(column, typ), out)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(
                f"column {name}: unmapped values cannot be kept as {typ}"
            ) from exc
    examples = pc.unique(pc.filter(column, mask)).to_pylist()[:5]
    raise InvalidInputError(
        f"column {name}: values {examples} are not in the mapping "
        "(set unmapped: null or keep, or a default)"
    )


def _cast(step: CastStep, table: pa.Table, ctx: _Context) -> pa.Table:
    _need(table, step.columns)
    for name, type_name in step.columns.items():
        i = table.column_names.index(name)
        try:
            table = table.set_column(i, name, pc.cast(table[name], arrow_type(type_name)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(f"column {name}: cannot cast to {type_name}: {exc}") from exc
    return table


def _derive(step: DeriveStep, table: pa.Table, ctx: _Context) -> pa.Table:
    expr = parse_expression(step.expression)
    check_columns(expr, table.column_names, what="expression")
    column = check_name("column", step.column)
    if column in table.column_names:
        query = f"SELECT * REPLACE (({expr.sql}) AS {_quote(column)}) FROM src"
    else:
        query = f"SELECT *, ({expr.sql}) AS {_quote(column)} FROM src"
    result = _restore_types(ctx.sql(table, query), table.schema, skip={column})
    derived = result.schema.field(column).type
    if pa.types.is_timestamp(derived) and derived.tz is not None and derived.tz != "UTC":
        # DuckDB labels instants with its session time zone; meshlake keeps them in UTC
        i = result.column_names.index(column)
        result = result.set_column(
            i, column, pc.cast(result[column], pa.timestamp(derived.unit, "UTC"))
        )
    return result


def _filter(step: FilterStep, table: pa.Table, ctx: _Context) -> pa.Table:
    expr = parse_expression(step.condition, what="condition")
    check_columns(expr, table.column_names, what="condition")
    return _restore_types(ctx.sql(table, f"SELECT * FROM src WHERE {expr.sql}"), table.schema)


def _drop(step: DropStep, table: pa.Table, ctx: _Context) -> pa.Table:
    _need(table, step.columns)
    return table.drop_columns(step.columns)


def _deduplicate(step: DeduplicateStep, table: pa.Table, ctx: _Context) -> pa.Table:
    keys = step.columns or table.column_names
    _need(table, keys)
    numbered = table.append_column(_POS, pa.array(range(table.num_rows), pa.int64()))
    partition = ", ".join(_quote(k) for k in keys)
    query = (
        f"SELECT * EXCLUDE ({_quote(_POS)}) FROM src QUALIFY row_number() OVER "
        f"(PARTITION BY {partition} ORDER BY {_quote(_POS)}) = 1 ORDER BY {_quote(_POS)}"
    )
    return _restore_types(ctx.sql(numbered, query), table.schema)


def _fill_value(column: Any, strategy: str) -> Any:
    present = pc.drop_null(column)
    if pa.types.is_floating(column.type):
        present = present.filter(pc.invert(pc.is_nan(present)))
    if len(present) == 0:
        return None
    if strategy == "mode":
        counts = pc.value_counts(present)
        best = pc.index(counts.field("counts"), pc.max(counts.field("counts"))).as_py()
        return counts.field("values")[best]
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise InvalidInputError(f"strategy {strategy} needs a numeric column, not {column.type}")
    value = pc.mean(present) if strategy == "mean" else pc.quantile(present, q=0.5)[0]
    if pa.types.is_integer(column.type):
        value = pc.round(value)  # to the nearest integer, ties to even
    return value


def _fill(step: FillMissingStep, table: pa.Table, ctx: _Context) -> pa.Table:
    _need(table, step.columns)
    for name, spec in step.columns.items():
        column = table[name]
        raw = spec.value if spec.strategy is None else _fill_value(column, spec.strategy)
        if raw is None:
            continue
        try:
            scalar = (raw if isinstance(raw, pa.Scalar) else pa.scalar(raw)).cast(column.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(f"column {name}: {raw!r} is not a {column.type}") from exc
        missing = pc.is_null(column, nan_is_null=True)
        filled = pc.if_else(missing, scalar, column)
        table = table.set_column(table.column_names.index(name), name, filled)
    return table


def _restore_types(result: pa.Table, schema: pa.Schema, skip: set[str] | None = None) -> pa.Table:
    """Give DuckDB's output back the input's exact types (DuckDB may change e.g. time zones)."""
    skip = skip or set()
    for i, name in enumerate(result.column_names):
        if name in skip or name not in schema.names:
            continue
        want = schema.field(name).type
        if not result.schema.field(i).type.equals(want):
            result = result.set_column(i, name, pc.cast(result[name], want))
    return result


_APPLY: dict[type, Callable[[Any, pa.Table, _Context], pa.Table]] = {
    RenameStep: _rename, DecodeStep: _decode, CastStep: _cast, DeriveStep: _derive,
    FilterStep: _filter, DropStep: _drop, DeduplicateStep: _deduplicate, FillMissingStep: _fill,
}  # fmt: skip


def apply_recipe(
    recipe: Recipe,
    table: pa.Table,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    timings: dict[str, float] | None = None,
) -> pa.Table:
    """Apply every step of ``recipe`` to ``table`` in order.

    Args:
        recipe: the recipe.
        table: the input rows.
        base_dir: where relative codebook paths are resolved (the recipe file's folder).
        timings: if given, filled with seconds per step (``"1:rename"``, ...).

    Returns:
        The output rows.

    Raises:
        InvalidInputError: a step does not fit the data (``step`` and ``action`` in details).
    """
    ctx = _Context(Path(base_dir) if base_dir is not None else None)
    try:
        for number, step in enumerate(recipe.steps, start=1):
            start = time.perf_counter()
            table = _apply_step(number, step, table, ctx)
            if timings is not None:
                timings[f"{number}:{step.action}"] = time.perf_counter() - start
    finally:
        ctx.close()
    return table


def _apply_step(number: int, step: Step, table: pa.Table, ctx: _Context) -> pa.Table:
    prefix = f"recipe step {number} ({step.action})"
    try:
        return _APPLY[type(step)](step, table, ctx)
    except MeshError as exc:
        raise InvalidInputError(
            f"{prefix}: {exc.message}", step=number, action=step.action
        ) from exc
    except (duckdb.Error, pa.ArrowException) as exc:
        message = str(exc).splitlines()[0]
        raise InvalidInputError(f"{prefix}: {message}", step=number, action=step.action) from exc


def validate_recipe(
    recipe: Recipe, schema: pa.Schema, *, base_dir: str | os.PathLike[str] | None = None
) -> pa.Schema:
    """Check a recipe against a source schema by running it on an empty table.

    Returns:
        The schema the recipe produces.

    Raises:
        InvalidInputError: the first step that does not fit.
    """
    return apply_recipe(recipe, schema.empty_table(), base_dir=base_dir).schema


def resolve_recipe(recipe: Recipe, *, base_dir: str | os.PathLike[str] | None = None) -> Recipe:
    """The recipe with every codebook reference replaced by its mapping (what a run hashes)."""
    ctx = _Context(Path(base_dir) if base_dir is not None else None)
    steps: list[Step] = []
    for number, step in enumerate(recipe.steps, start=1):
        if isinstance(step, DecodeStep) and step.codebook is not None:
            try:
                mapping = _decode_mapping(step, ctx)
            except MeshError as exc:
                raise InvalidInputError(
                    f"recipe step {number} (decode): {exc.message}", step=number, action="decode"
                ) from exc
            fields = step.model_dump(exclude_unset=True, exclude={"codebook"})
            step = DecodeStep(**{**fields, "mapping": mapping})
        steps.append(step)
    return recipe.model_copy(update={"steps": steps})
