"""EfficientNet-B0 (Tan & Le, ICML 2019): searched MBConv stages with SE and SiLU (swish)."""

from __future__ import annotations

import math

from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, plan_strides
from lightweight_models.blocks import ConvNormAct, InvertedResidual
from lightweight_models.registry import register_model

# expansion, kernel, stride of the first block, output channels, repeats (paper, Table 1)
_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHS = 32
# the final 1x1 conv is 4x the last stage's width (320 -> 1280 in B0)
_HEAD_EXPANSION = 4
# the SE squeezes to a quarter of the block's *input* width (not of the expanded width as in MobileNetV3)
_SE_RATIO = 0.25


class EfficientNet(ZooModel):
    """stem (3x3 s2, SiLU) / seven MBConv stages / head (1x1 conv to 4x width, pool, linear).

    ``depth_mult`` scales the repeats of each stage (rounded up), the compound
    scaling knob of the paper next to ``width_mult``; B0 is 1.0/1.0.
    """

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
        depth_mult: float = 1.0,
    ) -> None:
        super().__init__()
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        if not depth_mult > 0:
            raise ValueError(f"depth_mult must be > 0, got {depth_mult}")

        # one stride per stage: that of its first block
        strides = plan_strides([[s] for _, _, s, _, _ in _STAGES], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, "efficientnet_b0")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem, act="silu")
        stages = []
        for (expand, kernel, _, c, n), (stride,) in zip(_STAGES, strides.blocks):
            out, blocks = chs(c), []
            for i in range(math.ceil(n * depth_mult)):
                mid = chs.round(prev * expand)
                se = max(1, int(prev * _SE_RATIO))
                blocks.append(
                    InvertedResidual(
                        prev,
                        out,
                        mid,
                        kernel,
                        stride if i == 0 else 1,
                        act="silu",
                        se_channels=se,
                        se_act="silu",
                        se_gate="sigmoid",
                    )
                )
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = _HEAD_EXPANSION * prev
        self.head = ConvNormAct(prev, self.num_features, 1, act="silu")
        self.init_classifier(self.num_features, num_classes, drop_rate)


@register_model(
    "efficientnet_b0",
    family="efficientnet",
    default_input=224,
    reference="tv/efficientnet_b0",
    paper_macs_m=390,
    paper_source="EfficientNet (arXiv:1905.11946), Table 2 (B0: 0.39B FLOPs, counted as multiply-adds)",
)
def efficientnet_b0(**kwargs) -> EfficientNet:
    return EfficientNet(**kwargs)
