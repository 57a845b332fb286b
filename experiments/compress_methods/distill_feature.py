"""FitNets feature distillation (learned adapters), on top of logit distillation when alpha > 0."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from compression.distillation import FeatureDistillation, LogitDistillation
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.distill_common import epochs, student
from experiments.compress_methods.distill_logit import LogitDistillOptions, teacher
from experiments.compress_methods.finetuning import finetune


@dataclass
class FeatureDistillOptions(LogitDistillOptions):
    # (student layer, teacher layer) name pairs, e.g. [[features.3, stages.2]]
    feature_pairs: list[list[str]] = field(default_factory=list)
    # weight of the feature loss
    beta: float = 1.0
    # the features carry part of the teacher's signal, so the soft logits weigh less than in distill_logit
    alpha: float = 0.5


def prepare(ctx: CompressContext) -> nn.Module:
    opts = ctx.options
    if not opts.feature_pairs or any(len(p) != 2 for p in opts.feature_pairs):
        raise ValueError("compress.options.feature_pairs must list [student layer, teacher layer] pairs")
    return student(ctx, opts)


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts = ctx.options
    teach = teacher(ctx, opts)
    base = LogitDistillation(teach, opts.temperature, opts.alpha) if opts.alpha > 0 else None
    pairs = [(s, t) for s, t in opts.feature_pairs]
    criterion = FeatureDistillation(model, teach, pairs, ctx.example_input, beta=opts.beta, base=base)
    try:
        # fit trains student + adapters; the student is ``model`` itself, the adapters are dropped
        info = finetune(ctx, criterion.model, epochs(ctx, opts), opts.lr, "distill", criterion=criterion)
    finally:
        criterion.close()
    model.eval()
    return info


COMPRESS_METHODS.add("distill_feature", CompressMethod(prepare, run, options=FeatureDistillOptions))
