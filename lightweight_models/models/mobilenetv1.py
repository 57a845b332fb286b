"""MobileNetV1 (Howard et al., 2017): a plain stack of depthwise-separable convolutions."""

from __future__ import annotations

from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, plan_strides
from lightweight_models.blocks import ConvNormAct, DepthwiseSeparableConv
from lightweight_models.registry import register_model

# output channels and stride of each depthwise-separable layer (paper, Table 1), grouped into
# stages that start at each stride-2 layer. The paper's table gives the last layer stride 2,
# but its output is 7x7 like its input: every implementation (and the 569M figure) uses stride 1.
_STAGES = (
    ((64, 1),),
    ((128, 2), (128, 1)),
    ((256, 2), (256, 1)),
    ((512, 2),) + ((512, 1),) * 5,
    ((1024, 2), (1024, 1)),
)
_STEM_CHS = 32


class MobileNetV1(ZooModel):
    """stem (3x3 s2 conv) / stages of depthwise-separable convs / pool + linear.

    ``act`` picks the activation: the paper uses ReLU, timm's reference ReLU6
    (same parameters and MACs).
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
        act: str = "relu",
    ) -> None:
        super().__init__()
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        strides = plan_strides([[s for _, s in stage] for stage in _STAGES], small_input)
        self.total_stride = strides.total
        check_input_size(input_size, self.total_stride, "mobilenetv1")

        prev = chs(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem, act=act)
        stages = []
        for stage, stage_strides in zip(_STAGES, strides.blocks):
            blocks = []
            for (c, _), stride in zip(stage, stage_strides):
                # V1 has no shortcuts, even where the shapes would allow one
                blocks.append(DepthwiseSeparableConv(prev, chs(c), 3, stride, act=act, residual=False))
                prev = chs(c)
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        # no final 1x1 conv in V1: the last stage already ends at 1024 channels
        self.head = nn.Identity()
        self.num_features = prev
        self.init_classifier(self.num_features, num_classes, drop_rate)


@register_model(
    "mobilenetv1",
    family="mobilenetv1",
    default_input=224,
    reference="timm/mobilenetv1_100",
    paper_macs_m=569,
    paper_source="MobileNets (arXiv:1704.04861), Table 8 (1.0 MobileNet-224: 569M mult-adds)",
)
def mobilenetv1(**kwargs) -> MobileNetV1:
    return MobileNetV1(**kwargs)
