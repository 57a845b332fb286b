"""Inverted residual with linear bottleneck (MobileNetV2), optionally with
squeeze-excite (MobileNetV3, EfficientNet's MBConv)."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.se import SqueezeExcite


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise kxk (stride here) -> [squeeze-excite] -> 1x1 linear project.

    ``mid_chs`` is the expanded width; each family rounds it its own way (V2
    rounds ``in * t``, V3 lists it, EfficientNet rounds to a multiple of 8), so
    it is passed in rather than derived from an expansion ratio. When
    ``mid_chs == in_chs`` there is nothing to expand and the 1x1 expansion is
    left out, exactly as in the references (the block is then a
    depthwise-separable conv with a linear pointwise). The projection has no
    activation: the paper's point is that a ReLU in the narrow bottleneck loses
    information. The identity shortcut is added when stride is 1 and the width
    is unchanged (and ``residual`` is not switched off).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        mid_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str | None = "relu6",
        se_channels: int = 0,
        se_act: str = "relu",
        se_gate: str = "sigmoid",
        residual: bool = True,
    ) -> None:
        super().__init__()
        for arg, value in (("in_chs", in_chs), ("out_chs", out_chs), ("mid_chs", mid_chs)):
            if value <= 0:
                raise ValueError(f"InvertedResidual: {arg} must be positive, got {value}")
        self.conv_pw = ConvNormAct(in_chs, mid_chs, 1, act=act) if mid_chs != in_chs else nn.Identity()
        self.conv_dw = ConvNormAct(mid_chs, mid_chs, kernel_size, stride=stride, groups=mid_chs, act=act)
        self.se = SqueezeExcite(mid_chs, se_channels, se_act, se_gate) if se_channels else nn.Identity()
        self.conv_pwl = ConvNormAct(mid_chs, out_chs, 1, act=None)
        self.in_chs, self.mid_chs, self.out_chs, self.stride = in_chs, mid_chs, out_chs, stride
        self.has_skip = residual and stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return out + x if self.has_skip else out
