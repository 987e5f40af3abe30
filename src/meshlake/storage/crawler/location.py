"""Locations a crawler reads: a local folder or file, or any fsspec / pyarrow file system URI.

A location resolves to a :class:`pyarrow.fs.FileSystem` and a root path. Local paths and
``file://`` URIs use pyarrow's local file system, ``s3://`` (and ``gs://``, ``hdfs://``)
pyarrow's own, and every other scheme (``memory://``, ...) an fsspec file system wrapped for
pyarrow. Files whose name or folder starts with ``.`` or ``_`` (``_SUCCESS``, ``.crc``) are
not data and are never listed.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from meshlake.errors import InvalidInputError, NotFoundError

__all__ = ["DataFile", "HashingReader", "Location", "open_location"]

_CHUNK = 8 * 1024 * 1024
_PYARROW_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")


@dataclass(frozen=True)
class DataFile:
    """One file under a location.

    ``path`` is relative to the location's root (``/``-separated; the file name when the
    location is a single file); ``fs_path`` is the path on the file system.
    """

    path: str
    fs_path: str
    size: int
    mtime_ns: int

    @property
    def folders(self) -> tuple[str, ...]:
        """The folders between the root and the file."""
        return tuple(self.path.split("/")[:-1])

    @property
    def name(self) -> str:
        """The file's base name."""
        return self.path.rsplit("/", 1)[-1]


class HashingReader:
    """A read-only file object that hashes (sha256) every byte read through it.

    pyarrow's readers accept it in place of a file, so a file is hashed in the same pass
    that parses it.
    """

    def __init__(self, stream: pa.NativeFile) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.nbytes = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative)."""
        data = self._stream.read() if size is None or size < 0 else self._stream.read(size)
        self._hash.update(data)
        self.nbytes += len(data)
        return data

    def hexdigest(self) -> str:
        """The sha256 of the bytes read so far."""
        return self._hash.hexdigest()

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """Always False: the hash needs every byte in order."""
        return False

    @property
    def closed(self) -> bool:
        """Whether the underlying stream is closed."""
        return bool(self._stream.closed)

    def close(self) -> None:
        """Close the underlying stream."""
        self._stream.close()


@dataclass(frozen=True)
class Location:
    """A resolved location: canonical ``uri``, file system, root path, file or folder."""

    uri: str
    fs: pafs.FileSystem
    root: str
    is_file: bool
    exists: bool = True

    @property
    def name(self) -> str:
        """The root's base name (the default table name)."""
        return posixpath.basename(self.root.rstrip("/")) or "root"

    def list_files(self) -> list[DataFile]:
        """Every data file under the location, sorted by relative path."""
        if not self.exists:
            return []
        if self.is_file:
            info = self.fs.get_file_info(self.root)
            return [_data_file(info, posixpath.basename(self.root))]
        selector = pafs.FileSelector(self.root, recursive=True)
        prefix = self.root.rstrip("/") + "/"
        files = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.path.startswith(prefix):
                continue
            rel = info.path[len(prefix) :]
            if any(part.startswith((".", "_")) for part in rel.split("/")):
                continue
            files.append(_data_file(info, rel))
        return sorted(files, key=lambda f: f.path)

    def open_stream(self, file: DataFile) -> pa.NativeFile:
        """A sequential stream of the file's raw (possibly compressed) bytes."""
        return self.fs.open_input_stream(file.fs_path, compression=None)

    def open_random_access(self, file: DataFile) -> pa.NativeFile:
        """A seekable file (Parquet needs one)."""
        return self.fs.open_input_file(file.fs_path)

    def read_head(self, file: DataFile, nbytes: int) -> bytes:
        """The first ``nbytes`` raw bytes of the file (fewer if it is shorter)."""
        with self.open_stream(file) as stream:
            return bytes(stream.read(nbytes))

    def sha256(self, file: DataFile, limit: int | None = None) -> str:
        """The sha256 of the file's raw bytes (of its first ``limit`` bytes if given)."""
        digest = hashlib.sha256()
        remaining = file.size if limit is None else limit
        with self.open_stream(file) as stream:
            while remaining > 0:
                chunk = stream.read_buffer(min(_CHUNK, remaining))
                if not chunk.size:
                    break
                digest.update(memoryview(chunk))
                remaining -= chunk.size
        return digest.hexdigest()


def _data_file(info: pafs.FileInfo, rel: str) -> DataFile:
    mtime = info.mtime_ns
    return DataFile(path=rel, fs_path=info.path, size=int(info.size or 0), mtime_ns=int(mtime or 0))


def open_location(location: str, *, must_exist: bool = True) -> Location:
    """Resolve a location string to a :class:`Location`.

    Args:
        location: a local path, a ``file://`` URI, or a URI of any file system pyarrow or
            fsspec knows (``s3://bucket/prefix``, ``memory://landing``).
        must_exist: raise when nothing is there (else return a location that lists no files).

    Returns:
        The resolved location.

    Raises:
        InvalidInputError: the string is empty or its scheme is unknown.
        NotFoundError: nothing exists at the location (and ``must_exist``).
    """
    if not location or not location.strip():
        raise InvalidInputError("crawl location is empty: give a folder, a file or a URI")
    fs, root, uri = _resolve(location.strip())
    info = fs.get_file_info(root)
    exists = info.type != pafs.FileType.NotFound
    if not exists and must_exist:
        raise NotFoundError(f"crawl location {uri!r} does not exist", location=uri)
    return Location(uri, fs, root, is_file=info.type == pafs.FileType.File, exists=exists)


def _resolve(location: str) -> tuple[pafs.FileSystem, str, str]:
    scheme = location.split("://", 1)[0].lower() if "://" in location else ""
    if scheme in ("", "file"):
        raw = location[len("file://") :] if scheme else location
        path = Path(raw).expanduser().resolve()
        return pafs.LocalFileSystem(), path.as_posix(), path.as_uri()
    if scheme in _PYARROW_SCHEMES:
        try:
            fs, path = pafs.FileSystem.from_uri(location)
            return fs, path.rstrip("/") or path, location.rstrip("/")
        except (pa.ArrowException, ValueError):
            pass  # pyarrow built without this file system: try fsspec below
    return _fsspec(location)


def _fsspec(location: str) -> tuple[pafs.FileSystem, str, str]:
    try:
        import fsspec

        fs: Any
        fs, path = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot open crawl location {location!r}: {exc}", location=location
        ) from exc
    wrapped = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    return wrapped, str(path).rstrip("/") or str(path), location.rstrip("/")
