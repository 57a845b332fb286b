"""Shared fixtures of the pruning tests: tiny zoo models at the small-input setting."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models import create_model
from lightweight_models.complexity import MacCounter

SMALL = {"small_input": True, "input_size": 32, "in_chans": 1, "num_classes": 10}


def small_model(name: str, **overrides: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **{**SMALL, **overrides}).eval()


def small_input(batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 1, 32, 32, generator=torch.Generator().manual_seed(1))


def macs(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), MacCounter(model) as counter:
        model(x)
    return counter.total


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)
