"""The values the ML service returns: jobs, model groups, model versions, loaded models."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from meshlake.errors import InvalidInputError
from meshlake.ml.estimators import FittedModel
from meshlake.ml.features import Featurizer

__all__ = [
    "APPROVAL_STATUSES",
    "APPROVED",
    "PENDING",
    "REJECTED",
    "LoadedModel",
    "MLJob",
    "ModelGroupView",
    "ModelVersion",
    "iso",
]

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED)


def iso(t: datetime | None) -> str | None:
    """ISO text of a (possibly naive UTC) time."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


def check_status(status: str) -> str:
    """Normalize an approval status name.

    >>> check_status("approved")
    'Approved'
    """
    for s in APPROVAL_STATUSES:
        if s.lower() == str(status).lower():
            return s
    raise InvalidInputError(
        f"unknown approval status {status!r}; use one of {', '.join(APPROVAL_STATUSES)}"
    )


@dataclass(frozen=True)
class MLJob:
    """A processing, training or scoring job as recorded."""

    id: str
    kind: str
    name: str
    principal: str
    state: str
    spec: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: dict[str, Any]
    metrics: dict[str, Any]
    timings: dict[str, Any]
    run_id: str | None
    log: str
    error: str | None
    started_at: str | None
    finished_at: str | None
    cached: bool = False

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        """Output tables by split name (``train``, ``validation``, ``test``, ``scores``)."""
        return dict(self.outputs.get("tables") or {})

    @property
    def query_ids(self) -> list[str]:
        """The governed queries the job read through."""
        return [i["query_id"] for i in self.inputs if i.get("query_id")]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model group."""

    group: str
    account: str
    version: int
    status: str
    job_id: str
    run_id: str
    metrics: dict[str, Any]
    created_by: str
    created_at: str | None
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def ref(self) -> str:
        """``account.group/version``."""
        return f"{self.account}.{self.group}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        return data


@dataclass(frozen=True)
class ModelGroupView:
    """A model group and its versions, as the caller may see them."""

    name: str
    account: str
    description: str
    creator: str
    created_at: str | None
    versions: tuple[ModelVersion, ...] = ()
    permissions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "account": self.account,
            "description": self.description,
            "creator": self.creator,
            "created_at": self.created_at,
            "versions": [v.to_dict() for v in self.versions],
            "permissions": list(self.permissions),
        }


@dataclass
class LoadedModel:
    """A registered model ready to score data frames: the featurizer and the estimator."""

    version: ModelVersion
    featurizer: Featurizer
    model: FittedModel
    extra: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """P(positive label) for each row of raw (un-featurized) data."""
        features = self.featurizer.transform(df)
        return self.model.predict_proba(features.to_numpy(dtype=np.float64))

    def predict(self, df: pd.DataFrame, threshold: float | None = None) -> np.ndarray:
        """0/1 predictions at ``threshold`` (default: the one the version was evaluated at)."""
        thr = threshold if threshold is not None else self.threshold
        return (self.predict_proba(df) > thr).astype(int)

    @property
    def threshold(self) -> float:
        """The decision threshold of the version's evaluation (0.5 when unknown)."""
        test = self.version.metrics.get("test") or {}
        return float(test.get("threshold", 0.5))
