"""What the distillation methods share: the student, its schedule and where a teacher comes from."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from experiments.compress_methods.base import CompressContext
from experiments.models import build_model
from experiments.teacher import load_teacher


@dataclass
class DistillOptions:
    """The settings every distillation method has (each method's options dataclass extends these)."""

    temperature: float = 4.0
    # true: a freshly initialised student, so the result compares with the fp32 run trained
    # without distillation for the same epochs; false: fine-tune the source model
    from_scratch: bool = True
    epochs: int = 0  # 0: the experiment's train.epochs
    lr: float | None = None


def student(ctx: CompressContext, opts: DistillOptions) -> nn.Module:
    if not opts.from_scratch:
        return copy.deepcopy(ctx.fp32_model)
    return build_model(ctx.cfg.model, num_classes=ctx.cfg.model.num_classes)


def teacher_from(
    ctx: CompressContext, source: str, checkpoint: str = "best", kwargs: dict[str, Any] | None = None
) -> nn.Module:
    """A frozen teacher from a run directory, or a registered model built at the student's geometry."""
    model = ctx.cfg.model
    geometry = {"num_classes": model.num_classes, "in_chans": model.in_chans, "small_input": model.small_input,
                "input_size": model.input_size}
    return load_teacher(source, checkpoint, **geometry, **(kwargs or {}))


def epochs(ctx: CompressContext, opts: DistillOptions) -> int:
    return opts.epochs or int(ctx.cfg.train.epochs)
