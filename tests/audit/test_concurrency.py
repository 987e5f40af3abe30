"""Checkpoint writers in several processes never fork or break the digest chain."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import meshlake


def _writer(home: str, worker: int, rounds: int) -> None:
    with meshlake.connect(home) as mesh:
        mesh.runtime.audit.anchor.every_events = 2  # type: ignore[union-attr]
        root = mesh.session("root")
        for i in range(rounds):
            root.accounts.create(f"w{worker}x{i}")
            root.checkpoint_audit()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)"
)
def test_concurrent_checkpoint_writers_keep_one_chain(tmp_path: Path) -> None:
    home = tmp_path / "home"
    meshlake.connect(home).bootstrap().mesh.close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(home), w, 8)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with meshlake.connect(home) as mesh:
        report = mesh.session("root").verify_audit()
        assert report.ok, report.problem
        assert report.events == 1 + 3 * 8
        numbers = [int(p.name[:8]) for p in sorted((home / "audit-digests").glob("*.json"))]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 8
