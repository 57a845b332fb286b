"""GhostNet (Han et al., CVPR 2020): MobileNetV3-like layout built from Ghost bottlenecks."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, plan_strides
from lightweight_models.blocks import ConvNormAct, GhostBottleneck
from lightweight_models.registry import register_model

# kernel, expanded width, output width, SE (reduction ratio or 0), stride (paper, Table 1),
# grouped into stages as in the reference code
_STAGES = (
    ((3, 16, 16, 0, 1),),
    ((3, 48, 24, 0, 2),),
    ((3, 72, 24, 0, 1),),
    ((5, 72, 40, 0.25, 2),),
    ((5, 120, 40, 0.25, 1),),
    ((3, 240, 80, 0, 2),),
    ((3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)),
    ((5, 672, 160, 0.25, 2),),
    ((5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)),
)
_STEM_CHS = 16
_HEAD_CHS = 960
_HIDDEN = 1280


class GhostNet(ZooModel):
    """stem (3x3 s2 conv) / stages of Ghost bottlenecks / head: 1x1 conv to 960, pool,
    a hidden 1280-wide layer with ReLU, linear classifier.

    ``round_divisor`` defaults to 4 here: the reference rounds every width (and the
    SE widths) to multiples of 4, so other width multipliers then match it too.
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
        round_divisor: int = 4,
    ) -> None:
        super().__init__()
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        strides = plan_strides([[b[-1] for b in stage] for stage in _STAGES], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, "ghostnet")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem)
        stages = []
        for stage, stage_strides in zip(_STAGES, strides.blocks):
            blocks = []
            for (kernel, expanded, c, se_ratio, _), stride in zip(stage, stage_strides):
                mid, out = chs(expanded), chs(c)
                se = chs.round(mid * se_ratio) if se_ratio else 0
                blocks.append(GhostBottleneck(prev, mid, out, kernel, stride, se_channels=se))
                prev = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = chs(_HEAD_CHS)
        self.head = ConvNormAct(prev, self.num_features, 1)
        # the reference's post-pool 1x1 conv with bias on a 1x1 map: a linear layer, same weights;
        # its width stays 1280 at every width multiplier, as in the reference
        pre_logits = nn.Sequential(nn.Linear(self.num_features, _HIDDEN), nn.ReLU(inplace=True))
        self.init_classifier(_HIDDEN, num_classes, drop_rate, pre_logits=pre_logits)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_logits(self.pool(x).flatten(1))
        return self.classifier(self.drop(x))


@register_model(
    "ghostnet",
    family="ghostnet",
    default_input=224,
    reference="timm/ghostnet_100",
    paper_macs_m=141,
    paper_source="GhostNet (arXiv:1911.11907), Table 7 (GhostNet 1.0x: 141M FLOPs, counted as multiply-adds)",
)
def ghostnet(**kwargs) -> GhostNet:
    return GhostNet(**kwargs)
