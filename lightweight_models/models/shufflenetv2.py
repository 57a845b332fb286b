"""ShuffleNetV2 (Ma et al., ECCV 2018): channel split, a light branch, concat, shuffle."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_groups, check_input_size
from lightweight_models.base import ZooModel, register_variant
from lightweight_models.blocks import ChannelShuffle, ConvNormAct

# output channels of stem, stage2..4 and the final 1x1 conv (paper, Table 5)
_STAGE_CHANNELS = {
    "x0_5": (24, 48, 96, 192, 1024),
    "x1_0": (24, 116, 232, 464, 1024),
    "x1_5": (24, 176, 352, 704, 1024),
    "x2_0": (24, 244, 488, 976, 2048),
}
_STAGE_REPEATS = (4, 8, 4)
# ShuffleNetV2 paper (arXiv:1807.11164), Table 5, "FLOPs" (= multiply-adds) at 224 px
_PAPER_MACS_M = {"x0_5": 41, "x1_0": 146, "x1_5": 299, "x2_0": 591}


class ShuffleV2Unit(nn.Module):
    """One ShuffleNetV2 unit.

    Stride 1: split channels in half, transform one half, concat, shuffle.
    Stride 2: both halves see the whole input (a depthwise-downsampling branch and
    the main branch), so the unit doubles the channels and halves the resolution.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        check_groups("ShuffleV2Unit out_chs (two branches)", out_chs, 2)
        if stride == 1 and in_chs != out_chs:
            raise ValueError(f"ShuffleV2Unit: stride 1 needs in_chs == out_chs, got {in_chs} -> {out_chs}")
        branch = out_chs // 2
        self.stride, self.split = stride, [branch, branch]
        if stride > 1:
            self.branch1 = nn.Sequential(
                ConvNormAct(in_chs, in_chs, 3, stride=stride, groups=in_chs, act=None),
                ConvNormAct(in_chs, branch, 1),
            )
        else:
            self.branch1 = None
        self.branch2 = nn.Sequential(
            ConvNormAct(in_chs if stride > 1 else branch, branch, 1),
            ConvNormAct(branch, branch, 3, stride=stride, groups=branch, act=None),
            ConvNormAct(branch, branch, 1),
        )
        self.shuffle = ChannelShuffle(out_chs, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            # split with static sizes exports to one ONNX Split (chunk adds shape arithmetic)
            x1, x2 = x.split(self.split, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return self.shuffle(out)


class ShuffleNetV2(ZooModel):
    """stem (conv + max pool) / three stages of ShuffleV2Units / head (1x1 conv, pool, linear)."""

    default_input = 224

    def __init__(
        self,
        variant: str = "x1_0",
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        if variant not in _STAGE_CHANNELS:
            raise ValueError(f"variant must be one of {sorted(_STAGE_CHANNELS)}, got {variant!r}")
        width = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        # Paper widths (116, 244 ...) are not multiples of 8, so width 1.0 keeps the table
        # verbatim; other widths round to a multiple of round_divisor that is also even
        # (every unit splits its channels in two).
        even = width.with_divisor(math.lcm(width.divisor, 2))
        chs = [c if width.mult == 1.0 else even(c) for c in _STAGE_CHANNELS[variant]]
        stem_chs, *stage_chs, head_chs = chs
        # small inputs (28-32 px) drop the stem's two stride-2 steps: total stride 8
        stem_stride = 1 if small_input else 2
        self.total_stride = 8 if small_input else 32
        check_input_size(input_size, self.total_stride, f"shufflenetv2_{variant}")

        self.stem = nn.Sequential(
            ConvNormAct(in_chans, stem_chs, 3, stride=stem_stride),
            nn.MaxPool2d(3, stride=2, padding=1) if not small_input else nn.Identity(),
        )
        stages, prev = [], stem_chs
        for out, repeats in zip(stage_chs, _STAGE_REPEATS):
            units = [ShuffleV2Unit(prev, out, 2)] + [ShuffleV2Unit(out, out, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*units))
            prev = out
        self.stages = nn.Sequential(*stages)
        self.head = ConvNormAct(prev, head_chs, 1)
        self.num_features = head_chs
        self.init_classifier(head_chs, num_classes, drop_rate)


for _variant in _STAGE_CHANNELS:
    register_variant(
        f"shufflenetv2_{_variant}",
        ShuffleNetV2,
        {"variant": _variant},
        family="shufflenetv2",
        default_input=224,
        reference=f"tv/shufflenet_v2_{_variant}",
        paper_macs_m=_PAPER_MACS_M[_variant],
        paper_source="ShuffleNetV2 (arXiv:1807.11164), Table 5",
    )
