"""Head importance criteria, one per channel criterion (``importance.IMPORTANCES``) and by the
same name, so a head is ranked the way a channel would be.

A head is judged by everything removed with it: its q, k and v rows of qkv (weights and
bias) and its proj input columns. The relative-position table is left out: it holds
logit offsets (initialised to zero), not weights, so its magnitude says nothing about how
much the head contributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from compression.pruning.errors import PruningError
from compression.pruning.head_layout import per_head
from configs.registry import Registry
from lightweight_models.blocks.structure import HeadLayout


@dataclass(frozen=True)
class HeadCriterion:
    """``score(layout)`` -> one value per head, or None with ``why_unranked`` (heads then stay)."""

    score: Callable[[HeadLayout], torch.Tensor | None]
    why_unranked: str = ""


def _magnitude(p: int) -> Callable[[HeadLayout], torch.Tensor]:
    # the channel criterion's MagnitudeImportance(p): sum of |w|^p over the group's tensors
    return lambda layout: per_head(layout, lambda w: w.data).abs().pow(p).sum(dim=1)


def _taylor(layout: HeadLayout) -> torch.Tensor | None:
    grads = per_head(layout, lambda w: w.grad)
    if grads is None:
        return None
    return (per_head(layout, lambda w: w.data) * grads).abs().sum(dim=1)


HEAD_IMPORTANCES: Registry[HeadCriterion] = Registry("head importance")

HEAD_IMPORTANCES.add("l1", HeadCriterion(_magnitude(1)))
HEAD_IMPORTANCES.add("l2", HeadCriterion(_magnitude(2)))
# attention has no BatchNorm: there is no scale to read, so heads are left as they are
HEAD_IMPORTANCES.add(
    "bn_scale", HeadCriterion(lambda layout: None, "bn_scale reads BatchNorm scales; attention has none")
)
HEAD_IMPORTANCES.add("taylor", HeadCriterion(_taylor, "no gradient reached this attention (taylor needs one)"))
HEAD_IMPORTANCES.add("random", HeadCriterion(lambda layout: torch.rand(layout.num_heads)))


def get_head_importance(name: str) -> HeadCriterion:
    """The head criterion of channel criterion ``name``; a criterion without one is named."""
    if name not in HEAD_IMPORTANCES:
        raise PruningError(
            f"importance '{name}' has no head criterion: register one in HEAD_IMPORTANCES "
            f"(compression/pruning/head_importance.py); known: {', '.join(HEAD_IMPORTANCES.names())}"
        )
    return HEAD_IMPORTANCES.get(name)
