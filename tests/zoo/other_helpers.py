"""Counting helpers shared by the test_other_* zoo tests."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# CI shares 2 cores between many processes; intra-op threads then slow these small
# forwards down by 10x or more (measured: 0.19 s vs 3.7 s for one MobileViT pass)
torch.set_num_threads(1)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int, in_chans: int = 3) -> float:
    """Multiply-adds of one image (FlopCounterMode counts a MAC as two FLOPs)."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, in_chans, size, size))
    return counter.get_total_flops() / 2
