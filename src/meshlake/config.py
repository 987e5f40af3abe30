"""Settings from the environment: where the mesh lives and which store it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_CATALOG_URL", "ENV_HOME", "ENV_WAREHOUSE", "Settings", "load_settings"]

ENV_HOME = "MESHLAKE_HOME"
ENV_CATALOG_URL = "MESHLAKE_CATALOG_URL"
ENV_WAREHOUSE = "MESHLAKE_WAREHOUSE"
DEFAULT_HOME = ".meshlake"


@dataclass(frozen=True)
class Settings:
    """Where a mesh keeps its state.

    Attributes:
        home: the mesh home folder (SQLite store, warehouse, results, MLflow).
        catalog_url: SQLAlchemy URL of the catalog store.
        warehouse: URI of the folder where table data lives.
    """

    home: Path
    catalog_url: str
    warehouse: str

    @property
    def results_dir(self) -> Path:
        """Default folder of stored query results."""
        return self.home / "results"


def load_settings(
    home: str | os.PathLike[str] | None = None,
    catalog_url: str | None = None,
    warehouse: str | None = None,
) -> Settings:
    """Resolve settings: explicit arguments, then environment variables, then defaults.

    Args:
        home: mesh home; default ``$MESHLAKE_HOME`` or ``./.meshlake``.
        catalog_url: store URL; default ``$MESHLAKE_CATALOG_URL`` or SQLite in the home.
        warehouse: data folder URI; default ``$MESHLAKE_WAREHOUSE`` or ``<home>/warehouse``.
    """
    home_path = Path(home or os.environ.get(ENV_HOME) or DEFAULT_HOME).expanduser().resolve()
    url = catalog_url or os.environ.get(ENV_CATALOG_URL) or f"sqlite:///{home_path / 'catalog.db'}"
    wh = warehouse or os.environ.get(ENV_WAREHOUSE) or (home_path / "warehouse").as_uri()
    return Settings(home=home_path, catalog_url=url, warehouse=wh)
