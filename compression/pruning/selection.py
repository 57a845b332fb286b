"""Which channels of each group to remove: local or global ranking, per-layer ratios, a cap
per group, and rounding of the kept width to a multiple (SIMD width)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class GroupScore:
    """A prunable group as its root layer (output channels), the handler and channel importance."""

    root: nn.Module
    handler: object
    importance: torch.Tensor


def rounded_keep(width: int, keep: int, round_to: int) -> int:
    """``keep`` rounded down to a multiple of ``round_to``, never below one multiple (or the width)."""
    if width <= round_to:
        return width  # too narrow to cut in whole SIMD widths: leave it
    keep = max(keep, 1)
    return max((keep // round_to) * round_to, round_to)


def _cut(score: GroupScore, n_prune: int) -> list[int]:
    return torch.argsort(score.importance)[:n_prune].tolist() if n_prune > 0 else []


def select_channels(
    scores: list[GroupScore],
    ratio: float,
    overrides: dict[nn.Module, float],
    *,
    global_ranking: bool,
    max_layer_ratio: float,
    round_to: int,
) -> list[tuple[GroupScore, list[int]]]:
    """Channel indices (of each root's outputs) to remove, least important first."""
    threshold = None
    shared = [s for s in scores if s.root not in overrides]
    if global_ranking and shared and ratio > 0:
        # importances are normalised per group (mean 1), which makes them comparable across groups
        pooled = torch.cat([s.importance for s in shared]).sort().values
        k = int(pooled.numel() * ratio)
        threshold = pooled[k - 1] if k > 0 else None
    plan = []
    for score in scores:
        width = score.importance.numel()
        if score.root in overrides or not global_ranking:
            n_prune = int(width * overrides.get(score.root, ratio))
        else:
            n_prune = 0 if threshold is None else int((score.importance <= threshold).sum())
            n_prune = min(n_prune, int(width * max_layer_ratio))
        keep = rounded_keep(width, width - n_prune, round_to)
        plan.append((score, _cut(score, width - keep)))
    return plan
