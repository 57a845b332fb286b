"""Per-layer sensitivity: prune one channel group (or one attention's heads) at a time, measure,
and propose per-layer ratios.

The evaluation is injected (``evaluate(model) -> accuracy``) so that the analysis works
with any data and metric, and tests can use a cheap proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from compression.pruning.dependency import analyze
from compression.pruning.heads import find_attentions
from compression.pruning.structured import check_ratio, prune_structured

Evaluate = Callable[[nn.Module], float]


def prunable_group_roots(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Names of the first layer of every prunable channel group (what ``layer_ratios`` accepts)."""
    return analyze(model, example_input).group_root_names()


def pruning_targets(model: nn.Module, example_input: torch.Tensor) -> list[str]:
    """Everything ``layer_ratios`` accepts: the channel group roots, then every attention whose
    heads can be pruned (its ratio is then a head ratio)."""
    return prunable_group_roots(model, example_input) + list(find_attentions(model)[0].values())


def layer_sensitivity(
    model: nn.Module,
    example_input: torch.Tensor,
    evaluate: Evaluate,
    ratios: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    importance: str = "l1",
    round_to: int = 1,
    layers: Sequence[str] | None = None,
) -> dict[str, dict[float, float]]:
    """``{layer: {ratio: metric}}`` with only that layer's group pruned at that ratio."""
    ratios = [check_ratio(r, "sensitivity ratio") for r in ratios]
    names = list(layers) if layers is not None else pruning_targets(model, example_input)
    table: dict[str, dict[float, float]] = {}
    for name in names:
        table[name] = {}
        for ratio in ratios:
            pruned = prune_structured(
                model, example_input, 0.0, layer_ratios={name: ratio}, importance=importance, round_to=round_to
            )
            table[name][ratio] = float(evaluate(pruned.model))
    return table


def propose_ratios(table: dict[str, dict[float, float]], baseline: float, max_drop: float) -> dict[str, float]:
    """For each layer, the largest tested ratio whose metric stays within ``max_drop`` of ``baseline``."""
    proposal: dict[str, float] = {}
    for name, by_ratio in table.items():
        ok = [r for r, metric in by_ratio.items() if baseline - metric <= max_drop]
        proposal[name] = max(ok, default=0.0)
    return proposal
