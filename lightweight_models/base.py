"""The layout every zoo family shares: ``stem -> stages -> head`` features, then a
classifier; the small-input stride plan of the MobileNet-style families; and the
registration of a family's variants under their own names.

Only what is truly common lives here; each architecture stays readable in its own file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lightweight_models.registry import register_model


@dataclass(frozen=True)
class StridePlan:
    """Where a network downsamples: its stem, each block, and all of them together."""

    stem: int
    # per stage, per block
    blocks: list[list[int]]
    total: int


def plan_strides(block_strides: Sequence[Sequence[int]], small_input: bool) -> StridePlan:
    """Strides of a stride-2 stem followed by ``block_strides`` (per stage, per block).

    Small inputs (28-32 px) keep the resolution at the stem and at the first stride-2
    block, so a 32-stride ImageNet network ends on a 4x4 map instead of an empty one.
    """
    blocks = [list(stage) for stage in block_strides]
    stem = 1 if small_input else 2
    if small_input:
        first = next(((i, j) for i, st in enumerate(blocks) for j, s in enumerate(st) if s == 2), None)
        if first is None:
            raise ValueError(f"small_input needs a stride-2 block to keep at stride 1, got strides {blocks}")
        blocks[first[0]][first[1]] = 1
    return StridePlan(stem, blocks, stem * math.prod(s for st in blocks for s in st))


class ZooModel(nn.Module):
    """``forward_features`` runs ``stem``, ``stages`` and ``head``; ``forward_head`` pools,
    drops out and classifies. Families with another head override ``forward_head``.

    Subclasses set ``total_stride`` and ``num_features`` (and their own ``default_input``).
    """

    total_stride: int
    num_features: int

    def init_classifier(
        self, width: int, num_classes: int, drop_rate: float, pre_logits: nn.Module | None = None
    ) -> None:
        """Register ``pool``, the optional ``pre_logits``, ``drop`` and ``classifier`` in this
        order (module order is what checkpoints, profiles and pruning reports list).

        ``width`` is what reaches the classifier: ``num_features``, or the width of ``pre_logits``.
        """
        self.pool = nn.AdaptiveAvgPool2d(1)
        if pre_logits is not None:
            self.pre_logits = pre_logits
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        return self.classifier(self.drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def register_variant(name: str, model_cls: type[nn.Module], fixed: dict[str, Any], **meta: Any) -> None:
    """Register ``name`` as ``model_cls`` with the arguments that pick the variant (``fixed``)
    set, so ``create_model(name, **kwargs)`` takes every other constructor argument."""

    def build(**kwargs: Any) -> nn.Module:
        return model_cls(**fixed, **kwargs)

    build.__name__ = name
    register_model(name, **meta)(build)
