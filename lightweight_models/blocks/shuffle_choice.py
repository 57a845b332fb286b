"""The choice blocks of Single Path One-Shot (Guo et al., ECCV 2020) on ShuffleNetV2: a ShuffleNetV2 unit
with a kxk depthwise conv (3, 5 or 7) or the Xception-style unit (three depthwise 3x3 + pointwise pairs),
with a searchable middle width ("channel scale")."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.args import check_groups, check_positive
from lightweight_models.blocks.conv import ConvNormAct
from lightweight_models.blocks.shuffle import ChannelShuffle


class ShuffleChoiceUnit(nn.Module):
    """Stride 1: split the input in half, transform one half, concat, shuffle (ShuffleNetV2).
    Stride 2: a depthwise-downsampling projection of the whole input beside the transformed branch.

    ``mid_chs`` is the branch's inner width (SPOS scales it per layer); ``xception`` replaces
    pw -> dw kxk -> pw by dw3 -> pw -> dw3 -> pw -> dw3 -> pw, as in SPOS's ``Shuffle_Xception``.
    """

    def __init__(self, in_chs: int, out_chs: int, mid_chs: int, kernel_size: int = 3, stride: int = 1,
                 xception: bool = False) -> None:
        super().__init__()
        check_positive("ShuffleChoiceUnit mid_chs", mid_chs)
        check_groups("ShuffleChoiceUnit out_chs (two branches)", out_chs, 2)
        if stride == 1 and in_chs != out_chs:
            raise ValueError(f"ShuffleChoiceUnit: stride 1 needs in_chs == out_chs, got {in_chs} -> {out_chs}")
        half = out_chs // 2
        branch_in = in_chs if stride > 1 else half
        if stride > 1:
            self.proj = nn.Sequential(ConvNormAct(in_chs, in_chs, kernel_size, stride=stride, groups=in_chs,
                                                  act=None),
                                      ConvNormAct(in_chs, half, 1))
        else:
            self.proj = None
        if xception:
            self.branch = nn.Sequential(
                ConvNormAct(branch_in, branch_in, 3, stride=stride, groups=branch_in, act=None),
                ConvNormAct(branch_in, mid_chs, 1),
                ConvNormAct(mid_chs, mid_chs, 3, groups=mid_chs, act=None),
                ConvNormAct(mid_chs, mid_chs, 1),
                ConvNormAct(mid_chs, mid_chs, 3, groups=mid_chs, act=None),
                ConvNormAct(mid_chs, half, 1),
            )
        else:
            self.branch = nn.Sequential(
                ConvNormAct(branch_in, mid_chs, 1),
                ConvNormAct(mid_chs, mid_chs, kernel_size, stride=stride, groups=mid_chs, act=None),
                ConvNormAct(mid_chs, half, 1),
            )
        self.split = [half, half]
        self.shuffle = ChannelShuffle(out_chs, 2)
        self.in_chs, self.out_chs, self.mid_chs, self.stride = in_chs, out_chs, mid_chs, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is None:
            x1, x2 = x.split(self.split, dim=1)
            out = torch.cat((x1, self.branch(x2)), dim=1)
        else:
            out = torch.cat((self.proj(x), self.branch(x)), dim=1)
        return self.shuffle(out)
