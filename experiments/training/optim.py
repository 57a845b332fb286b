"""Optimizers by name, with weight decay kept off norms and biases."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from configs.registry import Registry
from configs.schema.train import OptimizerConfig

OPTIMIZERS: Registry[Callable[[list[dict], OptimizerConfig], torch.optim.Optimizer]] = Registry("optimizer")


@OPTIMIZERS.register("sgd")
def _sgd(groups: list[dict], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


@OPTIMIZERS.register("adamw")
def _adamw(groups: list[dict], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def param_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool = False) -> list[dict]:
    """Two groups: weights with decay, and 1-D tensors (norm scales/shifts, biases) without."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 and not decay_norm_and_bias else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    factory = OPTIMIZERS.get(cfg.name)
    return factory(param_groups(model, cfg.weight_decay, cfg.decay_norm_and_bias), cfg)
