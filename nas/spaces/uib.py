"""A MobileNetV4 space (Qin et al., 2024) of universal inverted bottlenecks (UIB).

Per stage a depth (default {1, 2, 3, 4}); per block the UIB variant and an expand ratio ({2, 4, 6}); a width
multiplier and an input resolution. The variant is the block's (start, mid) depthwise kernel pair, written as
timm writes it, ``"a<start>_k<mid>"`` with 0 for no conv: FFN ``a0_k0``, ConvNeXt-like ``a3_k0``, inverted
bottleneck ``a0_k5``, ExtraDW ``a3_k5``. An FFN has no depthwise conv to downsample with, so it is not a choice of
a stage's stride-2 first block. Stem, ReLU activations and the 1x1 head (960, then 1280 after pooling) are
MNv4-Conv-S's; ``small_input`` keeps the stem and the first stride-2 stage at stride 1 for 28-32 px images.

``block_strings`` renders an arch in timm's block notation (``uir_r1_a3_k5_s2_e4_c80``) and
``arch_from_block_strings`` reads it back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from lightweight_models.args import Widths, make_divisible
from lightweight_models.base import plan_strides
from lightweight_models.blocks import ConvNormAct, UniversalInvertedBottleneck
from nas.arch import Arch, ArchError, Gene
from nas.spaces.base import Choices, SearchedNet, SearchSpace
from nas.spaces.registry import register_space

VARIANTS = ("ffn", "convnext", "ib", "extradw")
FFN = "a0_k0"
_TOKEN = re.compile(r"([a-z]+)(\d+(?:\.\d+)?)")
_FIELDS = {"r": "repeats", "a": "start kernel", "k": "mid kernel", "s": "stride", "e": "expand", "c": "channels"}


def kernels_of(variant: str) -> tuple[int, int]:
    """``"a3_k5"`` -> (start_dw_kernel, mid_dw_kernel) = (3, 5)."""
    start, mid = variant.split("_")
    return int(start[1:]), int(mid[1:])


def _variant_choices(variants: Sequence[str], kernels: Sequence[int]) -> tuple[str, ...]:
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"space 'uib': unknown variants {bad}; valid: {', '.join(VARIANTS)}")
    pairs = {(0, 0)} if "ffn" in variants else set()
    for k in kernels:
        pairs |= {(k, 0)} if "convnext" in variants else set()
        pairs |= {(0, k)} if "ib" in variants else set()
        pairs |= {(a, k) for a in kernels} if "extradw" in variants else set()
    # the mid depthwise runs on the expanded width (2-6x the start one's), so it dominates the cost
    return tuple(f"a{a}_k{m}" for a, m in sorted(pairs, key=lambda p: (p[1], p[0])))


@register_space("uib")
class UIBSpace(SearchSpace):
    name = "uib"
    defaults = {
        # MNv4-Conv-S's stage widths; its first two stages are plain convs, here every stage is searched
        "stage_channels": (32, 64, 96, 128),
        "stage_strides": (2, 2, 2, 2),
        "depths": (1, 2, 3, 4),
        "variants": VARIANTS,
        "kernels": (3, 5),
        "expands": (2, 4, 6),
        "widths": (1.0,),
        "resolutions": (224,),
        "stem_channels": 32,
        "head_channels": 960,
        "head_hidden": 1280,
        "small_input": False,
    }

    def _dimensions(self) -> dict[str, Choices]:
        o = self.options
        if len(o["stage_channels"]) != len(o["stage_strides"]):
            raise ValueError("space 'uib': stage_channels and stage_strides must have equal length")
        if any(int(k) <= 0 for k in o["kernels"]):
            raise ValueError(f"space 'uib': kernels must be positive (a missing conv is a variant), got {o['kernels']}")
        self._variants = _variant_choices(o["variants"], o["kernels"])
        # the stride each stage's first block really has, small_input's kept stride included
        self._first_strides = [st[0] for st in plan_strides([[s] for s in o["stage_strides"]],
                                                            bool(o["small_input"])).blocks]
        dims: dict[str, Choices] = {"resolution": tuple(o["resolutions"]), "width": tuple(o["widths"])}
        for s, stride in enumerate(self._first_strides):
            dims[f"s{s}.depth"] = tuple(o["depths"])
            for b in range(max(o["depths"])):
                strided = b == 0 and stride > 1
                dims[f"s{s}.b{b}.dw"] = tuple(v for v in self._variants if not (strided and v == FFN))
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
        total = len(o["resolutions"]) * len(o["widths"])
        for s in range(len(o["stage_channels"])):
            first, rest = len(self._dims[f"s{s}.b0.dw"]), len(self._variants)
            total *= sum(first * rest ** (d - 1) * len(o["expands"]) ** d for d in o["depths"])
        return total

    def validate(self, arch: Arch) -> Arch:
        try:
            return super().validate(arch)
        except ArchError as err:
            # an FFN on a stride-2 block is the likeliest hand-written mistake: say why, not only "not a choice"
            strided = {f"s{s}.b0.dw" for s, stride in enumerate(self._first_strides) if stride > 1}
            if err.field in strided and arch.get(err.field) == FFN:
                raise ArchError(f"gene '{err.field}' = '{FFN}' is an FFN block, which has no depthwise conv to "
                                f"downsample with, but it is the stride-2 first block of its stage",
                                err.field) from err
            raise

    def build(self, arch: Arch, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.0) -> SearchedNet:
        arch = self.validate(arch)
        o = self.options
        chs = Widths(float(arch["width"]), 8)
        depths = [int(arch[f"s{s}.depth"]) for s in range(len(o["stage_channels"]))]
        strides = plan_strides([[st] + [1] * (d - 1) for st, d in zip(o["stage_strides"], depths)],
                               bool(o["small_input"]))
        prev = chs(o["stem_channels"])
        stem = ConvNormAct(in_chans, prev, 3, stride=strides.stem)
        stages: list[nn.Module] = []
        for s, width in enumerate(o["stage_channels"]):
            out, blocks = chs(width), []
            for b, stride in enumerate(strides.blocks[s]):
                start, mid = kernels_of(str(arch[f"s{s}.b{b}.dw"]))
                expanded = make_divisible(prev * int(arch[f"s{s}.b{b}.expand"]), 8)
                blocks.append(UniversalInvertedBottleneck(prev, out, expanded, start, mid, stride))
                prev = out
            stages.append(nn.Sequential(*blocks))
        num_features = chs(o["head_channels"])
        head = ConvNormAct(prev, num_features, 1)
        hidden = chs(o["head_hidden"])
        pre_logits = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(inplace=True))
        return SearchedNet(arch, stem, stages, head, num_features, num_classes, strides.total,
                           pre_logits=pre_logits, pre_logits_width=hidden, drop_rate=drop_rate)

    def block_strings(self, arch: Arch) -> list[list[str]]:
        """Per stage, timm's ``uir`` block strings; consecutive equal blocks share one string (``r2``).

        ``c`` is the unscaled stage width, so the arch's width is timm's ``channel_multiplier`` (both round to
        multiples of 8 the same way); ``s`` is the stride the block really has, ``small_input`` included. The
        stem and head are not blocks and are not rendered."""
        arch = self.validate(arch)
        out = []
        for s, (width, stride) in enumerate(zip(self.options["stage_channels"], self._first_strides)):
            rows: list[list[Any]] = []  # [repeats, variant, stride, expand]
            for b in range(int(arch[f"s{s}.depth"])):
                variant, expand = arch[f"s{s}.b{b}.dw"], arch[f"s{s}.b{b}.expand"]
                # a timm repeat puts the stride on its first block only, and only b0 has one here
                if rows and rows[-1][1] == variant and rows[-1][3] == expand:
                    rows[-1][0] += 1
                else:
                    rows.append([1, variant, stride if b == 0 else 1, expand])
            out.append([f"uir_r{r}_{v}_s{st}_e{e}_c{width}" for r, v, st, e in rows])
        return out

    def arch_from_block_strings(self, stages: Sequence[Sequence[str]], width: float | None = None,
                                resolution: int | None = None) -> Arch:
        """The arch of ``block_strings``' output. Width and resolution are not in the notation: give them unless
        the space has a single choice. ``ArchError`` names the string (``block_strings[s][i]``) or the gene."""
        o = self.options
        if isinstance(stages, str) or len(stages) != len(o["stage_channels"]):
            raise ArchError(f"expected a list of block strings for each of the {len(o['stage_channels'])} stages "
                            f"of space 'uib', got {stages!r}", "block_strings")
        genes: dict[str, Gene] = {"width": self._given("width", width, float),
                                  "resolution": self._given("resolution", resolution, int)}
        for s, strings in enumerate(stages):
            b = 0
            for i, text in enumerate(strings):
                where = f"block_strings[{s}][{i}]"
                f = _decode(text, where)
                want = self._first_strides[s] if b == 0 else 1
                if f["c"] != o["stage_channels"][s] or f["s"] != want:
                    raise ArchError(f"{where} = {text!r}: stage {s} block {b} has c{o['stage_channels'][s]} and "
                                    f"s{want} in this space", where)
                for _ in range(int(f["r"])):
                    genes[f"s{s}.b{b}.dw"] = f"a{_int(f['a'])}_k{_int(f['k'])}"
                    genes[f"s{s}.b{b}.expand"] = _int(f["e"])
                    b += 1
            genes[f"s{s}.depth"] = b
        return self.arch(genes)

    def _given(self, gene: str, value: float | None, kind: type) -> Gene:
        if value is not None:
            return kind(value)
        if len(self._dims[gene]) == 1:
            return self._dims[gene][0]
        raise ArchError(f"block strings do not carry the {gene}; pass {gene}= one of {list(self._dims[gene])}",
                        gene)


def _int(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _decode(text: str, where: str) -> dict[str, float]:
    """``uir_r1_a3_k5_s2_e4_c80`` -> its numbers; a missing ``a`` is 0 as in timm."""
    parts = str(text).split("_")
    if parts[0] != "uir":
        raise ArchError(f"{where} = {text!r}: block type {parts[0]!r} is not 'uir', the only one of space 'uib'",
                        where)
    fields: dict[str, float] = {"a": 0}
    for token in parts[1:]:
        m = _TOKEN.fullmatch(token)
        if m is None or m[1] not in _FIELDS:
            expected = ", ".join(f"{k}<{v}>" for k, v in _FIELDS.items())
            raise ArchError(f"{where} = {text!r}: {token!r} is not one of {expected}", where)
        fields[m[1]] = float(m[2])
    missing = [f"{k}<{_FIELDS[k]}>" for k in _FIELDS if k not in fields]
    if missing or fields["r"] < 1 or not fields["r"].is_integer():
        raise ArchError(f"{where} = {text!r}: " + (f"missing {', '.join(missing)}" if missing else
                                                    "r must be a positive integer"), where)
    return fields


__all__ = ["FFN", "VARIANTS", "UIBSpace", "kernels_of"]
