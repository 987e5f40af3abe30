"""Codebooks: per-attribute German / English names and code maps, and recipes built from them.

A codebook YAML file has ``attributes``, each with ``german`` and ``english`` names, a
``type`` (``categorical``, ``numeric``, ``label``), code maps per data set (``south``,
``statlog``: code -> meaning) and, for the label, ``curated`` (meaning -> curated value).
See ``/work/shared/data/codebook.yaml`` for the German credit data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from meshlake.errors import InvalidInputError, NotFoundError
from meshlake.storage.recipes.model import DecodeStep, Recipe, RenameStep, Step

__all__ = [
    "CodebookAttribute",
    "codebook_mapping",
    "find_attribute",
    "load_codebook",
    "recipe_from_codebook",
]


@dataclass(frozen=True)
class CodebookAttribute:
    """One attribute of a codebook."""

    german: str | None
    english: str
    type: str
    description: str = ""
    codes: dict[str, dict[Any, Any]] = field(default_factory=dict)  # scheme -> code -> meaning
    curated: dict[Any, Any] | None = None  # meaning -> curated value (labels)


def load_codebook(path: str | os.PathLike[str]) -> tuple[CodebookAttribute, ...]:
    """Read a codebook YAML file (parsed once per distinct content).

    Raises:
        NotFoundError: no such file.
        InvalidInputError: the file is not a codebook.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise NotFoundError(f"codebook {str(file)!r} not found")
    return _parse(file.read_text(encoding="utf-8"), str(file))


@lru_cache(maxsize=16)
def _parse(text: str, path: str) -> tuple[CodebookAttribute, ...]:
    try:
        data = yaml.safe_load(text)
        attributes = []
        for raw in data["attributes"]:
            codes = {
                key: dict(value)
                for key, value in raw.items()
                if isinstance(value, dict) and key != "curated"
            }
            attributes.append(
                CodebookAttribute(
                    german=raw.get("german"),
                    english=str(raw["english"]),
                    type=str(raw.get("type", "categorical")),
                    description=str(raw.get("description", "")),
                    codes=codes,
                    curated=dict(raw["curated"]) if raw.get("curated") else None,
                )
            )
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a codebook: {exc}") from exc
    return tuple(attributes)


def find_attribute(
    attributes: tuple[CodebookAttribute, ...], name: str, path: str = "codebook"
) -> CodebookAttribute:
    """The attribute whose ``german`` or ``english`` name is ``name``.

    Raises:
        InvalidInputError: no such attribute.
    """
    for attribute in attributes:
        if name in (attribute.german, attribute.english):
            return attribute
    raise InvalidInputError(f"{path} has no attribute named {name!r}")


def codebook_mapping(
    path: str | os.PathLike[str], attribute: str, scheme: str = "south", *, curated: bool = False
) -> dict[Any, Any]:
    """The decode mapping of one attribute: code -> meaning (-> curated value).

    Raises:
        NotFoundError: no such codebook file.
        InvalidInputError: no such attribute or scheme, or a meaning without a curated value.
    """
    attr = find_attribute(load_codebook(path), attribute, str(path))
    if scheme not in attr.codes:
        raise InvalidInputError(
            f"codebook attribute {attribute!r} has no {scheme!r} codes "
            f"(has: {', '.join(attr.codes) or 'none'})"
        )
    mapping = attr.codes[scheme]
    if not curated:
        return dict(mapping)
    if attr.curated is None:
        raise InvalidInputError(f"codebook attribute {attribute!r} has no curated values")
    missing = sorted(str(m) for m in mapping.values() if m not in attr.curated)
    if missing:
        raise InvalidInputError(f"curated values of {attribute!r} miss {', '.join(missing)}")
    return {code: attr.curated[meaning] for code, meaning in mapping.items()}


def recipe_from_codebook(
    codebook_path: str | os.PathLike[str], dataset: str = "south", *, name: str = "translate"
) -> Recipe:
    """The recipe that turns a raw crawled table into the codebook's curated form.

    It renames every attribute to its English name (``south``: from its German header name;
    ``statlog``, which has no header: from the crawler's positional ``col0 .. colN``, in
    codebook order), decodes each categorical attribute through the data set's code map,
    and maps the label through its ``curated`` map (``kredit`` -> ``credit_risk``: 1 = good,
    0 = bad). Mappings are written into the recipe, so it is self-contained and its hash
    covers them.

    Args:
        codebook_path: the codebook YAML file.
        dataset: ``south`` (South German Credit) or ``statlog`` (Statlog German credit).
        name: the recipe's name.

    Returns:
        The recipe.

    Raises:
        InvalidInputError: the codebook has no code maps for ``dataset``.
    """
    attributes = load_codebook(codebook_path)
    rename: dict[str, str] = {}
    decodes: list[Step] = []
    for index, attr in enumerate(attributes):
        source = attr.german if dataset == "south" else f"col{index}"
        if source is None:
            raise InvalidInputError(f"codebook attribute {attr.english!r} has no german name")
        rename[source] = attr.english
        if attr.type == "categorical":
            mapping = codebook_mapping(codebook_path, attr.english, dataset)
            decodes.append(DecodeStep(columns=[attr.english], mapping=mapping))
        elif attr.type == "label":
            mapping = codebook_mapping(codebook_path, attr.english, dataset, curated=True)
            decodes.append(DecodeStep(columns=[attr.english], mapping=mapping))
    description = (
        f"Curate the {dataset} German credit data: English column names, code meanings "
        "and the curated label, from the UCI codebook (CC BY 4.0)."
    )
    steps: list[Step] = [RenameStep(mapping=rename), *decodes]
    return Recipe(name=name, description=description, steps=steps)
