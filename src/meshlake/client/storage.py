"""Crawls and recipes over HTTP: started as server operations, waited for like the embedded
calls (``wait=False`` returns the :class:`~meshlake.service.operations.Operation`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from meshlake.client.http import HttpTransport
from meshlake.errors import InvalidInputError
from meshlake.service.operations import Operation
from meshlake.storage.crawler import SchemaChangePolicy
from meshlake.storage.crawler.model import CrawlRun, FileError, RunState, SchemaChange
from meshlake.storage.recipes import Recipe, RecipeRun
from meshlake.storage.recipes.model import recipe_to_yaml

__all__ = ["RemoteStorage", "crawl_run", "recipe_run"]


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def crawl_run(d: dict[str, Any]) -> CrawlRun:
    """A crawl run from its JSON form (the location is never sent: empty)."""
    return CrawlRun(
        id=d["id"],
        location=d.get("location", ""),
        state=RunState(d["state"]),
        started_at=datetime.fromisoformat(d["started_at"]),
        finished_at=None
        if d.get("finished_at") is None
        else datetime.fromisoformat(d["finished_at"]),
        database=d.get("database"),
        principal=d.get("principal"),
        tables_created=tuple(d.get("tables_created", ())),
        tables_updated=tuple(d.get("tables_updated", ())),
        tables_deprecated=tuple(d.get("tables_deprecated", ())),
        tables_deleted=tuple(d.get("tables_deleted", ())),
        rows_added=d.get("rows_added", 0),
        files_read=d.get("files_read", 0),
        files_skipped=d.get("files_skipped", 0),
        errors=tuple(
            FileError(e.get("path", ""), e.get("message", ""), e.get("table"))
            for e in d.get("errors", ())
        ),
        schema_changes=tuple(
            SchemaChange(c["table"], c["kind"], c["detail"], c["applied"], c.get("column"))
            for c in d.get("schema_changes", ())
        ),
        timings=dict(d.get("timings", {})),
    )


def recipe_run(d: dict[str, Any]) -> RecipeRun:
    """A recipe run from its JSON form."""
    return RecipeRun(
        id=d["id"],
        recipe_name=d.get("recipe_name"),
        recipe_sha256=d["recipe_sha256"],
        source_table=d["source"]["table"],
        source_snapshot=d["source"]["snapshot_id"],
        target_table=d["target"]["table"],
        target_snapshot=d["target"]["snapshot_id"],
        rows_in=d["rows_in"],
        rows_out=d["rows_out"],
        columns_out=tuple(d.get("columns_out", ())),
        started_at=datetime.fromisoformat(d["started_at"]),
        finished_at=datetime.fromisoformat(d["finished_at"]),
        timings=dict(d.get("timings", {})),
    )


def _recipe_document(recipe: Recipe | Mapping[str, Any] | str | os.PathLike[str]) -> Any:
    """What the server takes: a mapping or YAML text (a local file is read here)."""
    if isinstance(recipe, Recipe):
        return recipe_to_yaml(recipe)
    if isinstance(recipe, Mapping):
        return dict(recipe)
    text = str(recipe)
    if isinstance(recipe, os.PathLike) or text.strip().lower().endswith((".yaml", ".yml")):
        try:
            return Path(recipe).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read recipe file {recipe}: {exc}") from exc
    return text


class RemoteStorage:
    """Crawling locations into tables and running curation recipes (server operations)."""

    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    def crawl(
        self,
        location: str,
        *,
        database: str,
        table: str | None = None,
        policy: SchemaChangePolicy | None = None,
        account: str | None = None,
        wait: bool = True,
    ) -> CrawlRun | Operation:
        """Crawl a location the server admits (a registered one) into tables of
        ``database``; waits for the server's operation unless ``wait=False``."""
        body = {
            "location": location,
            "database": database,
            "table": table,
            "account": account,
            "policy": None
            if policy is None
            else {
                "update_behavior": str(policy.update_behavior),
                "delete_behavior": str(policy.delete_behavior),
            },
        }
        out = self.http.operation("/v1/crawls", body, wait=wait)
        return crawl_run(out) if wait else Operation.from_dict(out)

    def crawl_runs(self, location: str | None = None) -> list[dict[str, Any]]:
        """Recorded crawl runs the caller may see, newest first (without locations)."""
        return list(self.http.items("/v1/crawls", {"location": location}))

    def run_recipe(
        self,
        recipe: Recipe | Mapping[str, Any] | str | os.PathLike[str],
        *,
        source: str,
        target: str,
        wait: bool = True,
    ) -> RecipeRun | Operation:
        """Run a recipe (a local YAML file is read here and sent as text; codebooks must be
        inline) from ``source`` to ``target``; waits unless ``wait=False``."""
        body = {"recipe": _recipe_document(recipe), "source": source, "target": target}
        out = self.http.operation("/v1/recipes/runs", body, wait=wait)
        return recipe_run(out) if wait else Operation.from_dict(out)

    def recipe_runs(self, target: str | None = None) -> list[dict[str, Any]]:
        """Recorded recipe runs the caller may see, newest first."""
        return list(self.http.items("/v1/recipes/runs", {"target": target}))
