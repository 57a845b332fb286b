"""Squeeze-and-excitation (MobileNetV3, EfficientNet, GhostNet)."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.blocks.activations import get_activation


class SqueezeExcite(nn.Module):
    """Global pool -> reduce (1x1 conv) -> act -> expand (1x1 conv) -> gate -> scale.

    ``rd_channels`` is the reduced width; families compute it with their own
    rounding rule so parameter counts match the references exactly.
    """

    def __init__(self, channels: int, rd_channels: int, act: str = "relu", gate: str = "sigmoid") -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = get_activation(act)
        self.conv_expand = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = get_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.conv_expand(self.act(self.conv_reduce(self.pool(x)))))
        return x * s
