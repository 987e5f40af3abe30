"""Pipeline definitions: a small DAG of steps declared in Python or YAML.

Step types: ``process``, ``train``, ``evaluate``, ``condition``, ``register``, ``score``. A step
names the step it consumes as ``input`` (and may list more in ``after``); a step that depends
on a ``condition`` runs only when the condition held, else it is SKIPPED (as is everything
downstream of it). A pipeline file looks like::

    name: credit-risk
    steps:
      - {name: process, type: process, sql: 'SELECT * FROM "rl_credit-card".credit_card',
         target: credit_risk, output_database: credit_ml, split: [0.7, 0.15, 0.15], seed: 7}
      - {name: train, type: train, input: process, estimator: xgboost}
      - {name: evaluate, type: evaluate, input: train}
      - {name: auc-check, type: condition, input: evaluate, metric: test.roc_auc,
         op: ">=", value: 0.75}
      - {name: register, type: register, input: train, after: [auc-check], group: credit-risk}

>>> p = Pipeline.from_dict({"name": "p", "steps": [
...     {"name": "t", "type": "train", "input": "p1"},
...     {"name": "p1", "type": "process", "sql": "SELECT 1", "target": "y",
...      "output_database": "d"}]})
>>> [s.name for s in p.order()]
['p1', 't']
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshlake.errors import InvalidInputError
from meshlake.ids import check_name

__all__ = ["OPERATORS", "STEP_TYPES", "Pipeline", "Step", "check_condition", "default_pipeline"]

STEP_TYPES = ("process", "train", "evaluate", "condition", "register", "score")
REQUIRED: dict[str, tuple[str, ...]] = {
    "process": ("sql", "target", "output_database"),
    "train": ("input",),
    "evaluate": ("input",),
    "condition": ("input", "metric", "value"),
    "register": ("input", "group"),
    "score": ("input", "sql", "output_database", "output_table"),
}
INPUT_TYPES: dict[str, tuple[str, ...]] = {
    "train": ("process",),
    "evaluate": ("train",),
    "condition": ("evaluate", "train"),
    "register": ("train",),
    "score": ("register",),
}
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Step:
    """One step: its name, type, parameters and the steps it waits for."""

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()

    @property
    def input(self) -> str | None:
        """The step whose output this one consumes."""
        value = self.params.get("input")
        return str(value) if value is not None else None

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Every step this one waits for."""
        deps = ([self.input] if self.input else []) + list(self.after)
        return tuple(dict.fromkeys(deps))

    def to_dict(self) -> dict[str, Any]:
        """YAML/JSON form."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, **self.params}
        if self.after:
            out["after"] = list(self.after)
        return out


@dataclass(frozen=True)
class Pipeline:
    """A named DAG of steps."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        check_name("pipeline", self.name)
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise InvalidInputError("step names must be unique")
        by_name = {s.name: s for s in self.steps}
        for s in self.steps:
            if s.type not in STEP_TYPES:
                raise InvalidInputError(
                    f"step {s.name}: unknown type {s.type!r}; use one of {', '.join(STEP_TYPES)}"
                )
            missing = [k for k in REQUIRED[s.type] if s.params.get(k) in (None, "")]
            if missing:
                raise InvalidInputError(f"step {s.name} ({s.type}) needs {', '.join(missing)}")
            for dep in s.depends_on:
                if dep not in by_name:
                    raise InvalidInputError(f"step {s.name} depends on unknown step {dep}")
            if s.input and by_name[s.input].type not in INPUT_TYPES.get(s.type, ()):
                raise InvalidInputError(
                    f"step {s.name} ({s.type}) cannot take the output of {s.input} "
                    f"({by_name[s.input].type}); it takes {', '.join(INPUT_TYPES[s.type])}"
                )
            if s.type == "condition" and str(s.params.get("op", ">=")) not in OPERATORS:
                raise InvalidInputError(f"step {s.name}: op must be one of {', '.join(OPERATORS)}")
        self.order()  # refuses cycles

    def step(self, name: str) -> Step:
        """A step by name."""
        for s in self.steps:
            if s.name == name:
                return s
        raise InvalidInputError(f"pipeline {self.name} has no step {name}")

    def order(self) -> list[Step]:
        """Steps in an order where each comes after what it depends on (declaration order
        among independent steps)."""
        done: list[Step] = []
        placed: set[str] = set()
        pending = list(self.steps)
        while pending:
            ready = [s for s in pending if all(d in placed for d in s.depends_on)]
            if not ready:
                raise InvalidInputError(
                    f"pipeline {self.name} has a cycle among {', '.join(s.name for s in pending)}"
                )
            for s in ready:
                done.append(s)
                placed.add(s.name)
                pending.remove(s)
        return done

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        """Build from the YAML/JSON form."""
        if not isinstance(data, Mapping) or "steps" not in data:
            raise InvalidInputError("a pipeline needs a name and a list of steps")
        steps = []
        for raw in data["steps"] or []:
            if not isinstance(raw, Mapping) or "name" not in raw or "type" not in raw:
                raise InvalidInputError("every step needs a name and a type")
            params = {k: v for k, v in raw.items() if k not in ("name", "type", "after")}
            after = raw.get("after") or []
            if isinstance(after, str):
                after = [after]
            steps.append(Step(str(raw["name"]), str(raw["type"]), params, tuple(after)))
        return cls(str(data.get("name") or ""), tuple(steps))

    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any]) -> Pipeline:
        """From a dict, a YAML file path or YAML text."""
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        text = str(source)
        if isinstance(source, os.PathLike) or (
            "\n" not in text and text.endswith((".yaml", ".yml"))
        ):
            try:
                text = Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidInputError(f"cannot read pipeline file {source}: {exc}") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"the pipeline is not valid YAML: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """YAML/JSON form."""
        return {"name": self.name, "steps": [s.to_dict() for s in self.steps]}

    def to_yaml(self) -> str:
        """The YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def check_condition(params: Mapping[str, Any], metrics: Mapping[str, Any]) -> tuple[bool, Any]:
    """Evaluate a condition step on a metrics dict (``metric`` is a dotted path).

    >>> check_condition({"metric": "test.roc_auc", "op": ">=", "value": 0.75},
    ...                 {"test": {"roc_auc": 0.8}})
    (True, 0.8)
    """
    value: Any = metrics
    for part in str(params["metric"]).split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise InvalidInputError(f"metric {params['metric']} not found in the step's input")
        value = value[part]
    op = OPERATORS[str(params.get("op", ">="))]
    return bool(op(value, params["value"])), value


