"""Latency-driven pruning (NetAdapt, Yang et al. 2018) with an injected latency measurement.

Each step tries pruning every channel group (and every attention's heads) a little more,
measures each candidate's latency and accuracy, and keeps the one that loses the least
accuracy per millisecond it saves, until the latency budget is met. MACs are not trusted for
speed: the measurement is whatever ``latency_ms(model)`` says; callers above this layer pass
``measure.latency_fn`` (the bundled engine, cached by engine file), tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from compression.pruning.errors import PruningError
from compression.pruning.sensitivity import Evaluate, pruning_targets
from compression.pruning.shapes import ShapeSpec, pruned_shapes
from compression.pruning.structured import check_ratio, prune_structured

LatencyFn = Callable[[nn.Module], float]


@dataclass
class NetAdaptStep:
    layer: str
    latency_ms: float
    metric: float


@dataclass
class NetAdaptResult:
    model: nn.Module
    pruned_shapes: ShapeSpec
    latency_ms_before: float
    latency_ms_after: float
    steps: list[NetAdaptStep] = field(default_factory=list)
    reached_budget: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms_before": self.latency_ms_before,
            "latency_ms_after": self.latency_ms_after,
            "reached_budget": self.reached_budget,
            "steps": [vars(s) for s in self.steps],
        }


def netadapt(
    model: nn.Module,
    example_input: torch.Tensor,
    budget_ms: float,
    latency_ms: LatencyFn,
    evaluate: Evaluate,
    *,
    step_ratio: float = 0.25,
    max_steps: int = 20,
    importance: str = "l1",
    round_to: int = 8,
) -> NetAdaptResult:
    """Prune ``model`` (untouched; the result is a copy) until ``latency_ms`` is at most ``budget_ms``."""
    if budget_ms <= 0:
        raise PruningError(f"latency budget must be positive, got {budget_ms}")
    check_ratio(step_ratio, "step_ratio")
    current, lat, metric = model, latency_ms(model), evaluate(model)
    result = NetAdaptResult(model, {}, lat, lat)
    for _ in range(max_steps):
        if lat <= budget_ms:
            break
        best: tuple[float, nn.Module, NetAdaptStep] | None = None
        for layer in pruning_targets(current, example_input):
            candidate = prune_structured(
                current, example_input, 0.0, layer_ratios={layer: step_ratio}, importance=importance, round_to=round_to
            ).model
            saved = lat - latency_ms(candidate)
            if saved <= 0:
                continue  # rounding kept the width, or the engine did not get faster
            cand_metric = evaluate(candidate)
            cost = (metric - cand_metric) / saved
            if best is None or cost < best[0]:
                best = (cost, candidate, NetAdaptStep(layer, lat - saved, cand_metric))
        if best is None:
            break
        _, current, step = best
        lat, metric = step.latency_ms, step.metric
        result.steps.append(step)
    result.model, result.latency_ms_after = current, lat
    result.pruned_shapes = pruned_shapes(current, model)
    result.reached_budget = lat <= budget_ms
    return result
