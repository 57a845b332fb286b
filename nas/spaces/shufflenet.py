"""A ShuffleNetV2 space in the mould of Single Path One-Shot (Guo et al., ECCV 2020).

Every layer picks a choice block (ShuffleNetV2 unit with a 3x3, 5x5 or 7x7 depthwise conv, or the Xception
unit) and a channel scale of its branch's inner width. SPOS's supernet: stem 16, four stages of (4, 4, 8, 4)
layers with (64, 160, 320, 640) channels, a 1024-wide 1x1 head. ``small_input`` drops the stem's stride and
max pool for 28-32 px images.
"""

from __future__ import annotations

from torch import nn

from lightweight_models.args import make_divisible
from lightweight_models.blocks import ConvNormAct, ShuffleChoiceUnit
from nas.arch import Arch
from nas.spaces.base import Choices, SearchedNet, SearchSpace
from nas.spaces.registry import register_space

BLOCKS = ("shuffle3", "shuffle5", "shuffle7", "xception")


@register_space("shufflenet")
class ShuffleNetSpace(SearchSpace):
    name = "shufflenet"
    defaults = {
        "stage_channels": (64, 160, 320, 640),
        "stage_layers": (4, 4, 8, 4),
        "blocks": BLOCKS,
        # SPOS searches 0.2..2.0; the middle of that range keeps every unit's inner width sensible
        "scales": (0.5, 0.75, 1.0, 1.25, 1.5),
        "widths": (1.0,),
        "resolutions": (224,),
        "stem_channels": 16,
        "head_channels": 1024,
        "small_input": False,
    }

    def _dimensions(self) -> dict[str, Choices]:
        o = self.options
        bad = [b for b in o["blocks"] if b not in BLOCKS]
        if bad:
            raise ValueError(f"space 'shufflenet': unknown choice blocks {bad}; valid: {', '.join(BLOCKS)}")
        if len(o["stage_channels"]) != len(o["stage_layers"]):
            raise ValueError("space 'shufflenet': stage_channels and stage_layers must have equal length")
        dims: dict[str, Choices] = {"resolution": tuple(o["resolutions"]), "width": tuple(o["widths"])}
        for layer in range(sum(o["stage_layers"])):
            dims[f"l{layer}.block"] = tuple(o["blocks"])
            dims[f"l{layer}.scale"] = tuple(o["scales"])
        return dims

    def size(self) -> int:
        o = self.options
        per_layer = len(o["blocks"]) * len(o["scales"])
        return len(o["resolutions"]) * len(o["widths"]) * per_layer ** sum(o["stage_layers"])

    def build(self, arch: Arch, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0) -> SearchedNet:
        arch = self.validate(arch)
        o = self.options
        mult = float(arch["width"])
        small = bool(o["small_input"])
        stem_chs = make_divisible(o["stem_channels"] * mult, 8)
        stem = nn.Sequential(ConvNormAct(in_chans, stem_chs, 3, stride=1 if small else 2),
                             nn.Identity() if small else nn.MaxPool2d(3, stride=2, padding=1))
        stages: list[nn.Module] = []
        prev, layer = stem_chs, 0
        for width, layers in zip(o["stage_channels"], o["stage_layers"]):
            out = make_divisible(width * mult, 16)  # even halves of a multiple of 8
            units = []
            for i in range(layers):
                block, scale = str(arch[f"l{layer}.block"]), float(arch[f"l{layer}.scale"])
                mid = make_divisible(out // 2 * scale, 8)
                kernel = 3 if block == "xception" else int(block[len("shuffle"):])
                units.append(ShuffleChoiceUnit(prev, out, mid, kernel, 2 if i == 0 else 1,
                                               xception=block == "xception"))
                prev, layer = out, layer + 1
            stages.append(nn.Sequential(*units))
        total_stride = (1 if small else 4) * 2 ** len(o["stage_layers"])
        head_chs = make_divisible(o["head_channels"] * max(mult, 1.0), 8)
        head = ConvNormAct(prev, head_chs, 1)
        return SearchedNet(arch, stem, stages, head, head_chs, num_classes, total_stride, drop_rate=drop_rate)
