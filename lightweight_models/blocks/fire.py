"""Fire module (SqueezeNet): squeeze with 1x1 convs, then expand with parallel 1x1 and 3x3 convs."""

from __future__ import annotations

import torch
from torch import nn

from lightweight_models.args import check_positive
from lightweight_models.blocks.conv import ConvNormAct


class Fire(nn.Module):
    """squeeze (1x1, ReLU) -> [expand 1x1 (ReLU) | expand 3x3 (ReLU)] concatenated.

    SqueezeNet has no normalization, so the convolutions carry biases
    (``norm=False``); ``norm=True`` gives the BN variant used by later work.
    """

    def __init__(self, in_chs: int, squeeze_chs: int, expand1x1_chs: int, expand3x3_chs: int,
                 norm: bool = False) -> None:
        super().__init__()
        for name, value in (("in_chs", in_chs), ("squeeze_chs", squeeze_chs),
                            ("expand1x1_chs", expand1x1_chs), ("expand3x3_chs", expand3x3_chs)):
            check_positive(f"Fire {name}", value)
        self.squeeze = ConvNormAct(in_chs, squeeze_chs, 1, norm=norm)
        self.expand1x1 = ConvNormAct(squeeze_chs, expand1x1_chs, 1, norm=norm)
        self.expand3x3 = ConvNormAct(squeeze_chs, expand3x3_chs, 3, norm=norm)
        self.out_chs = expand1x1_chs + expand3x3_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat((self.expand1x1(x), self.expand3x3(x)), dim=1)
