"""Recipes (DataBrew): declarative YAML steps that curate a table into another.

A recipe is validated before it runs (:func:`parse_recipe`, then :func:`validate_recipe`
against the source schema); running it reads a source table, applies the steps
(:func:`apply_recipe`) and writes the target in one commit, recording lineage::

    recipe = recipe_from_codebook("/work/shared/data/codebook.yaml", dataset="south")
    run = run_recipe(source, target, recipe)
    run.source_snapshot, run.target_snapshot, run.recipe_sha256

Modules: ``model`` (the YAML), ``expressions`` (safe SQL expressions), ``engine`` (steps on
Arrow / DuckDB), ``codebook`` (codebooks and the recipe built from one), ``run`` (runs).
"""

from __future__ import annotations

from meshlake.storage.recipes.codebook import (
    codebook_mapping,
    load_codebook,
    recipe_from_codebook,
)
from meshlake.storage.recipes.engine import apply_recipe, resolve_recipe, validate_recipe
from meshlake.storage.recipes.model import (
    Recipe,
    Step,
    load_recipe,
    parse_recipe,
    recipe_to_yaml,
)
from meshlake.storage.recipes.run import (
    RecipeRun,
    RecipeSource,
    RecipeTarget,
    recipe_sha256,
    run_recipe,
)

__all__ = [
    "Recipe",
    "RecipeRun",
    "RecipeSource",
    "RecipeTarget",
    "Step",
    "apply_recipe",
    "codebook_mapping",
    "load_codebook",
    "load_recipe",
    "parse_recipe",
    "recipe_from_codebook",
    "recipe_sha256",
    "recipe_to_yaml",
    "resolve_recipe",
    "run_recipe",
    "validate_recipe",
]
