"""A small plain convnet: the fast default of ``make run`` and the workhorse of tests."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel
from lightweight_models.blocks import ConvNormAct
from lightweight_models.registry import register_model


class SimpleCNN(ZooModel):
    """Three conv stages (two stride-2), global pool, linear head: ~0.1M params at width 1."""

    total_stride = 4

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        width_mult: float = 1.0,
        small_input: bool = True,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        c1, c2, c3 = (chs(c) for c in (32, 64, 128))
        stem_stride = 1 if small_input else 2
        self.total_stride = 4 * stem_stride
        check_input_size(input_size, self.total_stride, "simple_cnn")
        self.features = nn.Sequential(
            ConvNormAct(in_chans, c1, 3, stride=stem_stride),
            ConvNormAct(c1, c1, 3),
            ConvNormAct(c1, c2, 3, stride=2),
            ConvNormAct(c2, c2, 3),
            ConvNormAct(c2, c3, 3, stride=2),
            ConvNormAct(c3, c3, 3),
        )
        self.init_classifier(c3, num_classes, drop_rate)
        self.num_features = c3

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model("simple_cnn", family="baseline", default_input=28, reference=None)
def simple_cnn(**kwargs) -> SimpleCNN:
    return SimpleCNN(**kwargs)
