"""Channel shuffle (ShuffleNet V1 and V2): lets information cross the groups of a
grouped convolution (V1) or the two branches of a split unit (V2)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from lightweight_models.args import check_groups, check_positive


def channel_shuffle(x: torch.Tensor, groups: int, channels: int | None = None) -> torch.Tensor:
    """Interleave ``groups`` equal slices of the channel axis of an NCHW tensor.

    Written as reshape -> transpose -> reshape (not an index gather) so that it
    exports to ONNX Reshape/Transpose, which the engine implements as a copy.
    The batch axis is left as -1 so the exported graph keeps a dynamic batch;
    passing ``channels`` as a Python int keeps the channel split out of the
    traced shape arithmetic.
    """
    _, traced_channels, height, width = x.shape
    channels = traced_channels if channels is None else channels
    x = x.reshape(-1, groups, channels // groups, height, width)
    return x.transpose(1, 2).reshape(-1, channels, height, width)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle`; ``channels`` is validated up front."""

    # the reshape -> transpose -> reshape permutes channels by the stored count: a narrower input would
    # be mixed across groups (and Torch-Pruning's index mapping through it divides by zero)
    channel_barrier: ClassVar[str] = "a channel shuffle: permutes channels across groups by its stored count"

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        check_positive("groups", groups)
        check_groups("ChannelShuffle channels", channels, groups)
        self.channels, self.groups = channels, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups, self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, groups={self.groups}"
