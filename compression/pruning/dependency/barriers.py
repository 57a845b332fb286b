"""Modules the graph tracer must treat as opaque barriers instead of tracing into.

Torch-Pruning maps indices through every reshape it traces; a channel shuffle's
reshape -> transpose -> reshape makes that mapping divide by zero (ShuffleNetV2), so the
graph cannot even be built; EfficientFormer's ``GridToTokens`` reshapes with a stored
channel count. Registered here, such a module becomes one leaf node, and the analysis
keeps every group that reaches it whole, so no pruning ever reaches it (if one did, the
barrier raises instead of corrupting the model).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch_pruning as tp
from torch import nn

from configs.registry import Registry
from lightweight_models.blocks.efficientformer import GridToTokens
from lightweight_models.blocks.shuffle import ChannelShuffle

BARRIER_TYPES: Registry[type[nn.Module]] = Registry("pruning barrier type")
BARRIER_TYPES.add("ChannelShuffle", ChannelShuffle)
BARRIER_TYPES.add("GridToTokens", GridToTokens)


class BarrierPruner(tp.pruner.function.BasePruningFunc):
    """A leaf whose channels are fixed; pruning it is a bug in the lock rules."""

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        raise RuntimeError(f"{type(layer).__name__} is a pruning barrier; its producers must be locked")

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: nn.Module) -> int | None:
        return getattr(layer, "channels", None)

    get_in_channels = get_out_channels


def barrier_pruners() -> dict[type[nn.Module], BarrierPruner]:
    return {BARRIER_TYPES.get(name): BarrierPruner() for name in BARRIER_TYPES}


def is_barrier(module: nn.Module) -> bool:
    return isinstance(module, tuple(BARRIER_TYPES.get(n) for n in BARRIER_TYPES))
