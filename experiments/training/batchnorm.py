"""Recompute BatchNorm running statistics under the current weights (OFA's subnet recalibration, and the
re-estimation after binarizing)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compression.quantization.calibrate import forward_batches


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, batches: Any, num_batches: int, device: str) -> int:
    """Replace every BN's running statistics by the plain average over ``num_batches`` batches.

    A short schedule (a binarized network's fine-tuning, a search candidate's proxy of a few dozen steps)
    moves the running averages (momentum 0.1) only part of the way to the final weights' statistics:
    evaluated with them, a network that trains well scores near chance. Quantizers must be frozen
    (nothing is observed). Returns the number of batches run.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    was_training, momenta = model.training, [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: every batch counts equally
        m.train()
    try:
        return forward_batches(model, batches, num_batches, "BatchNorm re-estimation", device)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
