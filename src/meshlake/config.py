"""Settings from the environment: where the mesh lives and which store it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from meshlake.errors import InvalidInputError

__all__ = [
    "ENV_ALLOWED_ROOTS",
    "ENV_CATALOG_URL",
    "ENV_HOME",
    "ENV_QUERY_THREADS",
    "ENV_WAREHOUSE",
    "ENV_WEBHOOK_ALLOWED_HOSTS",
    "Settings",
    "load_settings",
    "query_threads",
]

ENV_HOME = "MESHLAKE_HOME"
ENV_CATALOG_URL = "MESHLAKE_CATALOG_URL"
ENV_WAREHOUSE = "MESHLAKE_WAREHOUSE"
ENV_ALLOWED_ROOTS = "MESHLAKE_ALLOWED_ROOTS"
ENV_WEBHOOK_ALLOWED_HOSTS = "MESHLAKE_WEBHOOK_ALLOWED_HOSTS"
ENV_QUERY_THREADS = "MESHLAKE_QUERY_THREADS"
DEFAULT_HOME = ".meshlake"


@dataclass(frozen=True)
class Settings:
    """Where a mesh keeps its state.

    Attributes:
        home: the mesh home folder (SQLite store, warehouse, results, MLflow).
        catalog_url: SQLAlchemy URL of the catalog store.
        warehouse: URI of the folder where table data lives.
        allowed_roots: when set, the only folders (besides registered locations) that a
            principal may name as a location or crawl source (rule 29); ``None`` allows any
            folder outside managed storage, an empty tuple none.
        webhook_allowed_hosts: where webhooks may be sent (``events/destinations.py``:
            ``public``, addresses, networks, host names, each optionally with a port and a
            scheme); ``None`` is the default, public addresses only; an empty tuple allows
            no webhook destination.
    """

    home: Path
    catalog_url: str
    warehouse: str
    allowed_roots: tuple[str, ...] | None = None
    webhook_allowed_hosts: tuple[str, ...] | None = None

    @property
    def results_dir(self) -> Path:
        """Default folder of stored query results."""
        return self.home / "results"

    @property
    def jobs_dir(self) -> Path:
        """Folder of processing and training job working files."""
        return self.home / "jobs"

    @property
    def digests_dir(self) -> Path:
        """Append-only folder of signed audit checkpoints."""
        return self.home / "audit-digests"

    def managed_paths(self) -> list[str]:
        """Every path the mesh writes on its own (rule 29): warehouse, results, jobs,
        digests, and the catalog store's files when it is a SQLite file."""
        paths = [
            self.warehouse,
            str(self.results_dir),
            str(self.jobs_dir),
            str(self.digests_dir),
        ]
        if self.catalog_url.startswith("sqlite:///"):
            db = self.catalog_url[len("sqlite:///") :]
            paths += [db, db + "-wal", db + "-shm", db + "-journal"]
        return paths


def load_settings(
    home: str | os.PathLike[str] | None = None,
    catalog_url: str | None = None,
    warehouse: str | None = None,
    allowed_roots: list[str] | None = None,
    webhook_allowed_hosts: list[str] | None = None,
) -> Settings:
    """Resolve settings: explicit arguments, then environment variables, then defaults.

    Args:
        home: mesh home; default ``$MESHLAKE_HOME`` or ``./.meshlake``.
        catalog_url: store URL; default ``$MESHLAKE_CATALOG_URL`` or SQLite in the home.
        warehouse: data folder URI; default ``$MESHLAKE_WAREHOUSE`` or ``<home>/warehouse``.
        allowed_roots: folders principals may name; default ``$MESHLAKE_ALLOWED_ROOTS``
            (comma-separated; set but empty = none), unset = anywhere outside managed storage.
        webhook_allowed_hosts: where webhooks may go; default
            ``$MESHLAKE_WEBHOOK_ALLOWED_HOSTS`` (comma-separated; set but empty = nowhere),
            unset = public addresses only.
    """
    home_path = Path(home or os.environ.get(ENV_HOME) or DEFAULT_HOME).expanduser().resolve()
    url = catalog_url or os.environ.get(ENV_CATALOG_URL) or f"sqlite:///{home_path / 'catalog.db'}"
    wh = warehouse or os.environ.get(ENV_WAREHOUSE) or (home_path / "warehouse").as_uri()
    return Settings(
        home=home_path,
        catalog_url=url,
        warehouse=wh,
        allowed_roots=_listed(allowed_roots, ENV_ALLOWED_ROOTS),
        webhook_allowed_hosts=_listed(webhook_allowed_hosts, ENV_WEBHOOK_ALLOWED_HOSTS),
    )


def _listed(given: list[str] | None, variable: str) -> tuple[str, ...] | None:
    """A list setting: ``given``, else the comma-separated variable (set but empty: an
    empty tuple), else ``None``."""
    if given is not None:
        return tuple(given)
    if variable in os.environ:
        return tuple(r.strip() for r in os.environ[variable].split(",") if r.strip())
    return None


def query_threads(environ: dict[str, str] | None = None) -> int | None:
    """The query engine's worker threads in this process: ``$MESHLAKE_QUERY_THREADS``, or
    ``None`` (DuckDB's default, one per core). Process-wide: the engine is shared by every
    mesh the process opens (``meshlake serve --query-threads`` sets it for its workers).

    >>> query_threads({"MESHLAKE_QUERY_THREADS": "2"})
    2

    Raises:
        InvalidInputError: the variable is set to something else than a positive integer.
    """
    value = (os.environ if environ is None else environ).get(ENV_QUERY_THREADS, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInputError(
            f"{ENV_QUERY_THREADS} must be a positive number of threads, not {value!r}"
        )
    return int(value)
