"""Watching a folder for files that landed: a listing and a (size, mtime) fingerprint per file.

:func:`scan` lists the regular files under a local folder (hidden files and folders, and
those starting with ``_``, are skipped, as the crawler skips them); :func:`changes` compares
a listing with the fingerprints seen before and names the files that are new or changed.
Polling a listing is what works on every file system (network mounts included, where
inotify-style notifications do not); the fingerprints live in the store
(``ml_watched_files``), so any worker can pick up where another left off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Fingerprint", "changes", "scan"]


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a version of a file: its size and modification time (ns)."""

    size: int
    mtime_ns: int


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def scan(folder: str | Path, *, limit: int = 100_000) -> dict[str, Fingerprint]:
    """The regular files under ``folder`` (relative POSIX paths) with their fingerprints.

    A missing folder has no files. At most ``limit`` files are listed (in walk order).

    >>> scan("/nonexistent/folder")
    {}
    """
    root = Path(folder)
    out: dict[str, Fingerprint] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in sorted(filenames):
            if _hidden(name):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:  # removed while listing
                continue
            if not path.is_file():
                continue
            out[path.relative_to(root).as_posix()] = Fingerprint(st.st_size, st.st_mtime_ns)
            if len(out) >= limit:
                return out
    return out


def changes(
    listing: Mapping[str, Fingerprint], seen: Mapping[str, Fingerprint]
) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) files of ``listing`` against the fingerprints ``seen``.

    >>> a, b = Fingerprint(1, 10), Fingerprint(2, 20)
    >>> changes({"x": a, "y": b, "z": a}, {"x": a, "y": a, "w": a})
    (['z'], ['y'], ['w'])
    """
    added = sorted(p for p in listing if p not in seen)
    changed = sorted(p for p, f in listing.items() if p in seen and seen[p] != f)
    removed = sorted(p for p in seen if p not in listing)
    return added, changed, removed
