"""Deterministic index selection: carving a validation split and capping split sizes.

Private generators seeded from the config make the split a pure function of
(seed, size): it never depends on, or disturbs, the global RNG that drives training.
"""

from __future__ import annotations

import torch

# keeps the generator that caps sizes independent of the one that carves val from train
_LIMIT_STREAM = 0x5EED


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))


def carve_val(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` into sorted (train, val) indices, ``round(n * val_fraction)`` of them val."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
    n_val = round(n * val_fraction)
    if n - n_val < 1:
        raise ValueError(f"data.val_fraction={val_fraction} leaves no training samples out of {n}")
    perm = _permutation(n, seed)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def cap(indices: torch.Tensor, limit: int | None, seed: int) -> torch.Tensor:
    """At most ``limit`` of ``indices``, drawn at random so capped splits keep every class
    (sources such as ImageFolder are sorted by class, so a prefix would not)."""
    if limit is not None and limit < 1:
        raise ValueError(f"a size limit must be a positive integer or null, got {limit}")
    if limit is None or limit >= len(indices):
        return indices
    keep = _permutation(len(indices), seed + _LIMIT_STREAM)[:limit]
    return indices[keep.sort().values]
