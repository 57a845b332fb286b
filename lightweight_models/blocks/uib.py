"""Universal inverted bottleneck (MobileNetV4, Qin et al., 2024)."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.blocks.conv import ConvNormAct


class UniversalInvertedBottleneck(nn.Module):
    """[depthwise (start)] -> 1x1 expand -> [depthwise (mid)] -> 1x1 linear project.

    The two optional depthwise convs give the paper's four instantiations
    (Sec. 3.1, Fig. 4) from one block: both -> ExtraDW, mid only -> the classic
    inverted bottleneck, start only -> ConvNeXt-like, neither -> FFN. A kernel
    size of 0 leaves that depthwise conv out. The stride goes on the mid
    depthwise when there is one (downsampling after expansion keeps more
    information), else on the start one; an FFN cannot downsample. The start
    depthwise has no activation, as in the reference.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        mid_chs: int,
        start_dw_kernel: int = 0,
        mid_dw_kernel: int = 3,
        stride: int = 1,
        act: str | None = "relu",
        residual: bool = True,
    ) -> None:
        super().__init__()
        if start_dw_kernel < 0 or mid_dw_kernel < 0:
            raise ValueError(
                f"UniversalInvertedBottleneck: kernel sizes must be >= 0 (0 = none), "
                f"got start_dw_kernel={start_dw_kernel}, mid_dw_kernel={mid_dw_kernel}"
            )
        if stride > 1 and not (start_dw_kernel or mid_dw_kernel):
            raise ValueError(
                f"UniversalInvertedBottleneck: stride={stride} needs a depthwise conv "
                "(start_dw_kernel or mid_dw_kernel > 0); the FFN form cannot downsample"
            )
        start_stride = 1 if mid_dw_kernel else stride
        self.dw_start = (
            ConvNormAct(in_chs, in_chs, start_dw_kernel, stride=start_stride, groups=in_chs, act=None)
            if start_dw_kernel
            else nn.Identity()
        )
        self.pw_exp = ConvNormAct(in_chs, mid_chs, 1, act=act)
        self.dw_mid = (
            ConvNormAct(mid_chs, mid_chs, mid_dw_kernel, stride=stride, groups=mid_chs, act=act)
            if mid_dw_kernel
            else nn.Identity()
        )
        self.pw_proj = ConvNormAct(mid_chs, out_chs, 1, act=None)
        self.in_chs, self.mid_chs, self.out_chs, self.stride = in_chs, mid_chs, out_chs, stride
        self.has_skip = residual and stride == 1 and in_chs == out_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pw_proj(self.dw_mid(self.pw_exp(self.dw_start(x))))
        return out + x if self.has_skip else out
