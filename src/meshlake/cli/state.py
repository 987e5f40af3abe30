"""The state every command shares: global options, the open mesh, the acting session."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from meshlake.cli.output import Output
from meshlake.config import Settings, load_settings
from meshlake.errors import NotFoundError
from meshlake.ids import ROOT
from meshlake.mesh import Mesh, Session

__all__ = ["CliState", "get_state"]


@dataclass
class CliState:
    """Global options of one invocation and the mesh they open.

    Args:
        home: the ``--home`` option (``None``: ``$MESHLAKE_HOME`` or ``./.meshlake``).
        principal: who acts (``--as``).
        out: where results and errors go.
    """

    home: Path | None
    principal: str
    out: Output
    _mesh: Mesh | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        """True under ``--json``."""
        return self.out.json

    def settings(self) -> Settings:
        """Where the mesh lives (options, then environment, then defaults)."""
        return load_settings(self.home)

    def server_settings(self) -> Settings:
        """Settings for ``meshlake serve``: clients may name no folder as a location unless
        ``MESHLAKE_ALLOWED_ROOTS`` says which (rule 29)."""
        settings = self.settings()
        if settings.allowed_roots is None:
            settings = load_settings(self.home, allowed_roots=[])
        return settings

    def mesh(self, *, create: bool = False) -> Mesh:
        """Open the mesh once per invocation.

        Args:
            create: create a new mesh when the home has none (only ``init`` does).

        Raises:
            NotFoundError: no mesh at the home and ``create`` is false.
        """
        if self._mesh is None:
            settings = self.settings()
            if not create and not _store_exists(settings):
                raise NotFoundError(
                    f"no mesh at {settings.home}: run `meshlake init` to create one, or point "
                    "--home (or MESHLAKE_HOME) at an existing mesh"
                )
            self._mesh = Mesh(settings)
        return self._mesh

    def session(self) -> Session:
        """The session of the acting principal (``--as``).

        Raises:
            NotFoundError: the mesh is not initialised or the principal does not exist.
        """
        mesh = self.mesh()
        if not mesh.bootstrapped:
            raise NotFoundError(
                f"the mesh at {mesh.home} is not initialised: run `meshlake init` first"
            )
        try:
            return mesh.session(self.principal)
        except NotFoundError as exc:
            raise NotFoundError(
                f"principal {self.principal} not found: check --as (or MESHLAKE_PRINCIPAL); "
                "`meshlake principal list` shows the principals, and the mesh root creates "
                f"new ones with `meshlake --as {ROOT} principal create ACCOUNT/NAME`"
            ) from exc

    def close(self) -> None:
        """Release the mesh's database connections."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None


def _store_exists(settings: Settings) -> bool:
    """False only when the catalog store is a SQLite file that does not exist yet."""
    url = make_url(settings.catalog_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return True
    if url.database == ":memory:":
        return True
    return os.path.exists(url.database)


def get_state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` the main callback stored on the root context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):  # a command invoked without the main callback
        raise RuntimeError("meshlake CLI state is missing: invoke commands through the app")
    return obj
