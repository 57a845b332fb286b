"""Learning-rate schedules by name, stepped once per optimizer step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from configs.registry import Registry
from configs.schema.train import ScheduleConfig

# each maps progress in [0, 1] after warmup to a multiplier of the base lr
SCHEDULES: Registry[Callable[[float, ScheduleConfig], float]] = Registry("schedule")


@SCHEDULES.register("cosine")
def _cosine(progress: float, cfg: ScheduleConfig) -> float:
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@SCHEDULES.register("constant")
def _constant(progress: float, cfg: ScheduleConfig) -> float:
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    shape = SCHEDULES.get(cfg.name)
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total, int(round(cfg.warmup_epochs * steps_per_epoch)))

    def factor(step: int) -> float:
        if step < warmup:
            return cfg.warmup_start_factor + (1 - cfg.warmup_start_factor) * step / warmup
        return shape(min(1.0, (step - warmup) / max(1, total - warmup)), cfg)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
