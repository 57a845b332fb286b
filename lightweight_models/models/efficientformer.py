"""EfficientFormer (Li et al., NeurIPS 2022): a MetaFormer with pooling mixers on 4-D maps
and attention only in the last, 7x7 stage, designed for mobile latency."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, register_variant
from lightweight_models.blocks import ConvNormAct, GridToTokens, Meta3D, Meta4D


@dataclass(frozen=True)
class _Variant:
    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    # how many of the last stage's blocks are Meta3D (attention)
    num_vit: int
    paper_macs_m: float


# EfficientFormer paper (arXiv:2206.01191), Table 1: L1 widths/depths and 1.3 GMACs at 224 px
_VARIANTS = {"l1": _Variant((48, 96, 224, 448), (3, 2, 6, 4), 1, 1300.0)}
# the attention-bias table of the reference covers a 7x7 map (224 px / 32)
_BIAS_RESOLUTION = 7
_SMALL_INPUT_DEFAULT = 32


class EfficientFormer(ZooModel):
    """stem (two 3x3/2 conv-BN-ReLU) / four stages (stride-2 conv downsample + Meta4D blocks;
    the last ends in Meta3D blocks on tokens) / head (LayerNorm, token mean, two linear
    classifiers averaged: the reference's class and distillation heads).

    ``forward_features`` returns normalized tokens (B, N, C), as the last stage works on tokens.
    """

    default_input = 224

    def __init__(
        self,
        variant: str = "l1",
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
        layer_scale_init: float = 1e-5,
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
        chs = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        cfg = _VARIANTS[variant]
        widths = [chs(c) for c in cfg.widths]

        # small inputs keep the stem at stride 1: total stride 8
        self.total_stride = 8 if small_input else 32
        check_input_size(input_size, self.total_stride, f"efficientformer_{variant}")
        size = input_size or (_SMALL_INPUT_DEFAULT if small_input else self.default_input)
        # each 3x3/2 conv (padding 1) maps n -> ceil(n / 2)
        grid = -(-size // self.total_stride)
        self.attention_grid = grid

        stem_stride = 1 if small_input else 2
        self.stem = nn.Sequential(
            ConvNormAct(in_chans, widths[0] // 2, 3, stride=stem_stride, bias=True),
            ConvNormAct(widths[0] // 2, widths[0], 3, stride=stem_stride, bias=True),
        )
        stages, prev = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, cfg.depths)):
            blocks: list[nn.Module] = []
            if i > 0:
                blocks.append(ConvNormAct(prev, width, 3, stride=2, act=None, bias=True))
            num_vit = cfg.num_vit if i == len(widths) - 1 else 0
            blocks += [Meta4D(width, layer_scale_init=layer_scale_init) for _ in range(depth - num_vit)]
            if num_vit:
                blocks.append(GridToTokens(width, grid))
                blocks += [Meta3D(width, grid, resolution=max(_BIAS_RESOLUTION, grid),
                                  layer_scale_init=layer_scale_init) for _ in range(num_vit)]
            stages.append(nn.Sequential(*blocks))
            prev = width
        self.stages = nn.Sequential(*stages)
        # the head before pooling is the final token LayerNorm
        self.head = nn.LayerNorm(prev)
        self.num_features = prev
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(prev, num_classes)
        # the reference is trained with a distillation head; at inference both heads are averaged
        self.classifier_dist = nn.Linear(prev, num_classes)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        # token mean as a 1-D global average pool: exports to GlobalAveragePool, not ReduceMean
        x = F.adaptive_avg_pool1d(x.transpose(1, 2), 1).flatten(1)
        x = self.drop(x)
        return (self.classifier(x) + self.classifier_dist(x)) * 0.5


for _variant, _cfg in _VARIANTS.items():
    register_variant(
        f"efficientformer_{_variant}",
        EfficientFormer,
        {"variant": _variant},
        family="efficientformer",
        default_input=224,
        reference=f"timm/efficientformer_{_variant}",
        paper_macs_m=_cfg.paper_macs_m,
        paper_source="EfficientFormer (arXiv:2206.01191), Table 1",
    )
