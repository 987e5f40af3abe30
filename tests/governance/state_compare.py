"""Comparing a governance state to a fresh full load of the same store."""

from __future__ import annotations

from typing import Any

import meshlake
from meshlake.governance.loading import GROUP_FIELDS, begin_snapshot, load_state
from meshlake.governance.state import GovernanceState


def contents(st: GovernanceState) -> dict[str, Any]:
    """Every field decisions read, as plain values (empty per-key lists dropped)."""
    out: dict[str, Any] = {}
    for fields in GROUP_FIELDS.values():
        for name in fields:
            value = getattr(st, name)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v != []}
            out[name] = value
    return out


def full_load(mesh: meshlake.Mesh) -> GovernanceState:
    """The state of ``mesh``'s store read whole, in one snapshot."""
    with mesh.runtime.store.read_committed() as session:
        begin_snapshot(session)
        return load_state(GovernanceState(), session, None)


def assert_current(mesh: meshlake.Mesh) -> GovernanceState:
    """``mesh``'s engine state equals a full load of its store (at the same version)."""
    st = mesh.runtime.engine.state()
    full = full_load(mesh)
    assert st.version == full.version
    got, want = contents(st), contents(full)
    for name in want:
        assert got[name] == want[name], name
    return st
