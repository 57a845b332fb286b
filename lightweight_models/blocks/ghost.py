"""Ghost module and Ghost bottleneck (GhostNet, Han et al., CVPR 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.se import SqueezeExcite


class GhostModule(nn.Module):
    """A 1x1 conv makes ``ceil(out / ratio)`` "intrinsic" maps; a cheap depthwise conv
    derives the remaining "ghost" maps from them; both are concatenated.

    Feature maps of trained CNNs are largely redundant, so most of them can be
    produced by a cheap linear op instead of a full conv (paper, Sec. 3.1).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        ratio: int = 2,
        kernel_size: int = 1,
        dw_size: int = 3,
        act: str | None = "relu",
    ) -> None:
        super().__init__()
        if int(ratio) != ratio or ratio < 2:
            raise ValueError(f"GhostModule: ratio must be an integer >= 2, got {ratio}")
        init_chs = math.ceil(out_chs / ratio)
        self.primary_conv = ConvNormAct(in_chs, init_chs, kernel_size, act=act)
        self.cheap_operation = ConvNormAct(init_chs, init_chs * (ratio - 1), dw_size, groups=init_chs, act=act)
        self.in_chs, self.out_chs = in_chs, out_chs
        # ceil() may give a few channels too many; known at build time, so the trim is a static Slice
        self.trim = init_chs * ratio != out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_conv(x)
        out = torch.cat((x1, self.cheap_operation(x1)), dim=1)
        return out[:, : self.out_chs] if self.trim else out


class GhostBottleneck(nn.Module):
    """Ghost module (expand, act) -> [depthwise kxk when strided] -> [SE] -> Ghost module (project, linear).

    The shortcut is the identity when stride is 1 and the width is unchanged,
    otherwise a depthwise kxk + 1x1 projection, as in the reference code.
    """

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        se_channels: int = 0,
        act: str = "relu",
        se_act: str = "relu",
        se_gate: str = "hsigmoid",
    ) -> None:
        super().__init__()
        self.ghost1 = GhostModule(in_chs, mid_chs, act=act)
        if stride > 1:
            self.conv_dw = ConvNormAct(mid_chs, mid_chs, kernel_size, stride=stride, groups=mid_chs, act=None)
        else:
            self.conv_dw = nn.Identity()
        self.se = SqueezeExcite(mid_chs, se_channels, se_act, se_gate) if se_channels else nn.Identity()
        self.ghost2 = GhostModule(mid_chs, out_chs, act=None)
        if stride == 1 and in_chs == out_chs:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                ConvNormAct(in_chs, in_chs, kernel_size, stride=stride, groups=in_chs, act=None),
                ConvNormAct(in_chs, out_chs, 1, act=None),
            )
        self.in_chs, self.mid_chs, self.out_chs, self.stride = in_chs, mid_chs, out_chs, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.ghost2(self.se(self.conv_dw(self.ghost1(x))))
        return out + self.shortcut(x)
