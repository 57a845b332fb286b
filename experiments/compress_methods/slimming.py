"""Network slimming (Liu et al. 2017): train with an L1 penalty on BN scales, prune the
channels with the smallest scales across the whole network, fine-tune.

The channel configuration is only known after the sparsity training, so ``prepare`` does
both (and writes ``pruned_shapes.json``); rebuilding a saved result reads the spec back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from compression.pruning import SlimmingPenalty, prune_structured
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.finetuning import finetune
from experiments.compress_methods.prune_common import (
    FinetuneDistillOptions,
    finetune_criterion,
    rebuild_pruned,
    saved_shapes,
)
from experiments.compress_methods.prune_structured import record, report


@dataclass
class SlimmingOptions(FinetuneDistillOptions):
    ratio: float = 0.5
    strength: float = 1e-4
    sparsity_epochs: int = 2
    sparsity_lr: float | None = None
    round_to: int = 8
    max_layer_ratio: float = 0.9
    finetune_epochs: int = 2
    finetune_lr: float | None = 0.01
    measure_latency: bool = True


def prepare(ctx: CompressContext) -> nn.Module:
    spec = saved_shapes(ctx.run)
    if spec is not None:
        return rebuild_pruned(ctx.fp32_model, spec)
    opts: SlimmingOptions = ctx.options
    model = copy.deepcopy(ctx.fp32_model)
    penalty = SlimmingPenalty(model, opts.strength)  # fails early on a model without BN
    ctx.info.update(finetune(ctx, model, opts.sparsity_epochs, opts.sparsity_lr, "sparsity", criterion=penalty))
    result = prune_structured(
        model.eval(), ctx.example_input[:1], opts.ratio, importance="bn_scale", global_ranking=True,
        round_to=opts.round_to, max_layer_ratio=opts.max_layer_ratio,
    )
    record(ctx, result.model)
    return result.model


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts: SlimmingOptions = ctx.options
    info = finetune(ctx, model, opts.finetune_epochs, opts.finetune_lr, "finetune",
                    criterion=finetune_criterion(ctx, opts))
    return {**info, **report(ctx, model, opts.measure_latency)}


COMPRESS_METHODS.add("slimming", CompressMethod(prepare, run, options=SlimmingOptions))
