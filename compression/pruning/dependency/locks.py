"""Channel couplings that Torch-Pruning's DependencyGraph does not model, and how we keep them intact.

Torch-Pruning traces ``grad_fn`` edges, so it sees which tensors meet (adds, concats, splits)
but not the index permutations hidden in a reshape-transpose-reshape (channel shuffle,
MobileViT's unfold into patches, attention's split into heads), nor Python ints a block
stores and feeds to ``reshape``. Pruning through those runs into a shape error at best
and silently mixes channels at worst (measured on the zoo: MobileViT, ShuffleNetV1 g>1 and
ShuffleNetV2 break). The blocks declare which layers' *output* channels must stay as they are
(``pruning_locks()``, ``lightweight_models.blocks.structure``; the channel shuffles are barriers,
``barriers.py``), and non-depthwise grouped convolutions are locked here; the dependency analysis
then drops every group that contains them, so the whole coupled set stays intact while everything
else is still pruned. The declarations belong to the block classes, so a renamed or subclassed
block keeps them.
"""

from __future__ import annotations

from torch import nn

from lightweight_models.blocks.structure import pruning_locks


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
        for lock in pruning_locks(module):
            locked.setdefault(lock.module, f"{type(module).__name__}: {lock.reason}")
    return locked


def touches_grouped_input(module: nn.Module) -> bool:
    """True for a grouped, non-depthwise conv: pruning its input channels would unbalance its groups
    (every group must lose the same input positions, which a plain channel group cannot express)."""
    return _is_grouped_conv(module)
