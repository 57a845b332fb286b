"""Channel importance criteria, by name: how a group's channels are ranked before the cut.

Every criterion scores a whole dependency group (all coupled tensors together), so a
channel is judged by everything that would be removed with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch_pruning as tp

from configs.registry import Registry


@dataclass(frozen=True)
class Criterion:
    """A factory for a Torch-Pruning importance and whether it needs gradients first."""

    build: Callable[[], tp.importance.Importance]
    needs_grad: bool = False


IMPORTANCES: Registry[Criterion] = Registry("pruning importance")

IMPORTANCES.add("l1", Criterion(lambda: tp.importance.MagnitudeImportance(p=1)))
IMPORTANCES.add("l2", Criterion(lambda: tp.importance.MagnitudeImportance(p=2)))
# network slimming (Liu et al. 2017): |gamma| of the BN after each conv; pair it with the
# L1 penalty of ``slimming_penalty`` during training so that gamma actually becomes sparse
IMPORTANCES.add("bn_scale", Criterion(lambda: tp.importance.BNScaleImportance()))
# first-order Taylor (Molchanov et al. 2019): |w * dL/dw|; needs one backward pass first
IMPORTANCES.add("taylor", Criterion(lambda: tp.importance.TaylorImportance(), needs_grad=True))
# the control: any criterion worth its cost must beat it
IMPORTANCES.add("random", Criterion(lambda: tp.importance.RandomImportance()))


def get_importance(name: str) -> Criterion:
    """The criterion registered as ``name`` (unknown names list the valid ones)."""
    return IMPORTANCES.get(name)
