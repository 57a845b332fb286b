"""Network slimming's sparsity term: lambda * sum |gamma| over BatchNorm scales.

Shaped as a wrapper of the training criterion ``criterion(logits, targets, inputs)`` that
``experiments.training.fit`` takes, so slimming needs no change to the training loop and
composes with distillation losses (wrap the KD criterion).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def bn_scales(model: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]


class SlimmingPenalty:
    """``base(logits, y, x) + strength * sum |gamma|``; Liu et al. use strength 1e-4 to 1e-5."""

    def __init__(self, model: nn.Module, strength: float, base: Criterion | None = None) -> None:
        if strength < 0:
            raise ValueError(f"slimming strength must be >= 0, got {strength}")
        self.scales = bn_scales(model)
        if not self.scales:
            raise ValueError(f"{type(model).__name__} has no affine BatchNorm layer to slim")
        self.strength = strength
        ce = nn.CrossEntropyLoss()
        self.base = base or (lambda logits, y, x: ce(logits, y))

    def penalty(self) -> torch.Tensor:
        return self.strength * sum(g.abs().sum() for g in self.scales)

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.base(logits, targets, inputs) + self.penalty()
