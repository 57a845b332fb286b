"""MobileNetV3 (Howard et al., ICCV 2019): searched inverted residuals with SE and h-swish."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from lightweight_models.args import check_input_size, check_positive, check_width_mult, make_divisible
from lightweight_models.blocks import ConvNormAct, InvertedResidual
from lightweight_models.registry import register_model


class _Block(NamedTuple):
    kernel: int
    expanded: int
    out: int
    se: bool
    act: str
    stride: int


def _stages(*rows: tuple[tuple, ...]) -> tuple[tuple[_Block, ...], ...]:
    return tuple(tuple(_Block(*b) for b in stage) for stage in rows)


# paper Table 1 (Large) and Table 2 (Small); a stage starts at each stride-2 block
_LARGE = _stages(
    ((3, 16, 16, False, "relu", 1),),
    ((3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1)),
    ((5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1)),
    (
        (3, 240, 80, False, "hswish", 2),
        (3, 200, 80, False, "hswish", 1),
        (3, 184, 80, False, "hswish", 1),
        (3, 184, 80, False, "hswish", 1),
    ),
    ((3, 480, 112, True, "hswish", 1), (3, 672, 112, True, "hswish", 1)),
    ((5, 672, 160, True, "hswish", 2), (5, 960, 160, True, "hswish", 1), (5, 960, 160, True, "hswish", 1)),
)
_SMALL = _stages(
    ((3, 16, 16, True, "relu", 2),),
    ((3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1)),
    ((5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 240, 40, True, "hswish", 1)),
    ((5, 120, 48, True, "hswish", 1), (5, 144, 48, True, "hswish", 1)),
    ((5, 288, 96, True, "hswish", 2), (5, 576, 96, True, "hswish", 1), (5, 576, 96, True, "hswish", 1)),
)


class _Variant(NamedTuple):
    stages: tuple[tuple[_Block, ...], ...]
    hidden: int  # width of the post-pool layer before the classifier
    paper_macs_m: int


# MobileNetV3 paper (arXiv:1905.02244), Table 3: Large 1.0 219M, Small 1.0 56M multiply-adds at 224 px
_VARIANTS = {"large": _Variant(_LARGE, 1280, 219), "small": _Variant(_SMALL, 1024, 56)}
_STEM_CHS = 16
# the last 1x1 conv is 6x the last stage's width in both variants
_HEAD_EXPANSION = 6


class MobileNetV3(nn.Module):
    """stem (3x3 s2, h-swish) / stages of inverted residuals (some with SE) / head:
    1x1 conv, pool, a hidden linear layer with h-swish, linear classifier."""

    default_input = 224

    def __init__(
        self,
        variant: str = "large",
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
        check_positive("num_classes", num_classes)
        check_positive("in_chans", in_chans)
        check_positive("round_divisor", round_divisor)
        width_mult = check_width_mult(width_mult)
        spec = _VARIANTS[variant]

        def chs(c: float) -> int:
            return make_divisible(c * width_mult, round_divisor)

        # small inputs (28-32 px): the stem and the first strided block keep the resolution
        stem_stride = 1 if small_input else 2
        strides = [[b.stride for b in stage] for stage in spec.stages]
        if small_input:
            first = next((i, j) for i, st in enumerate(strides) for j, s in enumerate(st) if s == 2)
            strides[first[0]][first[1]] = 1
        self.total_stride = stem_stride * math.prod(s for st in strides for s in st)
        check_input_size(input_size, self.total_stride, f"mobilenetv3_{variant}")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=stem_stride, act="hswish")
        stages = []
        for stage, stage_strides in zip(spec.stages, strides):
            blocks = []
            for b, stride in zip(stage, stage_strides):
                mid, out = chs(b.expanded), chs(b.out)
                # the reference's SE reduction: a quarter of the expanded width, rounded like the channels
                se = make_divisible(mid // 4, round_divisor) if b.se else 0
                blocks.append(
                    InvertedResidual(
                        prev, out, mid, b.kernel, stride, act=b.act, se_channels=se, se_act="relu", se_gate="hsigmoid"
                    )
                )
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = _HEAD_EXPANSION * prev
        self.head = ConvNormAct(prev, self.num_features, 1, act="hswish")
        self.pool = nn.AdaptiveAvgPool2d(1)
        hidden = chs(spec.hidden)
        self.pre_logits = nn.Sequential(nn.Linear(self.num_features, hidden), nn.Hardswish(inplace=True))
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(self.pool(self.forward_features(x)).flatten(1))
        return self.classifier(self.drop(x))


def _register(variant: str) -> None:
    name = f"mobilenetv3_{variant}"

    def build(**kwargs) -> MobileNetV3:
        return MobileNetV3(variant=variant, **kwargs)

    build.__name__ = name
    register_model(
        name,
        family="mobilenetv3",
        default_input=224,
        reference=f"tv/mobilenet_v3_{variant}",
        paper_macs_m=_VARIANTS[variant].paper_macs_m,
        paper_source="MobileNetV3 (arXiv:1905.02244), Table 3",
    )(build)


for _variant in _VARIANTS:
    _register(_variant)
