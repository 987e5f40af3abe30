"""``explain``: the decision path for one (principal, action, resource)."""

from __future__ import annotations

from typing import Any

from meshlake.governance.engine import NOT_VISIBLE, GovernanceEngine
from meshlake.resources import Resource, resource_to_dict

__all__ = ["explain_decision"]


def explain_decision(
    engine: GovernanceEngine, principal: str, action: str, resource: Resource
) -> dict[str, Any]:
    """Explain a decision; for an invisible resource say only "not visible" (rule 0)."""
    decision = engine.decide(principal, action, resource)
    out: dict[str, Any] = {
        "principal": principal,
        "action": action.upper(),
        "resource": resource_to_dict(resource),
        "allowed": decision.allowed,
    }
    if decision.reason == NOT_VISIBLE:
        out["path"] = [NOT_VISIBLE]
    else:
        out["path"] = [p.strip() for p in decision.reason.split(";") if p.strip()]
    return out
