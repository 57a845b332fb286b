"""MobileNetV4 (Qin et al., 2024), the convolutional small model: plain convs early,
universal inverted bottlenecks (UIB) later."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from lightweight_models.args import check_input_size, check_positive, check_width_mult, make_divisible
from lightweight_models.blocks import ConvNormAct, UniversalInvertedBottleneck
from lightweight_models.registry import register_model


# Each layer spec builds its own module, so the stage loop needs no switch on the layer type.
class _Conv(NamedTuple):
    kernel: int
    stride: int
    out: int

    def build(self, in_chs: int, out_chs: int, stride: int, round_divisor: int) -> nn.Module:
        return ConvNormAct(in_chs, out_chs, self.kernel, stride=stride)


class _UIB(NamedTuple):
    start_dw: int  # 0: no start depthwise
    mid_dw: int  # 0: no mid depthwise
    stride: int
    expansion: float
    out: int

    def build(self, in_chs: int, out_chs: int, stride: int, round_divisor: int) -> nn.Module:
        mid = make_divisible(in_chs * self.expansion, round_divisor)
        return UniversalInvertedBottleneck(in_chs, out_chs, mid, self.start_dw, self.mid_dw, stride)


# MNv4-Conv-S as released by the authors (and in timm); a stage per resolution
_STAGES: tuple[tuple[_Conv | _UIB, ...], ...] = (
    (_Conv(3, 2, 32), _Conv(1, 1, 32)),
    (_Conv(3, 2, 96), _Conv(1, 1, 64)),
    (
        _UIB(5, 5, 2, 3, 96),  # ExtraDW
        *[_UIB(0, 3, 1, 2, 96)] * 4,  # inverted bottleneck
        _UIB(3, 0, 1, 4, 96),  # ConvNeXt-like
    ),
    (
        _UIB(3, 3, 2, 6, 128),  # ExtraDW
        _UIB(5, 5, 1, 4, 128),  # ExtraDW
        _UIB(0, 5, 1, 4, 128),  # inverted bottleneck
        _UIB(0, 5, 1, 3, 128),
        _UIB(0, 3, 1, 4, 128),
        _UIB(0, 3, 1, 4, 128),
    ),
)
_STEM_CHS = 32
_HEAD_CHS = 960
_HIDDEN = 1280


class MobileNetV4ConvSmall(nn.Module):
    """stem (3x3 s2) / two stages of plain convs, two of UIBs / head: 1x1 conv to 960,
    pool, a 1x1 conv + BN + ReLU to 1280 on the pooled map, linear classifier."""

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

        # small inputs (28-32 px): the stem and the first stage keep the resolution
        stem_stride = 1 if small_input else 2
        strides = [[layer.stride for layer in stage] for stage in _STAGES]
        if small_input:
            strides[0][0] = 1
        self.total_stride = stem_stride * math.prod(s for st in strides for s in st)
        check_input_size(input_size, self.total_stride, "mobilenetv4_conv_small")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=stem_stride)
        stages = []
        for stage, stage_strides in zip(_STAGES, strides):
            layers = []
            for layer, stride in zip(stage, stage_strides):
                out = chs(layer.out)
                layers.append(layer.build(prev, out, stride, round_divisor))
                prev = out
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = chs(_HEAD_CHS)
        self.head = ConvNormAct(prev, self.num_features, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # a conv (not a linear layer) on the pooled 1x1 map so its BN folds into it like any other
        self.pre_logits = ConvNormAct(self.num_features, _HIDDEN, 1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(_HIDDEN, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(self.pool(self.forward_features(x))).flatten(1)
        return self.classifier(self.drop(x))


@register_model(
    "mobilenetv4_conv_small",
    family="mobilenetv4",
    default_input=224,
    reference="timm/mobilenetv4_conv_small",
    paper_macs_m=200,
    paper_source="MobileNetV4 (arXiv:2404.10518), ImageNet-1k results table, Sec. 6.1 (MNv4-Conv-S: 0.2G MACs)",
)
def mobilenetv4_conv_small(**kwargs) -> MobileNetV4ConvSmall:
    return MobileNetV4ConvSmall(**kwargs)
