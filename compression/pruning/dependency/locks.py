"""Channel couplings that Torch-Pruning's DependencyGraph does not model, and how we keep them intact.

Torch-Pruning traces ``grad_fn`` edges, so it sees which tensors meet (adds, concats, splits)
but not the index permutations hidden in a reshape-transpose-reshape (channel shuffle,
MobileViT's unfold into patches, attention's split into heads), nor Python ints a block
stores and feeds to ``reshape``. Pruning through those runs into a shape error at best
and silently mixes channels at worst (measured on the zoo: MobileViT, ShuffleNetV1 g>1 and
ShuffleNetV2 break). Each rule here names the layers whose *output* channels must stay as
they are; the dependency analysis then drops every group that contains them, so the whole
coupled set stays intact while everything else is still pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from torch import nn

from configs.registry import Registry

# rule(module) -> (submodule, reason) pairs whose output channels are locked
LockRule = Callable[[nn.Module], Iterator[tuple[nn.Module, str]]]

# keyed by the block's class name: the zoo owns the classes, we only read their structure
BLOCK_LOCKS: Registry[LockRule] = Registry("pruning lock rule")


def _last_conv(module: nn.Module) -> nn.Module:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1]


def _first_conv(module: nn.Module) -> nn.Module:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


@BLOCK_LOCKS.register("ShuffleV1Unit")
def _shufflenet_v1(unit: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    if not isinstance(unit.shuffle, nn.Identity):
        yield _first_conv(unit.conv_pw), "feeds a channel shuffle across groups (permutes channels)"


@BLOCK_LOCKS.register("ShuffleV2Unit")
def _shufflenet_v2(unit: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    # the unit's output is shuffled and split in two by the next unit: the trunk is one permuted
    # coupling across the stage; the branches' inner widths stay prunable
    for branch in (unit.branch1, unit.branch2):
        if branch is not None:
            yield _last_conv(branch), "output goes through concat + channel shuffle + split"


@BLOCK_LOCKS.register("MobileViTBlock")
def _mobilevit(block: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    yield _last_conv(block.conv_1x1), "width is the stored transformer_dim used to unfold patches"


@BLOCK_LOCKS.register("MultiHeadSelfAttention")
def _attention(attn: nn.Module) -> Iterator[tuple[nn.Module, str]]:
    # single channels would shift the split into heads; heads.py removes whole heads instead
    yield attn.qkv, "q/k/v are split by stored head widths (whole heads are pruned instead)"


def _is_grouped_conv(module: nn.Module) -> bool:
    # depthwise (groups == in == out) is handled by Torch-Pruning; anything else grouped is not
    if not isinstance(module, nn.modules.conv._ConvNd) or module.groups == 1:
        return False
    return not (module.groups == module.in_channels == module.out_channels)


def locked_layers(model: nn.Module) -> dict[nn.Module, str]:
    """Every layer whose output channels must not be pruned, with the reason."""
    locked: dict[nn.Module, str] = {}
    for module in model.modules():
        if _is_grouped_conv(module):
            locked[module] = f"grouped convolution (groups={module.groups}) that is not depthwise"
        name = type(module).__name__
        if name in BLOCK_LOCKS:
            for layer, reason in BLOCK_LOCKS.get(name)(module):
                locked.setdefault(layer, f"{name}: {reason}")
    return locked


def touches_grouped_input(module: nn.Module) -> bool:
    """True for a grouped, non-depthwise conv: pruning its input channels would unbalance its groups
    (every group must lose the same input positions, which a plain channel group cannot express)."""
    return _is_grouped_conv(module)
