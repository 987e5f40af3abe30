"""Managed storage (rule 29): the paths that belong to the mesh alone.

The warehouse, query result locations, job folders, the audit digest folder and the catalog
store's own files are written by the mesh on its own. No principal (admins and the root
included) may name a path inside them, nor one that contains them: a database or table
location, a registered location, a crawl source or a workgroup result location that overlaps
managed storage is :class:`~meshlake.errors.InvalidInputError` and changes nothing.

Paths are compared after resolving ``.``/``..``, symbolic links and ``file://`` prefixes, so a
link into the warehouse is caught like the warehouse itself. A mesh may also set
``allowed_roots``: a location outside every registered location and every allowed root is then
refused too (a server defaults to none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from meshlake.errors import InvalidInputError
from meshlake.governance.locations import canonical_location, is_inside

__all__ = ["ManagedStorage"]


def _overlaps(a: str, b: str) -> bool:
    return is_inside(a, b) or is_inside(b, a)


@dataclass(frozen=True)
class ManagedStorage:
    """The mesh's own paths and the roots principals may use.

    Attributes:
        roots: canonical URIs of managed storage (folders and files).
        allowed_roots: when set, the only places (besides registered locations) a principal
            may name; ``None`` allows any place outside managed storage.
    """

    roots: tuple[str, ...]
    allowed_roots: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls, roots: Iterable[str | Path], allowed_roots: Iterable[str | Path] | None = None
    ) -> ManagedStorage:
        """Build from paths or URIs (canonicalised here, once)."""

        def canon(items: Iterable[str | Path]) -> tuple[str, ...]:
            return tuple(
                sorted({canonical_location(str(p) if isinstance(p, Path) else p) for p in items})
            )

        return cls(canon(roots), None if allowed_roots is None else canon(allowed_roots))

    def is_managed(self, uri: str, extra: Iterable[str] = ()) -> bool:
        """True when ``uri`` lies inside managed storage (or ``extra`` managed roots)."""
        loc = canonical_location(uri)
        return any(is_inside(loc, root) for root in (*self.roots, *map(canonical_location, extra)))

    def require_unmanaged(self, uri: str, what: str, extra: Iterable[str] = ()) -> str:
        """Refuse a location that overlaps managed storage; return its canonical form.

        Args:
            uri: the location a principal named.
            what: how the request calls it (``"a table location"``), for the message.
            extra: further managed roots (other workgroups' result locations).

        Raises:
            InvalidInputError: the location lies inside managed storage or contains it.
        """
        loc = canonical_location(uri)
        for root in (*self.roots, *map(canonical_location, extra)):
            if _overlaps(loc, root):
                raise InvalidInputError(
                    f"{what} may not be {uri}: that path "
                    f"{'lies inside' if is_inside(loc, root) else 'contains'} the mesh's "
                    "managed storage (warehouse, query results, job folders, catalog files; "
                    "rule 29); choose a folder outside it, or omit the location to let the "
                    "mesh place the data"
                )
        return loc

    def require_allowed(self, uri: str, what: str, registered: Iterable[str]) -> None:
        """With ``allowed_roots`` set, refuse a location outside them and every registered one.

        Raises:
            InvalidInputError: the location lies outside every allowed root and registered
                location.
        """
        if self.allowed_roots is None:
            return
        loc = canonical_location(uri)
        places = (*self.allowed_roots, *(canonical_location(r) for r in registered))
        if not any(is_inside(loc, p) for p in places):
            raise InvalidInputError(
                f"{what} may not be {uri}: this mesh allows only registered locations"
                + (f" and {', '.join(self.allowed_roots)}" if self.allowed_roots else "")
                + " (allowed_roots); ask an admin to register the location first"
            )

    def check(
        self, uri: str, what: str, registered: Iterable[str], extra: Iterable[str] = ()
    ) -> str:
        """Both checks of rule 29 for a location a principal named; the canonical form.

        Raises:
            InvalidInputError: inside managed storage, or outside the allowed places.
        """
        loc = self.require_unmanaged(uri, what, extra)
        self.require_allowed(uri, what, registered)
        return loc
