"""Crawls and curation recipes: started as asynchronous operations, and their recorded runs.

The server reads no file a client names: a recipe travels as a JSON object or YAML text and
may not name codebook files; a crawl source is a location rule 29 admits (on a server:
registered locations only, unless ``MESHLAKE_ALLOWED_ROOTS`` says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, Field

from meshlake.errors import InvalidInputError
from meshlake.mesh import Session
from meshlake.server.auth import CurrentSession, Runner, Scrub, SessionRoute
from meshlake.server.routes import DEFAULT, Limit, Offset
from meshlake.server.routes.operations import ACCEPTED, accepted
from meshlake.server.wire import page
from meshlake.storage.crawler import SchemaChangePolicy
from meshlake.storage.recipes import parse_recipe

__all__ = ["inline_document", "router"]

router = APIRouter(prefix="/v1", route_class=SessionRoute)


def inline_document(
    value: dict[str, Any] | str, what: str, refused: Iterable[str]
) -> dict[str, Any]:
    """A document sent as a JSON object or YAML text, as a dict, refusing keys that would
    make the server read a file or run a client's code.

    Raises:
        InvalidInputError: not a mapping, not YAML, a one-line file name, or a refused key.
    """
    data: Any = value
    if isinstance(value, str):
        if "\n" not in value.strip() and value.strip().lower().endswith((".yaml", ".yml")):
            raise InvalidInputError(f"send the {what}'s YAML text or JSON, not a file name")
        try:
            data = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"the {what} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"the {what} must be a mapping (JSON object or YAML mapping)")
    banned = set(refused)

    def check(node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key in banned:
                    raise InvalidInputError(
                        f"the {what} names {key!r}: the server reads no file a client names "
                        "and runs no client code"
                    )
                check(item)
        elif isinstance(node, list):
            for item in node:
                check(item)

    check(data)
    return data


# ---------------------------------------------------------------- crawls
class PolicyBody(BaseModel):
    update_behavior: Literal["UPDATE_IN_DATABASE", "LOG"] = "UPDATE_IN_DATABASE"
    delete_behavior: Literal["DEPRECATE_IN_DATABASE", "DELETE_FROM_DATABASE", "LOG"] = (
        "DEPRECATE_IN_DATABASE"
    )


class CrawlBody(BaseModel):
    location: str = Field(description="A registered location (or a folder the server allows).")
    database: str
    table: str | None = None
    account: str | None = None
    policy: PolicyBody | None = None


@router.post("/crawls", tags=["storage"], status_code=202, responses=ACCEPTED)
def start_crawl(body: CrawlBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """Crawl a location into tables of a database (an operation; its result is the run)."""
    policy = None if body.policy is None else SchemaChangePolicy(**body.policy.model_dump())

    def work(session: Session) -> Any:
        return session.storage.crawl(
            body.location,
            database=body.database,
            table=body.table,
            policy=policy,
            account=body.account,
        )

    return accepted(runner.submit(s, "crawl", body.model_dump(), work), scrub)


@router.get("/crawls", tags=["storage"])
def crawl_runs(
    s: CurrentSession,
    scrub: Scrub,
    location: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Recorded crawl runs the caller may see (its own; admins: their accounts'), newest
    first, optionally of one location; no storage locations in the answer."""
    return page(s.storage.crawl_runs(location), limit, offset, scrub)


# ---------------------------------------------------------------- recipes
class RecipeBody(BaseModel):
    recipe: dict[str, Any] | str = Field(description="The recipe as JSON or YAML text.")
    source: str = Field(description="database.table")
    target: str = Field(description="database.table")


@router.post("/recipes/runs", tags=["storage"], status_code=202, responses=ACCEPTED)
def start_recipe(body: RecipeBody, s: CurrentSession, scrub: Scrub, runner: Runner) -> Any:
    """Run a recipe from ``source`` to ``target`` (an operation; its result is the run).
    The recipe is checked first (``400`` when malformed); codebooks cannot be named (the
    server reads no client-named files): inline mappings."""
    recipe = inline_document(body.recipe, "recipe", {"codebook"})
    parse_recipe(recipe)  # a malformed recipe is a 400 now, not a failed operation

    def work(session: Session) -> Any:
        return session.storage.run_recipe(recipe, source=body.source, target=body.target)

    request = {"recipe": recipe, "source": body.source, "target": body.target}
    return accepted(runner.submit(s, "recipe", request, work), scrub)


@router.get("/recipes/runs", tags=["storage"])
def recipe_runs(
    s: CurrentSession,
    scrub: Scrub,
    target: str | None = None,
    limit: Limit = DEFAULT,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Recorded recipe runs the caller may see (its own; admins: their accounts'), newest
    first."""
    return page(s.storage.recipe_runs(target), limit, offset, scrub)
