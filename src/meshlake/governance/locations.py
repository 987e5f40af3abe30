"""Location URIs: the one location matcher (rules 10 and 29).

Every location a principal names, registers or asks about goes through
:func:`canonical_location` before it is compared: ``file://`` URIs and absolute paths with
``.``/``..`` and symbolic links resolved, other schemes normalised. Two spellings of one place
then compare equal, and a link into a folder is that folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from meshlake.errors import InvalidInputError
from meshlake.governance.state import GovernanceState

__all__ = ["canonical_location", "covering_location", "is_inside", "normalize_location"]

SCHEMES = ("file://", "s3://", "s3a://", "gs://", "abfs://", "memory://")


def normalize_location(uri: str) -> str:
    """Check and normalise a location: a URI with a known scheme or an absolute path.

    >>> normalize_location("/data/x/")
    'file:///data/x'
    >>> normalize_location("s3://bucket/a/")
    's3://bucket/a'
    """
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInputError("a location must be a non-empty URI such as file:///data/x")
    uri = uri.strip()
    if uri.startswith("/"):
        uri = Path(uri).as_uri()
    if not uri.startswith(SCHEMES):
        raise InvalidInputError(
            f"location {uri!r} must start with one of {', '.join(SCHEMES)} or be an absolute path"
        )
    if ".." in uri.split("/"):
        raise InvalidInputError(f"location {uri!r} must not contain '..'")
    return uri.rstrip("/")


def canonical_location(uri: str) -> str:
    """A location in the form locations are compared in (see the module docstring).

    >>> canonical_location("/tmp/x/") == Path(os.path.realpath("/tmp/x")).as_uri()
    True
    >>> canonical_location("s3://bucket/a/")
    's3://bucket/a'
    """
    uri = normalize_location(uri)
    if uri.startswith("file://"):
        path = unquote(urlparse(uri).path)
        return Path(os.path.realpath(path)).as_uri()
    return uri


def is_inside(uri: str, prefix: str) -> bool:
    """True when ``uri`` is ``prefix`` or below it.

    >>> is_inside("file:///a/b/c", "file:///a/b"), is_inside("file:///a/bc", "file:///a/b")
    (True, False)
    """
    return uri == prefix or uri.startswith(prefix + "/")


def covering_location(st: GovernanceState, account: str, uri: str) -> tuple[int, str] | None:
    """The registered location of ``account`` that contains ``uri`` (the longest), if any."""
    best: tuple[int, str] | None = None
    for lid, (acct, loc) in st.locations.items():
        if acct == account and is_inside(uri, loc) and (best is None or len(loc) > len(best[1])):
            best = (lid, loc)
    return best
