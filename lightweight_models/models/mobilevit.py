"""MobileViT v1 (Mehta & Rastegari, ICLR 2022): MobileNetV2 blocks for the early,
high-resolution stages; MobileViT blocks (conv + transformer over patches) later."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lightweight_models.args import check_common_args, check_input_size, make_divisible
from lightweight_models.base import ZooModel, register_variant
from lightweight_models.blocks import ConvNormAct, InvertedResidual, MobileViTBlock


@dataclass(frozen=True)
class _Variant:
    # output channels of the five stages (two MV2 stages, three MV2 + MobileViT stages)
    channels: tuple[int, int, int, int, int]
    transformer_dims: tuple[int, int, int]
    # MV2 expansion ratio (the paper uses 2 for XXS, 4 otherwise)
    expansion: float
    num_features: int
    paper_params_m: float
    paper_macs_m: float


_STEM_CHS = 16
_MV2_DEPTHS = (1, 3)
_TRANSFORMER_DEPTHS = (2, 4, 3)
# Architecture and parameter counts: the MobileViT paper (arXiv:2110.02178), which
# timm/mobilevit_* follow. MACs at 256 px: 0.42 / 1.05 / 2.03 G as published for the
# official (ml-cvnets) weights in the mmpretrain model zoo (configs/mobilevit/README.md);
# those are fvcore counts, which include normalization layers (see the fidelity test).
_VARIANTS = {
    "xxs": _Variant((16, 24, 48, 64, 80), (64, 80, 96), 2.0, 320, 1.3, 420.0),
    "xs": _Variant((32, 48, 64, 80, 96), (96, 120, 144), 4.0, 384, 2.3, 1050.0),
    "s": _Variant((32, 64, 96, 128, 160), (144, 192, 240), 4.0, 640, 5.6, 2030.0),
}


class MobileViT(ZooModel):
    """stem (3x3/2 conv) / five stages / head (1x1 conv, pool, linear); SiLU throughout."""

    default_input = 256

    def __init__(
        self,
        variant: str = "s",
        num_classes: int = 1000,
        in_chans: int = 3,
        width_mult: float = 1.0,
        small_input: bool = False,
        input_size: int | None = None,
        drop_rate: float = 0.0,
        round_divisor: int = 8,
        patch_size: int = 2,
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        if variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
        width = check_common_args(num_classes, in_chans, width_mult, round_divisor)
        cfg = _VARIANTS[variant]

        # small inputs keep the stem and the first stride-2 stage at stride 1: total stride 8
        self.total_stride = 8 if small_input else 32
        check_input_size(input_size, self.total_stride, f"mobilevit_{variant}")
        strides = (1, 1, 2, 2, 2) if small_input else (1, 2, 2, 2, 2)
        stem_chs = width(_STEM_CHS)
        self.stem = ConvNormAct(in_chans, stem_chs, 3, stride=1 if small_input else 2, act="silu")

        def mv2(in_chs: int, out_chs: int, stride: int) -> InvertedResidual:
            # expansion applies to the block input, rounded to 8 like the reference
            mid = make_divisible(in_chs * cfg.expansion, 8)
            return InvertedResidual(in_chs, out_chs, mid, stride=stride, act="silu")

        stages, prev = [], stem_chs
        for i, (chs, stride) in enumerate(zip(cfg.channels, strides)):
            out = width(chs)
            if i < len(_MV2_DEPTHS):
                blocks = [mv2(prev if j == 0 else out, out, stride if j == 0 else 1)
                          for j in range(_MV2_DEPTHS[i])]
            else:
                dim = width(cfg.transformer_dims[i - len(_MV2_DEPTHS)])
                if dim % num_heads:
                    raise ValueError(f"num_heads={num_heads} does not divide transformer dim {dim}")
                depth = _TRANSFORMER_DEPTHS[i - len(_MV2_DEPTHS)]
                blocks = [mv2(prev, out, stride),
                          MobileViTBlock(out, out, dim, depth, patch_size, num_heads, act="silu")]
            stages.append(nn.Sequential(*blocks))
            prev = out
        self.stages = nn.Sequential(*stages)
        self.num_features = width(cfg.num_features)
        self.head = ConvNormAct(prev, self.num_features, 1, act="silu")
        self.init_classifier(self.num_features, num_classes, drop_rate)


for _variant, _cfg in _VARIANTS.items():
    register_variant(
        f"mobilevit_{_variant}",
        MobileViT,
        {"variant": _variant},
        family="mobilevit",
        default_input=256,
        reference=f"timm/mobilevit_{_variant}",
        paper_macs_m=_cfg.paper_macs_m,
        paper_params_m=_cfg.paper_params_m,
        paper_source="params: MobileViT (arXiv:2110.02178); MACs: mmpretrain model zoo (fvcore, 256 px)",
    )
