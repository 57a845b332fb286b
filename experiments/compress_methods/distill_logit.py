"""Logit distillation (Hinton): train the student against the teacher's softened outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from compression.distillation import LogitDistillation
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.distill_common import DistillOptions, epochs, student, teacher_from
from experiments.compress_methods.finetuning import finetune


@dataclass
class LogitDistillOptions(DistillOptions):
    # a training run directory, or a registered model name (built like model.*, plus teacher_kwargs)
    teacher: str = ""
    teacher_checkpoint: str = "best"
    teacher_kwargs: dict[str, Any] = field(default_factory=dict)
    # weight of the soft (teacher) term; 1 - alpha weighs the labels
    alpha: float = 0.9


def teacher(ctx: CompressContext, opts: LogitDistillOptions) -> nn.Module:
    if not opts.teacher:
        raise ValueError("compress.options.teacher is required: a training run directory or a model name")
    return teacher_from(ctx, opts.teacher, opts.teacher_checkpoint, opts.teacher_kwargs)


def prepare(ctx: CompressContext) -> nn.Module:
    return student(ctx, ctx.options)


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts = ctx.options
    criterion = LogitDistillation(teacher(ctx, opts), opts.temperature, opts.alpha)
    return finetune(ctx, model, epochs(ctx, opts), opts.lr, "distill", criterion=criterion)


COMPRESS_METHODS.add("distill_logit", CompressMethod(prepare, run, options=LogitDistillOptions))
