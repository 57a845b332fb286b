"""MobileNetV2 (Sandler et al., CVPR 2018): inverted residuals with linear bottlenecks."""

from __future__ import annotations

from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, plan_strides
from lightweight_models.blocks import ConvNormAct, InvertedResidual
from lightweight_models.registry import register_model

# expansion t, output channels c, repeats n, stride s of the first block (paper, Table 2)
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_STEM_CHS = 32
_HEAD_CHS = 1280


class MobileNetV2(ZooModel):
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
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        # one stride per stage: that of its first block
        strides = plan_strides([[s] for _, _, _, s in _STAGES], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, "mobilenetv2")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem, act="relu6")
        stages = []
        for (t, c, n, _), (stride,) in zip(_STAGES, strides.blocks):
            out, blocks = chs(c), []
            for i in range(n):
                # the reference rounds the expanded width to the nearest integer, not to a multiple of 8
                mid = round(prev * t)
                blocks.append(InvertedResidual(prev, out, mid, stride=stride if i == 0 else 1, act="relu6"))
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        # the head never narrows below 1280: the paper keeps it wide for width multipliers < 1
        self.num_features = chs.round(_HEAD_CHS * max(1.0, chs.mult))
        self.head = ConvNormAct(prev, self.num_features, 1, act="relu6")
        self.init_classifier(self.num_features, num_classes, drop_rate)


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
