"""Deep mutual learning (Zhang et al. 2018): two students teach each other online, no teacher.

``MutualPair`` holds both so that one ``fit`` call trains them with one optimizer; its
forward returns the first student's logits (what ``fit`` evaluates) and keeps the peer's.
``MutualLearning`` is the criterion: each student's cross-entropy plus its KL towards the
other's (detached) prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from compression.distillation.logit import check_temperature_alpha, soft_kl


class MutualPair(nn.Module):
    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.peer_logits: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the peer only matters for the training loss; evaluation sees the first student alone
        self.peer_logits = self.second(x) if self.training else None
        return self.first(x)


class MutualLearning:
    """``CE(a) + w*KL(p_b||p_a) + CE(b) + w*KL(p_a||p_b)``, each KL against the detached peer."""

    def __init__(self, pair: MutualPair, temperature: float = 1.0, weight: float = 1.0) -> None:
        check_temperature_alpha(temperature, 0.0)
        if weight < 0:
            raise ValueError(f"mutual learning weight must be >= 0, got {weight}")
        self.pair, self.temperature, self.weight = pair, temperature, weight

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        peer = self.pair.peer_logits
        if peer is None:
            raise RuntimeError("MutualLearning needs the pair in train mode (the peer's logits are missing)")
        loss_a = F.cross_entropy(logits, targets) + self.weight * soft_kl(logits, peer.detach(), self.temperature)
        loss_b = F.cross_entropy(peer, targets) + self.weight * soft_kl(peer, logits.detach(), self.temperature)
        return loss_a + loss_b
