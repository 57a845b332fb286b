"""MobileNetV4 (Qin et al., 2024), the convolutional small model: plain convs early,
universal inverted bottlenecks (UIB) later."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_input_size, make_divisible
from lightweight_models.base import ZooModel, plan_strides
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


class MobileNetV4ConvSmall(ZooModel):
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
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        strides = plan_strides([[layer.stride for layer in stage] for stage in _STAGES], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, "mobilenetv4_conv_small")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem)
        stages = []
        for stage, stage_strides in zip(_STAGES, strides.blocks):
            layers = []
            for layer, stride in zip(stage, stage_strides):
                out = chs(layer.out)
                layers.append(layer.build(prev, out, stride, chs.divisor))
                prev = out
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.num_features = chs(_HEAD_CHS)
        self.head = ConvNormAct(prev, self.num_features, 1)
        # a conv (not a linear layer) on the pooled 1x1 map so its BN folds into it like any other
        pre_logits = ConvNormAct(self.num_features, _HIDDEN, 1)
        self.init_classifier(_HIDDEN, num_classes, drop_rate, pre_logits=pre_logits)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(self.pool(x)).flatten(1)
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
