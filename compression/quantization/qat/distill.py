"""Distillation from the fp32 model during QAT: ``(1 - w) * CE + w * T^2 * KL(teacher || student)``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def distillation_loss(
    teacher: nn.Module, weight: float, temperature: float
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distillation weight must be in [0, 1], got {weight}")
    if temperature <= 0:
        raise ValueError(f"distillation temperature must be > 0, got {temperature}")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            soft = F.softmax(teacher(inputs) / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        return (1 - weight) * F.cross_entropy(logits, targets) + weight * temperature**2 * kl

    return loss
