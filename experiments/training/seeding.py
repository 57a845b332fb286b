"""Deterministic seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # warn_only: a few CPU ops have no deterministic variant, and we would rather train than stop
        torch.use_deterministic_algorithms(True, warn_only=True)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch: shuffling and augmentation depend only on (seed, epoch), so a resumed
    run sees exactly the batches an uninterrupted one would."""
    return seed * 100_003 + epoch
