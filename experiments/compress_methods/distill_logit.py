"""Logit distillation (Hinton): train the student against the teacher's softened outputs."""

from __future__ import annotations

from typing import Any

from torch import nn

from compression.distillation import LogitDistillation
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.distill_common import DistillOptions, epochs, student, teacher
from experiments.compress_methods.prune_common import finetune, method_options


def prepare(ctx: CompressContext) -> nn.Module:
    return student(ctx, method_options(ctx, DistillOptions))


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts = method_options(ctx, DistillOptions)
    criterion = LogitDistillation(teacher(ctx, opts), opts.temperature, opts.alpha)
    return finetune(ctx, model, epochs(ctx, opts), opts.lr, "distill", criterion=criterion)


COMPRESS_METHODS.add("distill_logit", CompressMethod(prepare, run))
