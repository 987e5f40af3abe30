"""The audit anchor: signed checkpoints of the chain head, outside the catalog database.

The hash chain (``audit/log.py``) shows that an event was edited or removed *unless* whoever
did it also recomputed every later hash and the head. A checkpoint pins the head: an
HMAC-SHA256 signature, under a key the database does not hold, over the newest event's
``seq`` and ``hash`` and the number of events. Checkpoints are written as one file each to an
append-only digest folder (as CloudTrail's digest files), each naming the previous file's
SHA-256, so the files chain too; the store keeps a copy of each.

The key comes from ``$MESHLAKE_AUDIT_KEY`` when set, otherwise from ``<home>/audit.key``,
created with mode 0600 the first time a checkpoint is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meshlake.errors import AuditError

try:  # POSIX: serialise checkpoint writers of one folder across processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DIGEST_FORMAT",
    "ENV_AUDIT_KEY",
    "KEY_FILE",
    "AuditAnchor",
    "AuditKey",
    "Checkpoint",
    "DigestFolderReport",
]

ENV_AUDIT_KEY = "MESHLAKE_AUDIT_KEY"
KEY_FILE = "audit.key"
DIGEST_FORMAT = "meshlake-audit-digest/1"
_NAME = re.compile(r"^(\d{8})-(\d{8}T\d{6}Z)\.json$")
_LOCK = ".lock"
_SIGNED_FIELDS = ("format", "number", "time", "seq", "events", "head_hash", "previous", "key_id")


@dataclass(frozen=True)
class AuditKey:
    """The checkpoint signing key and where it came from (``env`` or the key file's path)."""

    secret: bytes
    source: str

    @property
    def key_id(self) -> str:
        """A short public name of the key (the first 16 hex digits of its SHA-256).

        >>> AuditKey(b"k", "env").key_id
        '8254c329a92850f6'
        """
        return hashlib.sha256(self.secret).hexdigest()[:16]

    def sign(self, fields: dict[str, Any]) -> str:
        """HMAC-SHA256 of the canonical JSON of ``fields``."""
        return hmac.new(self.secret, _canonical(fields), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint: the digest file ``file`` (SHA-256 ``sha256``) in the folder.

    ``seq``/``head_hash`` name the newest event when it was written, ``events`` the number
    of events up to it, ``previous`` the previous digest file (``None`` for the first).
    """

    number: int
    time: datetime
    seq: int
    events: int
    head_hash: str
    previous: dict[str, str] | None
    key_id: str
    signature: str
    file: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what ``meshlake audit checkpoint --json`` prints)."""
        return {
            "number": self.number,
            "time": self.time.isoformat(),
            "seq": self.seq,
            "events": self.events,
            "head_hash": self.head_hash,
            "previous": self.previous,
            "key_id": self.key_id,
            "signature": self.signature,
            "file": self.file,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class DigestFolderReport:
    """What :meth:`AuditAnchor.read` found: the checkpoints that verify, in order, and the
    first problem (``kind``, ``message``) with the files after it, if any."""

    checkpoints: list[Checkpoint]
    kind: str = ""
    problem: str = ""


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _parse(path: Path, data: bytes) -> Checkpoint:
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("format") != DIGEST_FORMAT:
        raise ValueError("not a meshlake audit digest")
    previous = doc["previous"]
    if previous is not None and not (
        isinstance(previous, dict) and set(previous) == {"file", "sha256"}
    ):
        raise ValueError("malformed previous digest")
    return Checkpoint(
        number=int(doc["number"]),
        time=datetime.fromisoformat(doc["time"]),
        seq=int(doc["seq"]),
        events=int(doc["events"]),
        head_hash=str(doc["head_hash"]),
        previous=previous,
        key_id=str(doc["key_id"]),
        signature=str(doc["signature"]),
        file=path.name,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _signed_fields(cp: Checkpoint) -> dict[str, Any]:
    return {
        "format": DIGEST_FORMAT,
        "number": cp.number,
        "time": cp.time.isoformat(),
        "seq": cp.seq,
        "events": cp.events,
        "head_hash": cp.head_hash,
        "previous": cp.previous,
        "key_id": cp.key_id,
    }


class AuditAnchor:
    """Signs checkpoints and keeps the append-only digest folder.

    Args:
        folder: the digest folder (``Settings.digests_dir``, managed storage).
        key_file: where the key lives when ``$MESHLAKE_AUDIT_KEY`` is not set.
        every_events: write a checkpoint on its own after this many new events ...
        every_seconds: ... or when an event is appended this long after the last checkpoint.
    """

    def __init__(
        self,
        folder: Path,
        key_file: Path,
        *,
        every_events: int = 1000,
        every_seconds: float = 300.0,
    ) -> None:
        self.folder = folder
        self.key_file = key_file
        self.every_events = every_events
        self.every_seconds = every_seconds

    # ------------------------------------------------------------ key
    def key(self, *, create: bool = False) -> AuditKey | None:
        """The signing key: ``$MESHLAKE_AUDIT_KEY``, else the key file.

        Args:
            create: create the key file (mode 0600, 32 random bytes) when it is missing.

        Raises:
            AuditError: the key file cannot be read or created.
        """
        env = os.environ.get(ENV_AUDIT_KEY)
        if env:
            return AuditKey(env.encode(), "env")
        try:
            return AuditKey(self.key_file.read_bytes().strip(), str(self.key_file))
        except FileNotFoundError:
            if not create:
                return None
        except OSError as exc:
            raise AuditError(
                f"cannot read the audit key {self.key_file}: {exc.strerror}; "
                f"set {ENV_AUDIT_KEY} or fix the file's permissions"
            ) from exc
        try:
            self.key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return self.key()
        except OSError as exc:
            raise AuditError(
                f"cannot create the audit key {self.key_file}: {exc.strerror}; "
                f"make the mesh home writable or set {ENV_AUDIT_KEY}"
            ) from exc
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_hex(32).encode())
            f.flush()
            os.fsync(f.fileno())
        return self.key()

    # ------------------------------------------------------------ folder
    def files(self) -> list[tuple[int, Path]]:
        """The digest files, by number (other names in the folder are ignored)."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            m = _NAME.match(path.name)
            if m:
                out.append((int(m.group(1)), path))
        return sorted(out)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's writer lock (one checkpoint writer at a time, across processes)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditError(
                f"cannot write to the audit digest folder {self.folder}: {exc.strerror}; "
                "make the mesh home writable"
            ) from exc
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def latest(self, key: AuditKey | None) -> Checkpoint | None:
        """The newest digest, checked against ``key`` (``None``: not checked).

        Raises:
            AuditError: the newest file is unreadable or its signature does not verify
                (a new checkpoint would chain onto a forgery).
        """
        files = self.files()
        if not files:
            return None
        path = files[-1][1]
        try:
            cp = _parse(path, path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                f"the newest audit digest {path} is unreadable ({exc}): run `meshlake audit verify`"
            ) from exc
        if key is not None and not hmac.compare_digest(cp.signature, key.sign(_signed_fields(cp))):
            raise AuditError(
                f"the newest audit digest {path} does not verify with the current key: run "
                "`meshlake audit verify`"
            )
        return cp

    def write(
        self,
        key: AuditKey,
        *,
        seq: int,
        events: int,
        head_hash: str,
        previous: Checkpoint | None,
    ) -> Checkpoint:
        """Write the next digest file (call under :meth:`lock`); never replaces a file.

        Raises:
            AuditError: the folder is not writable.
        """
        now = datetime.now(UTC).replace(microsecond=0)
        number = previous.number + 1 if previous else 1
        name = f"{number:08d}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
        fields = {
            "format": DIGEST_FORMAT,
            "number": number,
            "time": now.isoformat(),
            "seq": seq,
            "events": events,
            "head_hash": head_hash,
            "previous": {"file": previous.file, "sha256": previous.sha256} if previous else None,
            "key_id": key.key_id,
        }
        doc = {**fields, "signature": key.sign(fields)}
        data = (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()
        path = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o444)
            os.link(tmp, path)  # fails rather than replace an existing digest
            _fsync_dir(self.folder)
        except OSError as exc:
            raise AuditError(
                f"cannot write the audit digest {path}: {exc.strerror}; make the mesh home writable"
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return _parse(path, data)

    def read(self, key: AuditKey | None) -> DigestFolderReport:
        """Check every digest file: numbered without gaps, signed with ``key``, each naming
        the previous file's SHA-256. Stops at the first problem."""
        good: list[Checkpoint] = []
        files = self.files()
        if files and key is None:
            return DigestFolderReport(
                good,
                "key_missing",
                f"the audit key is missing ({self.key_file} and ${ENV_AUDIT_KEY} are both "
                f"absent) but {len(files)} digest files exist: restore the key to verify them",
            )
        prev: Checkpoint | None = None
        for number, path in files:
            expected = prev.number + 1 if prev else 1
            if number != expected:
                return DigestFolderReport(
                    good,
                    "digest_missing",
                    f"audit digest file number {expected} is missing from {self.folder}",
                )
            try:
                cp = _parse(path, path.read_bytes())
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return DigestFolderReport(
                    good, "digest_tampered", f"audit digest {path.name} is unreadable ({exc})"
                )
            assert key is not None
            if cp.number != number:
                return DigestFolderReport(
                    good, "digest_tampered", f"audit digest {path.name} was renamed"
                )
            if cp.key_id != key.key_id:
                return DigestFolderReport(
                    good,
                    "digest_tampered",
                    f"audit digest {path.name} names key {cp.key_id}, not the current key "
                    f"{key.key_id} ({key.source}): it was forged or the key was replaced",
                )
            if not hmac.compare_digest(cp.signature, key.sign(_signed_fields(cp))):
                return DigestFolderReport(
                    good,
                    "digest_tampered",
                    f"audit digest {path.name} was altered: its signature does not verify",
                )
            link = {"file": prev.file, "sha256": prev.sha256} if prev else None
            if cp.previous != link:
                return DigestFolderReport(
                    good,
                    "digest_tampered",
                    f"audit digest {path.name} does not name the previous digest file as it "
                    "is now: the previous file was altered or replaced",
                )
            good.append(cp)
            prev = cp
        return DigestFolderReport(good)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
