"""Modules the graph tracer must treat as opaque barriers instead of tracing into.

Torch-Pruning maps indices through every reshape it traces; a channel shuffle's
reshape -> transpose -> reshape makes that mapping divide by zero (ShuffleNetV2), so the
graph cannot even be built; EfficientFormer's ``GridToTokens`` reshapes with a stored
channel count. Such blocks declare ``channel_barrier`` (``lightweight_models.blocks.structure``);
each becomes one leaf node, and the analysis keeps every group that reaches it whole, so no
pruning ever reaches it (if one did, the barrier raises instead of corrupting the model).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch_pruning as tp
from torch import nn

from lightweight_models.blocks.structure import channel_barrier


class BarrierPruner(tp.pruner.function.BasePruningFunc):
    """A leaf whose channels are fixed; pruning it is a bug in the lock rules."""

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        raise RuntimeError(f"{type(layer).__name__} is a pruning barrier; its producers must be locked")

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: nn.Module) -> int | None:
        return getattr(layer, "channels", None)  # a barrier exposes its fixed width as ``channels``

    get_in_channels = get_out_channels


def barrier_pruners(model: nn.Module) -> dict[type[nn.Module], BarrierPruner]:
    """A pruner for the type of every barrier in ``model`` (Torch-Pruning looks pruners up by exact type)."""
    return {type(m): BarrierPruner() for m in model.modules() if is_barrier(m)}


def is_barrier(module: nn.Module) -> bool:
    return channel_barrier(module) is not None