def default_pipeline(
    sql: str,
    *,
    target: str,
    output_database: str,
    group: str,
    name: str = "default",
    seed: int = 7,
    split: tuple[float, float, float] = (0.7, 0.15, 0.15),
    estimator: str = "xgboost",
    hyperparameters: dict[str, Any] | None = None,
    cost: dict[str, float] | None = None,
    min_auc: float = 0.75,
) -> Pipeline:
    """process -> train -> evaluate -> condition (test AUC >= ``min_auc``) -> register."""
    train: dict[str, Any] = {"input": "process", "estimator": estimator, "seed": seed}
    if hyperparameters:
        train["hyperparameters"] = hyperparameters
    evaluate: dict[str, Any] = {"input": "train"}
    if cost:
        train["cost"] = cost
        evaluate["cost"] = dict(cost)
    return Pipeline(
        name,
        (
            Step(
                "process",
                "process",
                {
                    "sql": sql,
                    "target": target,
                    "output_database": output_database,
                    "split": list(split),
                    "seed": seed,
                },
            ),
            Step("train", "train", train),
            Step("evaluate", "evaluate", evaluate),
            Step(
                "auc-check",
                "condition",
                {"input": "evaluate", "metric": "test.roc_auc", "op": ">=", "value": min_auc},
            ),
            Step("register", "register", {"input": "train", "group": group}, ("auc-check",)),
        ),
    )
