"""ShuffleNet (V1; Zhang et al., CVPR 2018): grouped 1x1 convolutions + channel shuffle."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_groups, check_input_size
from lightweight_models.base import ZooModel, register_variant
from lightweight_models.blocks import ChannelShuffle, ConvNormAct

# ShuffleNet 1x, paper (arXiv:1707.01083) Table 1: output channels of stages 2-4 per
# group count, and the complexity column ("FLOPs" = multiply-adds) at 224 px
_STAGE_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
_PAPER_MACS_M = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
_STAGE_REPEATS = (4, 8, 4)
_STEM_CHS = 24


class ShuffleV1Unit(nn.Module):
    """GConv 1x1 (bottleneck) -> shuffle -> depthwise 3x3 (stride) -> GConv 1x1 (linear),
    then ReLU(x + branch) at stride 1, or [avg-pooled x, ReLU(branch)] concatenated at
    stride 2 (the branch then produces only ``out_chs - in_chs`` channels).

    The bottleneck is a quarter of the unit's output (paper, Sec. 3.3).
    ``first_pointwise_groups`` lets the first unit of stage 2 use an ungrouped 1x1,
    because its input (24 channels) is too narrow to split (paper, Sec. 3.3).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int, groups: int,
                 first_pointwise_groups: int | None = None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleV1Unit: stride must be 1 or 2, got {stride}")
        if stride == 1 and in_chs != out_chs:
            raise ValueError(f"ShuffleV1Unit: stride 1 needs in_chs == out_chs, got {in_chs} -> {out_chs}")
        mid = out_chs // 4
        branch_out = out_chs - in_chs if stride == 2 else out_chs
        check_groups("ShuffleV1Unit bottleneck (out_chs / 4)", mid, groups)
        check_groups("ShuffleV1Unit branch output", branch_out, groups)
        if branch_out <= 0:
            raise ValueError(f"ShuffleV1Unit: out_chs={out_chs} must exceed in_chs={in_chs} at stride 2")
        pw_groups = groups if first_pointwise_groups is None else first_pointwise_groups
        self.conv_pw = ConvNormAct(in_chs, mid, 1, groups=pw_groups)
        self.shuffle = ChannelShuffle(mid, groups) if groups > 1 else nn.Identity()
        self.conv_dw = ConvNormAct(mid, mid, 3, stride=stride, groups=mid, act=None)
        self.conv_pwl = ConvNormAct(mid, branch_out, 1, groups=groups, act=None)
        self.shortcut_pool = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None
        self.act = nn.ReLU(inplace=True)
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.conv_pwl(self.conv_dw(self.shuffle(self.conv_pw(x))))
        if self.shortcut_pool is None:
            return self.act(x + branch)
        return torch.cat((self.shortcut_pool(x), self.act(branch)), dim=1)


class ShuffleNetV1(ZooModel):
    """stem (3x3/2 conv + max pool) / three stages of ShuffleV1Units / head (pool, linear)."""

    default_input = 224

    def __init__(
        self,
        groups: int = 3,
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        if groups not in _STAGE_CHANNELS:
            raise ValueError(f"groups must be one of {sorted(_STAGE_CHANNELS)}, got {groups}")
        width = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        # stage widths must split into groups after the /4 bottleneck, and the stem into
        # groups (a stride-2 unit's branch adds out - in channels): round to multiples of
        # lcm(round_divisor, 4 * groups) and lcm(round_divisor, groups). The paper's widths
        # already are, so width 1.0 reproduces Table 1 exactly.
        stem_chs = width.with_divisor(math.lcm(width.divisor, groups))(_STEM_CHS)
        stage_width = width.with_divisor(math.lcm(width.divisor, 4 * groups))
        stage_chs = [stage_width(c) for c in _STAGE_CHANNELS[groups]]
        self.groups = groups
        # small inputs (28-32 px) drop the stem's two stride-2 steps: total stride 8
        self.total_stride = 8 if small_input else 32
        check_input_size(input_size, self.total_stride, f"shufflenetv1_g{groups}")

        self.stem = nn.Sequential(
            ConvNormAct(in_chans, stem_chs, 3, stride=1 if small_input else 2),
            nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, prev = [], stem_chs
        for i, (out, repeats) in enumerate(zip(stage_chs, _STAGE_REPEATS)):
            units = [ShuffleV1Unit(prev, out, 2, groups, first_pointwise_groups=1 if i == 0 else None)]
            units += [ShuffleV1Unit(out, out, 1, groups) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            prev = out
        self.stages = nn.Sequential(*stages)
        # the paper's network ends at stage 4 (no extra 1x1 head conv)
        self.head = nn.Identity()
        self.num_features = prev
        self.init_classifier(prev, num_classes, drop_rate)


for _groups in _STAGE_CHANNELS:
    register_variant(
        f"shufflenetv1_g{_groups}",
        ShuffleNetV1,
        {"groups": _groups},
        family="shufflenetv1",
        default_input=224,
        reference=None,
        paper_macs_m=_PAPER_MACS_M[_groups],
        paper_source="ShuffleNet (arXiv:1707.01083), Table 1 (ShuffleNet 1x)",
    )
