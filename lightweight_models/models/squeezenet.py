"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016): Fire modules, no fully connected layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lightweight_models.args import check_common_args, check_input_size
from lightweight_models.base import ZooModel, register_variant
from lightweight_models.blocks import ConvNormAct, Fire

_POOL = "pool"


@dataclass(frozen=True)
class _Variant:
    stem_chs: int
    stem_kernel: int
    # Fire (squeeze, expand) widths, with max pools marked by _POOL
    layout: tuple
    paper_macs_m: float


# Layouts as in the SqueezeNet repository (v1.0 = paper Table 1, v1.1 = the repo's
# "2.4x less computation" revision); MACs: torchvision's documented 0.82 / 0.35 GFLOPS
# (torchvision counts multiply-adds) at 224 px.
_VARIANTS = {
    "1_0": _Variant(96, 7, ((16, 64), (16, 64), (32, 128), _POOL, (32, 128), (48, 192), (48, 192),
                            (64, 256), _POOL, (64, 256)), 820),
    "1_1": _Variant(64, 3, ((16, 64), (16, 64), _POOL, (32, 128), (32, 128), _POOL, (48, 192),
                            (48, 192), (64, 256), (64, 256)), 350),
}


def _pooled(size: int) -> int:
    """Output side of ``_max_pool`` (ceil mode); 0 when the input is smaller than the window."""
    return -(-(size - 3) // 2) + 1 if size >= 3 else 0


def _final_size(size: int, cfg: _Variant, small_input: bool) -> int:
    """Side of the last feature map, to reject inputs that vanish before the classifier."""
    if not small_input:
        size = (size - cfg.stem_kernel) // 2 + 1 if size >= cfg.stem_kernel else 0
    for _ in range(1 + cfg.layout.count(_POOL)):
        size = _pooled(size)
    return size


def _max_pool() -> nn.MaxPool2d:
    # ceil_mode as in the reference: keeps the border row/column and the 13x13 final map at 224 px
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


class SqueezeNet(ZooModel):
    """stem (conv + max pool) / stages of Fire modules split at the max pools / no head
    layer; the classifier is dropout, a 1x1 conv, ReLU and global pooling, as in the paper
    (which trains with drop_rate 0.5; the zoo-wide default 0.0 is kept here)."""

    default_input = 224

    def __init__(
        self,
        version: str = "1_0",
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
    ) -> None:
        super().__init__()
        if version not in _VARIANTS:
            raise ValueError(f"version must be one of {sorted(_VARIANTS)}, got {version!r}")
        width = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        cfg = _VARIANTS[version]

        # small inputs: stride-1 stem, total stride 8 (three max pools)
        self.total_stride = 8 if small_input else 16
        check_input_size(input_size, self.total_stride, f"squeezenet{version}")
        if input_size is not None and _final_size(input_size, cfg, small_input) < 1:
            smallest = next(n for n in range(input_size, 1024) if _final_size(n, cfg, small_input) >= 1)
            hint = "" if small_input else " or small_input=True"
            raise ValueError(
                f"input_size={input_size} is too small for squeezenet{version} (its 3x3/2 max pools "
                f"need a 3x3 input); use input_size >= {smallest}{hint}"
            )
        stem_chs = width(cfg.stem_chs)
        self.stem = nn.Sequential(
            ConvNormAct(in_chans, stem_chs, cfg.stem_kernel, stride=1 if small_input else 2,
                        padding=cfg.stem_kernel // 2 if small_input else 0, norm=False),
            _max_pool(),
        )
        stages, blocks, prev = [], [], stem_chs
        for item in cfg.layout:
            if item == _POOL:
                stages.append(nn.Sequential(*blocks, _max_pool()))
                blocks = []
                continue
            squeeze, expand = width(item[0]), width(item[1])
            blocks.append(Fire(prev, squeeze, expand, expand))
            prev = 2 * expand
        stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        # SqueezeNet has no head layer before its conv classifier
        self.head = nn.Identity()
        self.num_features = prev
        # the classifier is a 1x1 conv followed by ReLU and global pooling (paper, Fig. 2)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = ConvNormAct(prev, num_classes, 1, norm=False)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.classifier(self.drop(x))).flatten(1)


for _version, _cfg in _VARIANTS.items():
    register_variant(
        f"squeezenet{_version}",
        SqueezeNet,
        {"version": _version},
        family="squeezenet",
        default_input=224,
        reference=f"tv/squeezenet{_version}",
        paper_macs_m=_cfg.paper_macs_m,
        paper_source="torchvision model docs (GFLOPS = multiply-adds), SqueezeNet arXiv:1602.07360",
    )
