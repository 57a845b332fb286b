"""FitNets feature distillation (learned adapters), on top of logit distillation when alpha > 0."""

from __future__ import annotations

from typing import Any

from torch import nn

from compression.distillation import FeatureDistillation, LogitDistillation
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.distill_common import DistillOptions, epochs, student, teacher
from experiments.compress_methods.prune_common import finetune, method_options


def prepare(ctx: CompressContext) -> nn.Module:
    opts = method_options(ctx, DistillOptions)
    if not opts.feature_pairs or any(len(p) != 2 for p in opts.feature_pairs):
        raise ValueError("compress.options.feature_pairs must list [student layer, teacher layer] pairs")
    return student(ctx, opts)


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts = method_options(ctx, DistillOptions)
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


COMPRESS_METHODS.add("distill_feature", CompressMethod(prepare, run))
