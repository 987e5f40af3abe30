"""The recipe YAML (a DataBrew-like list of steps) as pydantic models.

A recipe is a mapping with ``steps`` (and optional ``name`` / ``description``). Each step is
written either in full form, ``{action: <name>, <field>: ...}``, or in short form,
``{<name>: <fields or the main field's value>}``::

    name: translate
    steps:
      - rename: {laufkont: status, laufzeit: duration}
      - action: decode
        columns: [status]
        mapping: {1: "no checking account", 2: "< 0 DM"}
      - decode: {column: purpose, codebook: {path: codebook.yaml, attribute: verw}}
      - cast: {duration: int64}
      - derive: {column: monthly, expression: "amount / duration"}
      - filter: "age >= 18"
      - drop: [telephone]
      - deduplicate            # all columns; or deduplicate: [id]
      - fill_missing: {age: {strategy: median}, purpose: others}

Validation errors become :class:`InvalidInputError` naming the step (1-based) and field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.ids import check_name
from meshlake.storage.recipes.expressions import parse_expression
from meshlake.storage.types import arrow_type

__all__ = [
    "CastStep",
    "CodebookRef",
    "DecodeStep",
    "DeduplicateStep",
    "DeriveStep",
    "DropStep",
    "FillMissingStep",
    "FillSpec",
    "FilterStep",
    "Recipe",
    "RenameStep",
    "Step",
    "load_recipe",
    "parse_recipe",
    "recipe_to_yaml",
]

Scalar = str | int | float | bool | None
Key = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name(kind: str, value: str) -> str:
    try:
        return check_name(kind, value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from exc


class RenameStep(_Model):
    """Rename columns: ``mapping`` old name -> new name."""

    action: Literal["rename"] = "rename"
    mapping: dict[str, str] = Field(min_length=1)

    @field_validator("mapping")
    @classmethod
    def _valid_names(cls, value: dict[str, str]) -> dict[str, str]:
        for new in value.values():
            _name("column", new)
        return value


class CodebookRef(_Model):
    """Where a decode mapping comes from: an attribute of a codebook YAML file.

    ``attribute`` matches an attribute's ``german`` or ``english`` name; ``scheme`` is the
    code map to use (``south``, ``statlog``); ``curated`` maps the meaning on through the
    attribute's ``curated`` map (code -> meaning -> curated value). A relative ``path`` is
    resolved against the recipe file's folder.
    """

    path: str
    attribute: str
    scheme: str = "south"
    curated: bool = False


class DecodeStep(_Model):
    """Replace values through a mapping (or a codebook attribute's code map).

    Values not in the mapping: ``unmapped`` says what happens (``error``, ``null`` or
    ``keep``), unless a ``default`` is given (they become the default).
    """

    action: Literal["decode"] = "decode"
    columns: list[str] = Field(min_length=1)
    mapping: dict[Key, Scalar] | None = None
    codebook: CodebookRef | None = None
    default: Scalar = None
    unmapped: Literal["error", "null", "keep"] = "error"

    @model_validator(mode="before")
    @classmethod
    def _one_column(cls, data: Any) -> Any:
        if isinstance(data, dict) and "column" in data:
            data = dict(data)
            column = data.pop("column")
            data.setdefault("columns", [column])
        if isinstance(data, dict) and "unmapped" in data and data["unmapped"] is None:
            data = {**data, "unmapped": "null"}  # YAML reads `unmapped: null` as None
        return data

    @model_validator(mode="after")
    def _one_source(self) -> DecodeStep:
        if (self.mapping is None) == (self.codebook is None):
            raise ValueError("give exactly one of mapping and codebook")
        if self.mapping is not None and not self.mapping:
            raise ValueError("mapping is empty")
        if "default" in self.model_fields_set and "unmapped" in self.model_fields_set:
            raise ValueError("give default or unmapped, not both")
        return self


class CastStep(_Model):
    """Cast columns to types: ``columns`` column -> type name (bigint, double, date, ...)."""

    action: Literal["cast"] = "cast"
    columns: dict[str, str] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        for type_name in value.values():
            try:
                arrow_type(type_name)
            except InvalidInputError as exc:
                raise ValueError(exc.message) from exc
        return value


class DeriveStep(_Model):
    """Add (or replace) ``column`` with the value of a safe SQL ``expression``."""

    action: Literal["derive"] = "derive"
    column: str
    expression: str

    @field_validator("column")
    @classmethod
    def _valid_column(cls, value: str) -> str:
        return _name("column", value)

    @field_validator("expression")
    @classmethod
    def _safe(cls, value: str) -> str:
        try:
            parse_expression(value)
        except InvalidInputError as exc:
            raise ValueError(exc.message) from exc
        return value


class FilterStep(_Model):
    """Keep the rows for which the safe SQL ``condition`` is true."""

    action: Literal["filter"] = "filter"
    condition: str

    @field_validator("condition")
    @classmethod
    def _safe(cls, value: str) -> str:
        try:
            parse_expression(value, what="condition")
        except InvalidInputError as exc:
            raise ValueError(exc.message) from exc
        return value


class DropStep(_Model):
    """Drop columns."""

    action: Literal["drop"] = "drop"
    columns: list[str] = Field(min_length=1)


class DeduplicateStep(_Model):
    """Keep the first row of each group of rows equal on ``columns`` (all when omitted)."""

    action: Literal["deduplicate"] = "deduplicate"
    columns: list[str] | None = None


class FillSpec(_Model):
    """How to fill a column's missing values: a ``value``, or a ``strategy``."""

    value: Scalar = None
    strategy: Literal["mean", "median", "mode"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_value(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"value": data}

    @model_validator(mode="after")
    def _one(self) -> FillSpec:
        if (self.value is None) == (self.strategy is None):
            raise ValueError("give exactly one of value and strategy")
        return self


class FillMissingStep(_Model):
    """Fill missing values (NULL, and NaN in float columns) per column."""

    action: Literal["fill_missing"] = "fill_missing"
    columns: dict[str, FillSpec] = Field(min_length=1)


Step = Annotated[
    RenameStep | DecodeStep | CastStep | DeriveStep | FilterStep | DropStep | DeduplicateStep
    | FillMissingStep,
    Field(discriminator="action"),
]  # fmt: skip

_MAIN_FIELD = {
    "rename": "mapping", "cast": "columns", "filter": "condition", "drop": "columns",
    "deduplicate": "columns", "fill_missing": "columns",
}  # fmt: skip
_FIELDS: dict[str, set[str]] = {
    cls.model_fields["action"].default: set(cls.model_fields)
    for cls in (RenameStep, DecodeStep, CastStep, DeriveStep, FilterStep, DropStep,
                DeduplicateStep, FillMissingStep)
}  # fmt: skip


def _expand(step: Any) -> Any:
    """Short form -> full form (see the module docstring)."""
    if isinstance(step, str) and step in _FIELDS:
        return {"action": step}
    if not isinstance(step, dict) or "action" in step or len(step) != 1:
        return step
    ((action, value),) = step.items()
    if action not in _FIELDS:
        return step
    main = _MAIN_FIELD.get(action)
    if value is None:
        return {"action": action}
    if isinstance(value, dict) and (main is None or main in value):
        return {"action": action, **value}
    return {"action": action, main: value} if main else {"action": action}


class Recipe(_Model):
    """A recipe: an optional name and description, and its steps in order."""

    name: str | None = None
    description: str | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps", mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        return [_expand(s) for s in value] if isinstance(value, list) else value

    def canonical_json(self) -> str:
        """The recipe as canonical JSON (sorted keys, no spaces): what its hash covers."""
        data = json.loads(self.model_dump_json())
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _error_message(exc: ValidationError, data: Any) -> InvalidInputError:
    first = exc.errors()[0]
    loc = list(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        message = f"unknown or missing action: use one of {', '.join(sorted(_FIELDS))}"
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        index = loc[1]
        steps = data.get("steps") if isinstance(data, Mapping) else None
        raw = _expand(steps[index]) if isinstance(steps, list) and index < len(steps) else {}
        action = raw.get("action", "?") if isinstance(raw, dict) else "?"
        rest = [str(p) for p in loc[2:] if p != action]
        field = ".".join(rest) or "step"
        return InvalidInputError(
            f"recipe step {index + 1} ({action}): {field}: {message}",
            step=index + 1, action=action, field=field,
        )  # fmt: skip
    field = ".".join(str(p) for p in loc) or "recipe"
    return InvalidInputError(f"recipe: {field}: {message}", field=field)


def parse_recipe(source: str | Mapping[str, Any] | Recipe) -> Recipe:
    """Validate a recipe given as YAML text, a mapping, or a :class:`Recipe`.

    Raises:
        InvalidInputError: the YAML or a step is malformed (the message names the step).
    """
    if isinstance(source, Recipe):
        return source
    data: Any = source
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"recipe is not valid YAML: {exc}") from exc
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, Mapping):
        raise InvalidInputError("a recipe is a mapping with a list of steps")
    try:
        return Recipe.model_validate(dict(data))
    except ValidationError as exc:
        raise _error_message(exc, data) from exc


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe YAML file.

    Raises:
        NotFoundError: no such file.
        InvalidInputError: the recipe is malformed.
    """
    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"recipe file {str(file)!r} not found")
    return parse_recipe(file.read_text(encoding="utf-8"))


def recipe_to_yaml(recipe: Recipe) -> str:
    """The recipe as YAML in full form; :func:`parse_recipe` reads it back to an equal recipe.

    >>> print(recipe_to_yaml(parse_recipe({"steps": [{"drop": ["x"]}]})), end="")
    steps:
    - action: drop
      columns:
      - x
    """
    steps = [{"action": s.action, **s.model_dump(exclude_unset=True)} for s in recipe.steps]
    head = {k: v for k, v in (("name", recipe.name), ("description", recipe.description)) if v}
    return yaml.safe_dump({**head, "steps": steps}, sort_keys=False, allow_unicode=True, width=100)
