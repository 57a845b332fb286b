"""Objectives and constraints by name: what a trial's metrics dict is scored on.

    accuracy  val_top1      maximize   (validation, never test)
    latency   latency_ms    minimize   (the engine, measured)
    memory    arena_bytes   minimize   (the engine's activation arena)
    size      params        minimize
    macs      macs          minimize
    file_size slm_bytes     minimize

A constraint is ``"<objective or metric> <= <bound>"`` (or ``>=``), e.g. ``latency<=2.5``, ``params<=5e5``,
``accuracy>=80``; Optuna records it with ``trial.set_constraint`` as ``value - bound`` (``<=``), feasible
when <= 0, which every constrained Optuna sampler reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from configs.registry import Registry


@dataclass(frozen=True)
class Objective:
    name: str
    metric: str
    direction: str  # "maximize" | "minimize"
    unit: str = ""

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


OBJECTIVES: Registry[Objective] = Registry("objective")
for _o in (Objective("accuracy", "val_top1", "maximize", "%"), Objective("latency", "latency_ms", "minimize", "ms"),
           Objective("memory", "arena_bytes", "minimize", "B"), Objective("size", "params", "minimize"),
           Objective("macs", "macs", "minimize"), Objective("file_size", "slm_bytes", "minimize", "B")):
    OBJECTIVES.add(_o.name, _o)


def objectives(names: Sequence[str]) -> list[Objective]:
    """The objectives ``names`` in order; an unknown name lists the valid ones, a repeated one is an error."""
    if not names:
        raise ValueError(f"nas.objectives is empty; choose from {', '.join(OBJECTIVES.names())}")
    if len(set(names)) != len(names):
        raise ValueError(f"nas.objectives lists a name twice: {list(names)}")
    return [OBJECTIVES.get(n) for n in names]


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    text: str
    metric: str
    op: str  # "<=" | ">="
    bound: float

    @property
    def key(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, metrics: Mapping[str, Any]) -> float | None:
        """> 0 when violated, <= 0 when met; None when the metric is not measured (yet)."""
        value = metrics.get(self.metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value) - self.bound if self.op == "<=" else self.bound - float(value)


def metric_names() -> list[str]:
    return sorted({o.metric for o in (OBJECTIVES.get(n) for n in OBJECTIVES.names())} | {"peak_activation_bytes"})


def constraint(text: str) -> Constraint:
    """Parse ``"latency<=2.5"``; the left side is an objective name or a metric name."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise ValueError(f"constraint {text!r} is not of the form '<name> <= <number>' or '<name> >= <number>'")
    name, op, bound = m.group(1), m.group(2), float(m.group(3))
    if name in OBJECTIVES:
        metric = OBJECTIVES.get(name).metric
    elif name in metric_names():
        metric = name
    else:
        raise ValueError(f"constraint {text!r}: unknown name '{name}'; valid: objectives "
                         f"{', '.join(OBJECTIVES.names())} or metrics {', '.join(metric_names())}")
    return Constraint(text.strip(), metric, op, bound)


def constraints(texts: Sequence[str]) -> list[Constraint]:
    return [constraint(t) for t in texts]


def values(objs: Sequence[Objective], metrics: Mapping[str, Any]) -> list[float]:
    missing = [o.metric for o in objs if metrics.get(o.metric) is None]
    if missing:
        raise KeyError(f"the evaluation returned no {', '.join(missing)} (got {', '.join(sorted(metrics))})")
    return [float(metrics[o.metric]) for o in objs]
