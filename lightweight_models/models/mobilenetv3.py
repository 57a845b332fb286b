"""MobileNetV3 (Howard et al., ICCV 2019): searched inverted residuals with SE and h-swish."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, plan_strides, register_variant
from lightweight_models.blocks import ConvNormAct, InvertedResidual


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


class MobileNetV3(ZooModel):
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
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        spec = _VARIANTS[variant]
        strides = plan_strides([[b.stride for b in stage] for stage in spec.stages], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, f"mobilenetv3_{variant}")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem, act="hswish")
        stages = []
        for stage, stage_strides in zip(spec.stages, strides.blocks):
            blocks = []
            for b, stride in zip(stage, stage_strides):
                mid, out = chs(b.expanded), chs(b.out)
                # the reference's SE reduction: a quarter of the expanded width, rounded like the channels
                se = chs.round(mid // 4) if b.se else 0
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
        hidden = chs(spec.hidden)
        pre_logits = nn.Sequential(nn.Linear(self.num_features, hidden), nn.Hardswish(inplace=True))
        self.init_classifier(hidden, num_classes, drop_rate, pre_logits=pre_logits)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(self.pool(x).flatten(1))
        return self.classifier(self.drop(x))


for _variant, _spec in _VARIANTS.items():
    register_variant(
        f"mobilenetv3_{_variant}",
        MobileNetV3,
        {"variant": _variant},
        family="mobilenetv3",
        default_input=224,
        reference=f"tv/mobilenet_v3_{_variant}",
        paper_macs_m=_spec.paper_macs_m,
        paper_source="MobileNetV3 (arXiv:1905.02244), Table 3",
    )
