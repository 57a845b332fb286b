"""An MBConv space in the Once-for-All mould (Cai et al., ICLR 2020) on MobileNetV3's skeleton.

Per stage a depth (default {2, 3, 4}); per block a depthwise kernel ({3, 5, 7}) and an expand ratio
({3, 4, 6}); per stage squeeze-excite on or off; a width multiplier and an input resolution. Activations follow
MobileNetV3 (ReLU in the early stages, h-swish later) unless ``hswish=False``. Stage widths, strides and the
head are OFA's MobileNetV3 ones; ``small_input`` keeps the stem and the first stride-2 stage at stride 1 for
28-32 px images, as the zoo does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from lightweight_models.args import Widths, make_divisible
from lightweight_models.base import plan_strides
from lightweight_models.blocks import ConvNormAct, InvertedResidual
from nas.arch import Arch, Gene
from nas.spaces.base import Choices, SearchedNet, SearchSpace
from nas.spaces.registry import register_space


@register_space("mbconv")
class MBConvSpace(SearchSpace):
    name = "mbconv"
    defaults = {
        "stage_channels": (24, 40, 80, 112, 160),
        "stage_strides": (2, 2, 2, 1, 2),
        # MobileNetV3-Large: ReLU in the first two stages, h-swish after
        "stage_hswish": (False, False, True, True, True),
        "depths": (2, 3, 4),
        "kernels": (3, 5, 7),
        "expands": (3, 4, 6),
        # squeeze-excite per stage: searched ({off, on}), "mbv3" (on where MobileNetV3 has it) or off
        "se": "search",
        "hswish": True,
        "widths": (1.0,),
        "resolutions": (224,),
        "stem_channels": 16,
        "head_expand": 6,
        "head_hidden": 1280,
        "small_input": False,
    }
    _MBV3_SE = (False, True, False, True, True)

    def _dimensions(self) -> dict[str, Choices]:
        o = self.options
        if o["se"] not in ("search", "mbv3", "off"):
            raise ValueError(f"space 'mbconv': option se must be search, mbv3 or off, got {o['se']!r}")
        if not (len(o["stage_channels"]) == len(o["stage_strides"]) == len(o["stage_hswish"])):
            raise ValueError("space 'mbconv': stage_channels, stage_strides and stage_hswish must have equal length")
        dims: dict[str, Choices] = {"resolution": tuple(o["resolutions"]), "width": tuple(o["widths"])}
        for s in range(len(o["stage_channels"])):
            dims[f"s{s}.depth"] = tuple(o["depths"])
            if o["se"] == "search":
                dims[f"s{s}.se"] = (False, True)
            for b in range(max(o["depths"])):
                dims[f"s{s}.b{b}.kernel"] = tuple(o["kernels"])
                dims[f"s{s}.b{b}.expand"] = tuple(o["expands"])
        return dims

    def is_active(self, gene: str, genes: Mapping[str, Gene]) -> bool:
        parts = gene.split(".")
        if len(parts) == 3:
            depth = genes.get(f"{parts[0]}.depth")
            return depth is None or int(parts[1][1:]) < int(depth)
        return True

    def size(self) -> int:
        o = self.options
        per_block = len(o["kernels"]) * len(o["expands"])
        per_stage = sum(per_block ** d for d in o["depths"]) * (2 if o["se"] == "search" else 1)
        return len(o["resolutions"]) * len(o["widths"]) * per_stage ** len(o["stage_channels"])

    def _se(self, arch: Arch, stage: int) -> bool:
        if self.options["se"] == "search":
            return bool(arch[f"s{stage}.se"])
        return self.options["se"] == "mbv3" and self._MBV3_SE[stage % len(self._MBV3_SE)]

    def build(self, arch: Arch, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0) -> SearchedNet:
        arch = self.validate(arch)
        o = self.options
        chs = Widths(float(arch["width"]), 8)
        depths = [int(arch[f"s{s}.depth"]) for s in range(len(o["stage_channels"]))]
        strides = plan_strides([[st] + [1] * (d - 1) for st, d in zip(o["stage_strides"], depths)],
                               bool(o["small_input"]))
        prev = chs(o["stem_channels"])
        stem = nn.Sequential(
            ConvNormAct(in_chans, prev, 3, stride=strides.stem, act="hswish" if o["hswish"] else "relu"),
            # OFA's first block: a depthwise-separable 3x3 with no expansion, fixed in every network
            InvertedResidual(prev, prev, prev, 3, 1, act="relu"),
        )
        stages: list[nn.Module] = []
        for s, (width, hswish) in enumerate(zip(o["stage_channels"], o["stage_hswish"])):
            act = "hswish" if (hswish and o["hswish"]) else "relu"
            out, se, blocks = chs(width), self._se(arch, s), []
            for b, stride in enumerate(strides.blocks[s]):
                mid = make_divisible(prev * int(arch[f"s{s}.b{b}.expand"]), 8)
                blocks.append(InvertedResidual(prev, out, mid, int(arch[f"s{s}.b{b}.kernel"]), stride, act=act,
                                               se_channels=make_divisible(mid // 4, 8) if se else 0,
                                               se_act="relu", se_gate="hsigmoid"))
                prev = out
            stages.append(nn.Sequential(*blocks))
        head_act = "hswish" if o["hswish"] else "relu"
        num_features = prev * int(o["head_expand"])
        head = ConvNormAct(prev, num_features, 1, act=head_act)
        hidden = chs(o["head_hidden"])
        pre_logits = nn.Sequential(nn.Linear(num_features, hidden),
                                   nn.Hardswish(inplace=True) if o["hswish"] else nn.ReLU(inplace=True))
        return SearchedNet(arch, stem, stages, head, num_features, num_classes, strides.total,
                           pre_logits=pre_logits, pre_logits_width=hidden, drop_rate=drop_rate)


def total_blocks(arch: Arch) -> int:
    return sum(int(v) for k, v in arch.genes if k.endswith(".depth"))


def describe_stages(arch: Arch) -> list[dict[str, Any]]:
    """Per stage: depth, SE and each block's (kernel, expand): the compact form the report prints."""
    genes = arch.gene_dict
    stages = sorted({int(k.split(".")[0][1:]) for k in genes if k.endswith(".depth")})
    return [{"depth": genes[f"s{s}.depth"], "se": genes.get(f"s{s}.se"),
             "blocks": [(genes[f"s{s}.b{b}.kernel"], genes[f"s{s}.b{b}.expand"])
                        for b in range(int(genes[f"s{s}.depth"]))]} for s in stages]


__all__ = ["MBConvSpace", "describe_stages", "total_blocks"]
