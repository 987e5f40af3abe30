"""The server's worker pool for asynchronous operations.

A route that starts long work (a crawl, a recipe, an ML job, a pipeline) hands it to
:meth:`OperationRunner.submit`: the operation is recorded QUEUED (``ml_operations``), the
route answers ``202`` with its id and a ``Location``, and one of a bounded number of worker
threads runs the work as the calling principal (a fresh session of that principal, so every
facade check applies), then records the JSON result (paths removed) or the typed error.

While operations are active a heartbeat thread renews their leases; when the process stops,
the leases run out and a restarted server (or any other reading the store) reports those
operations as FAILED (interrupted).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from meshlake.errors import ConflictError, MeshError
from meshlake.mesh import Mesh, Session
from meshlake.server.wire import Scrubber, error_body
from meshlake.service.operations import (
    Operation,
    OperationsAPI,
    fail_expired,
    finish_operation,
    new_operation,
    renew_leases,
    start_operation,
)

__all__ = ["DEFAULT_LEASE_S", "DEFAULT_MAX_PENDING", "DEFAULT_WORKERS", "OperationRunner", "Work"]

log = logging.getLogger("meshlake.server.operations")

DEFAULT_WORKERS = 4
DEFAULT_MAX_PENDING = 64
DEFAULT_LEASE_S = 60.0
MAX_WAIT_S = 30.0

Work = Callable[[Session], Any]
"""What an operation does, given a session of the calling principal; returns its result."""


class OperationRunner:
    """A bounded pool of worker threads running operations as their principals.

    Args:
        mesh: the served mesh.
        scrubber: removes paths from results and errors before they are recorded.
        workers: operations running at once.
        max_pending: operations accepted (queued or running) at once in this process;
            more are refused with ``ConflictError`` until some finish.
        lease_s: how long an operation stays RUNNING without a heartbeat before other
            readers take its process for stopped.
    """

    def __init__(
        self,
        mesh: Mesh,
        scrubber: Scrubber,
        *,
        workers: int = DEFAULT_WORKERS,
        max_pending: int = DEFAULT_MAX_PENDING,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.mesh = mesh
        self.scrubber = scrubber
        self.max_pending = max_pending
        self.lease = timedelta(seconds=lease_s)
        self.id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meshlake-op")
        self._active: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        fail_expired(mesh.runtime)  # what a stopped server left running

    # ------------------------------------------------------------------ submitting
    def submit(self, session: Session, kind: str, request: dict[str, Any], work: Work) -> Operation:
        """Record an operation of ``session``'s principal and queue ``work``.

        Raises:
            ConflictError: this server has ``max_pending`` operations already.
        """
        operation_id = str(uuid.uuid4())
        with self._lock:
            if len(self._active) >= self.max_pending:
                raise ConflictError(
                    f"this server runs {self.max_pending} operations already: try again when "
                    "some have finished"
                )
            self._active[operation_id] = threading.Event()
        try:
            op = new_operation(
                self.mesh.runtime,
                operation_id=operation_id,
                principal=session.principal,
                kind=kind,
                request=self.scrubber.body(request),
                runner=self.id,
                lease=self.lease,
            )
            self._ensure_heartbeat()
            self._pool.submit(self._run, operation_id, session.principal, work)
        except BaseException:
            self._done(operation_id)
            raise
        return op

    def _run(self, operation_id: str, principal: str, work: Work) -> None:
        rt = self.mesh.runtime
        try:
            if not start_operation(rt, operation_id, self.lease):
                return
            try:
                result = work(self.mesh.session(principal))
            except MeshError as exc:
                finish_operation(rt, operation_id, error=error_body(exc, self.scrubber)["error"])
                return
            except Exception as exc:
                log.exception("operation %s failed unexpectedly", operation_id, exc_info=exc)
                finish_operation(
                    rt,
                    operation_id,
                    error={
                        "type": MeshError.kind,
                        "message": "internal server error (see the server's log)",
                    },
                )
                return
            finish_operation(rt, operation_id, result=self.scrubber.body(result))
        except Exception as exc:  # the store failed: the lease will run out
            log.exception("cannot record operation %s", operation_id, exc_info=exc)
        finally:
            self._done(operation_id)

    def _done(self, operation_id: str) -> None:
        with self._lock:
            event = self._active.pop(operation_id, None)
        if event is not None:
            event.set()

    # ------------------------------------------------------------------ leases
    def _ensure_heartbeat(self) -> None:
        with self._lock:
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(
                    target=self._beat, name="meshlake-op-lease", daemon=True
                )
                self._heartbeat.start()

    def _beat(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            with self._lock:
                ids = list(self._active)
            try:
                renew_leases(self.mesh.runtime, ids, self.lease)
            except Exception as exc:
                log.warning("cannot renew operation leases: %s", exc)

    # ------------------------------------------------------------------ reading
    def wait(self, api: OperationsAPI, operation_id: str, timeout: float) -> Operation:
        """The operation once it ended or ``timeout`` seconds passed (at most 30)."""
        op = api.get(operation_id)
        deadline = time.monotonic() + min(max(timeout, 0.0), MAX_WAIT_S)
        delay = 0.02
        while not op.done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self._lock:
                event = self._active.get(operation_id)
            if event is not None:  # runs here: wake when it ends
                event.wait(left)
            else:  # another process runs it: poll its row
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.5)
            op = api.get(operation_id)
        return op

    def close(self) -> None:
        """Stop taking work and renewing leases (running operations finish unrecorded
        ones fail once their leases run out)."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
