"""What the distillation methods share: their options, the student and the teacher."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from compression.distillation import load_teacher
from experiments.compress_methods import CompressContext
from experiments.models import build_model


@dataclass
class DistillOptions:
    # a training run directory, or a registered model name (built like model.*, plus teacher_kwargs)
    teacher: str = ""
    teacher_checkpoint: str = "best"
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    temperature: float = 4.0
    alpha: float = 0.9
    # true: a freshly initialised student, so the result compares with the fp32 run trained
    # without distillation for the same epochs; false: fine-tune the source model
    from_scratch: bool = True
    epochs: int = 0  # 0: the experiment's train.epochs
    lr: float | None = None
    # feature distillation: (student layer, teacher layer) name pairs and the loss weight
    feature_pairs: list[list[str]] = field(default_factory=list)
    beta: float = 1.0
    # deep mutual learning: weight of each KL term
    mutual_weight: float = 1.0


def student(ctx: CompressContext, opts: DistillOptions) -> nn.Module:
    if not opts.from_scratch:
        return copy.deepcopy(ctx.fp32_model)
    return build_model(ctx.cfg.model, num_classes=ctx.cfg.model.num_classes)


def teacher(ctx: CompressContext, opts: DistillOptions) -> nn.Module:
    if not opts.teacher:
        raise ValueError("compress.options.teacher is required: a training run directory or a model name")
    return teacher_from(ctx, opts.teacher, opts.teacher_checkpoint, opts.teacher_kwargs)


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
