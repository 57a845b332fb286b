"""Conv -> norm -> activation, the unit every convolutional family is made of."""

from __future__ import annotations

from torch import nn

from lightweight_models.args import check_groups
from lightweight_models.blocks.activations import get_activation


class ConvNormAct(nn.Sequential):
    """``Conv2d`` (no bias when normalized) + ``BatchNorm2d`` + activation.

    Children are named ``conv``, ``bn``, ``act`` so that BN folding and
    structured pruning can find the coupled tensors by name.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        padding: int | None = None,
        norm: bool = True,
        act: str | None = "relu",
        bias: bool | None = None,
    ) -> None:
        check_groups("ConvNormAct in_chs", in_chs, groups)
        check_groups("ConvNormAct out_chs", out_chs, groups)
        if padding is None:
            padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        super().__init__()
        self.conv = nn.Conv2d(
            in_chs,
            out_chs,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=(not norm) if bias is None else bias,
        )
        self.bn = nn.BatchNorm2d(out_chs) if norm else nn.Identity()
        self.act = get_activation(act)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride
