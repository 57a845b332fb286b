"""Depthwise-separable convolution (MobileNetV1): a per-channel spatial conv, then a 1x1 mix."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.se import SqueezeExcite


class DepthwiseSeparableConv(nn.Module):
    """Depthwise kxk (stride here) -> [squeeze-excite] -> pointwise 1x1.

    ``pw_act=False`` makes the pointwise conv linear (the "linear bottleneck" form).
    ``se_channels`` is the SE's reduced width (0: no SE); the family computes it
    with its own rounding rule. The identity shortcut is added only when
    ``residual`` is asked for and the shapes allow it (stride 1, same width).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str | None = "relu",
        pw_act: bool = True,
        se_channels: int = 0,
        se_act: str = "relu",
        se_gate: str = "sigmoid",
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv_dw = ConvNormAct(in_chs, in_chs, kernel_size, stride=stride, groups=in_chs, act=act)
        self.se = SqueezeExcite(in_chs, se_channels, se_act, se_gate) if se_channels else nn.Identity()
        self.conv_pw = ConvNormAct(in_chs, out_chs, 1, act=act if pw_act else None)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
        self.has_skip = residual and stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pw(self.se(self.conv_dw(x)))
        return out + x if self.has_skip else out
