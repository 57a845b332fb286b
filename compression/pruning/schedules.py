"""Gradual pruning interleaved with fine-tuning: Zhu & Gupta's AGP cubic schedule, and
lottery-ticket style weight rewinding, as callbacks of ``experiments.training.fit``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from compression.pruning.errors import PruningError
from compression.pruning.unstructured import check_sparsity, magnitude_prune, prunable_layers


def agp_sparsity(step: int, final: float, start_step: int, n_steps: int, initial: float = 0.0) -> float:
    """Zhu & Gupta (2017), eq. 1: s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n dt))^3.

    Prunes fast while the network has many redundant weights and slowly near the target;
    before ``start_step`` the sparsity is ``initial``, after ``start_step + n_steps`` it is ``final``.
    """
    check_sparsity(final, "final sparsity")
    check_sparsity(initial, "initial sparsity")
    if n_steps < 1:
        raise PruningError(f"the AGP schedule needs n_steps >= 1, got {n_steps}")
    progress = min(max((step - start_step) / n_steps, 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


class AGPCallback:
    """Raise sparsity along the AGP schedule at the start of each fine-tuning epoch.

    ``rewind_to`` (a state dict captured before training, e.g. by ``capture_rewind_point``)
    turns this into lottery-ticket pruning: after each pruning step the surviving weights go
    back to their early values while the masks stay (Frankle et al. 2019, rewinding).
    """

    def __init__(
        self,
        final_sparsity: float,
        n_epochs: int,
        start_epoch: int = 0,
        scope: str = "global",
        rewind_to: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.final = check_sparsity(final_sparsity, "final sparsity")
        self.n_epochs, self.start_epoch, self.scope = n_epochs, start_epoch, scope
        self.rewind_to = rewind_to
        agp_sparsity(start_epoch, self.final, start_epoch, n_epochs)  # validates n_epochs
        self.history: list[dict[str, Any]] = []

    def target(self, epoch: int) -> float:
        # the last epoch of the ramp reaches the final sparsity so training ends on it
        return agp_sparsity(epoch + 1, self.final, self.start_epoch, self.n_epochs)

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        target = self.target(epoch)
        magnitude_prune(model, target, scope=self.scope)
        if self.rewind_to is not None:
            rewind(model, self.rewind_to)
        self.history.append({"epoch": epoch, "target_sparsity": target})

    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict[str, Any]) -> None:
        pass


def capture_rewind_point(model: nn.Module) -> dict[str, torch.Tensor]:
    """The dense weights of every prunable layer now (at init or after a few warm-up steps)."""
    return {
        name: getattr(m, "weight_orig", m.weight).detach().clone() for name, m in prunable_layers(model).items()
    }


def rewind(model: nn.Module, point: dict[str, torch.Tensor]) -> None:
    """Reset surviving weights to ``point``; masks (and thus the zeros) are kept."""
    layers = prunable_layers(model)
    with torch.no_grad():
        for name, weights in point.items():
            if name not in layers:
                raise PruningError(f"rewind point names layer '{name}', which the model does not have")
            target = getattr(layers[name], "weight_orig", None)
            if target is None:
                target = layers[name].weight
            target.copy_(weights)
