"""MobileNetV2 (Sandler et al., CVPR 2018): inverted residuals with linear bottlenecks."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightweight_models.args import check_input_size, check_positive, check_width_mult, make_divisible
from lightweight_models.blocks import ConvNormAct, InvertedResidual
from lightweight_models.registry import register_model

# expansion t, output channels c, repeats n, stride s of the first block (paper, Table 2)
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_STEM_CHS = 32
_HEAD_CHS = 1280


class MobileNetV2(nn.Module):
    """stem (3x3 s2 conv) / seven stages of inverted residuals / head (1x1 conv to 1280, pool, linear)."""

    default_input = 224

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        check_positive("num_classes", num_classes)
        check_positive("in_chans", in_chans)
        check_positive("round_divisor", round_divisor)
        width_mult = check_width_mult(width_mult)

        def chs(c: float) -> int:
            return make_divisible(c * width_mult, round_divisor)

        # small inputs (28-32 px): the stem and the first strided stage keep the resolution
        stem_stride = 1 if small_input else 2
        stage_strides = [s for _, _, _, s in _STAGES]
        if small_input:
            stage_strides[stage_strides.index(2)] = 1
        self.total_stride = stem_stride * math.prod(stage_strides)
        check_input_size(input_size, self.total_stride, "mobilenetv2")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=stem_stride, act="relu6")
        stages = []
        for (t, c, n, _), stride in zip(_STAGES, stage_strides):
            out, blocks = chs(c), []
            for i in range(n):
                # the reference rounds the expanded width to the nearest integer, not to a multiple of 8
                mid = round(prev * t)
                blocks.append(InvertedResidual(prev, out, mid, stride=stride if i == 0 else 1, act="relu6"))
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        # the head never narrows below 1280: the paper keeps it wide for width multipliers < 1
        self.num_features = make_divisible(_HEAD_CHS * max(1.0, width_mult), round_divisor)
        self.head = ConvNormAct(prev, self.num_features, 1, act="relu6")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.forward_features(x)).flatten(1)
        return self.classifier(self.drop(x))


@register_model(
    "mobilenetv2",
    family="mobilenetv2",
    default_input=224,
    reference="tv/mobilenet_v2",
    paper_macs_m=300,
    paper_source="MobileNetV2 (arXiv:1801.04381), Table 4 (1.0, 224: 300M multiply-adds)",
)
def mobilenetv2(**kwargs) -> MobileNetV2:
    return MobileNetV2(**kwargs)
