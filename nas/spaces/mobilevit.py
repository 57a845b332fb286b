"""A MobileViT space (Mehta & Rastegari, ICLR 2022): per transformer stage its depth, embedding dim, MLP ratio
and patch size; per stage the expand ratio of its MobileNetV2 blocks; the input resolution.

The skeleton is MobileViT's: a 3x3 stem, two MV2 stages (1 and 3 blocks), then three stages of one stride-2
MV2 block followed by a MobileViT block, and a 1x1 head of ``head_ratio`` times the last width. Embedding dims
must be multiples of ``num_heads``.
"""

from __future__ import annotations

from torch import nn

from lightweight_models.args import make_divisible
from lightweight_models.blocks import ConvNormAct, InvertedResidual, MobileViTBlock
from nas.arch import Arch
from nas.spaces.base import Choices, SearchedNet, SearchSpace
from nas.spaces.registry import register_space


@register_space("mobilevit")
class MobileViTSpace(SearchSpace):
    name = "mobilevit"
    defaults = {
        # MobileViT-XS widths
        "stage_channels": (32, 48, 64, 80, 96),
        "mv2_depths": (1, 3),
        "expands": (2, 3, 4),
        "depths": (1, 2, 3, 4),
        # per transformer stage; XS uses 96, 120, 144
        "dims": ((64, 96, 128), (80, 120, 160), (96, 144, 192)),
        "mlp_ratios": (2, 3, 4),
        "patches": (1, 2),
        "num_heads": 4,
        "head_ratio": 4,
        "resolutions": (256,),
        "stem_channels": 16,
        "small_input": False,
    }

    def _dimensions(self) -> dict[str, Choices]:
        o = self.options
        n_mv2, n_vit = len(o["mv2_depths"]), len(o["stage_channels"]) - len(o["mv2_depths"])
        if len(o["dims"]) != n_vit:
            raise ValueError(f"space 'mobilevit': dims lists {len(o['dims'])} transformer stages, the skeleton "
                             f"has {n_vit}")
        for t, dims in enumerate(o["dims"]):
            bad = [d for d in dims if d % o["num_heads"]]
            if bad:
                raise ValueError(f"space 'mobilevit': dims[{t}] = {bad} are not multiples of num_heads "
                                 f"{o['num_heads']}")
        dims_: dict[str, Choices] = {"resolution": tuple(o["resolutions"])}
        for s in range(n_mv2 + n_vit):
            dims_[f"s{s}.expand"] = tuple(o["expands"])
        for t in range(n_vit):
            dims_[f"t{t}.depth"] = tuple(o["depths"])
            dims_[f"t{t}.dim"] = tuple(o["dims"][t])
            dims_[f"t{t}.mlp_ratio"] = tuple(o["mlp_ratios"])
            dims_[f"t{t}.patch"] = tuple(o["patches"])
        return dims_

    def size(self) -> int:
        n = 1
        for choices in self._dims.values():
            n *= len(choices)
        return n

    def build(self, arch: Arch, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0) -> SearchedNet:
        arch = self.validate(arch)
        o = self.options
        small = bool(o["small_input"])
        n_mv2 = len(o["mv2_depths"])
        strides = [1, 1] + [2] * (len(o["stage_channels"]) - 2) if small else \
            [1] + [2] * (len(o["stage_channels"]) - 1)
        prev = o["stem_channels"]
        stem = ConvNormAct(in_chans, prev, 3, stride=1 if small else 2, act="silu")

        def mv2(cin: int, cout: int, stride: int, expand: int) -> InvertedResidual:
            return InvertedResidual(cin, cout, make_divisible(cin * expand, 8), stride=stride, act="silu")

        stages: list[nn.Module] = []
        for s, (out, stride) in enumerate(zip(o["stage_channels"], strides)):
            e = int(arch[f"s{s}.expand"])
            if s < n_mv2:
                blocks: list[nn.Module] = [mv2(prev if j == 0 else out, out, stride if j == 0 else 1, e)
                                           for j in range(o["mv2_depths"][s])]
            else:
                t = s - n_mv2
                blocks = [mv2(prev, out, stride, e),
                          MobileViTBlock(out, out, int(arch[f"t{t}.dim"]), int(arch[f"t{t}.depth"]),
                                         int(arch[f"t{t}.patch"]), o["num_heads"], float(arch[f"t{t}.mlp_ratio"]),
                                         act="silu")]
            stages.append(nn.Sequential(*blocks))
            prev = out
        num_features = prev * int(o["head_ratio"])
        head = ConvNormAct(prev, num_features, 1, act="silu")
        total = (1 if small else 2) * 2 ** sum(1 for st in strides if st == 2)
        return SearchedNet(arch, stem, stages, head, num_features, num_classes, total, drop_rate=drop_rate)
