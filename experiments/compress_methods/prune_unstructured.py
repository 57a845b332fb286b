"""Unstructured magnitude pruning: gradual (AGP, optionally with lottery-ticket rewinding) or
one-shot, with fine-tuning. The masks are part of the state dict, so ``prepare`` only
attaches all-ones masks and a saved result loads straight into it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compression.pruning import (
    AGPCallback,
    capture_rewind_point,
    magnitude_prune,
    overall_sparsity,
    pruning_report,
)
from compression.pruning.unstructured import check_sparsity
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.finetuning import finetune
from experiments.compress_methods.prune_common import FinetuneDistillOptions, finetune_criterion


@dataclass
class UnstructuredOptions(FinetuneDistillOptions):
    sparsity: float = 0.75
    # global | layer | lamp (global over layer-normalised LAMP scores: no layer is wiped out)
    scope: str = "global"
    # agp: raise sparsity over the fine-tuning epochs; oneshot: prune once, then fine-tune
    schedule: str = "agp"
    finetune_epochs: int = 3
    finetune_lr: float | None = 0.01
    # lottery-ticket style: surviving weights go back to their values before fine-tuning
    rewind: bool = False


def prepare(ctx: CompressContext) -> nn.Module:
    opts: UnstructuredOptions = ctx.options
    check_sparsity(opts.sparsity)
    if opts.schedule not in ("agp", "oneshot"):
        raise ValueError(f"compress.options.schedule must be 'agp' or 'oneshot', got '{opts.schedule}'")
    model = copy.deepcopy(ctx.fp32_model)
    magnitude_prune(model, 0.0, scope=opts.scope)  # all-ones masks: the structure a saved state loads into
    return model


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts: UnstructuredOptions = ctx.options
    point = capture_rewind_point(model) if opts.rewind else None
    callbacks = []
    if opts.schedule == "agp" and opts.finetune_epochs > 0:
        callbacks.append(AGPCallback(opts.sparsity, opts.finetune_epochs, scope=opts.scope, rewind_to=point))
    else:
        magnitude_prune(model, opts.sparsity, scope=opts.scope)
    info = finetune(ctx, model, opts.finetune_epochs, opts.finetune_lr, "finetune", callbacks=callbacks,
                    criterion=finetune_criterion(ctx, opts))
    with torch.no_grad():
        model.eval()(ctx.example_input)  # applies the masks to the last optimizer step's weights
    x = ctx.example_input[:1]
    rep = pruning_report(ctx.fp32_model, model, tuple(x.shape))
    if ctx.run is not None:
        (ctx.run.path / "pruning_report.md").write_text(f"# pruning report\n\n{rep.to_markdown()}\n")
    return {**info, "sparsity": overall_sparsity(model), "layer_sparsity": rep.layer_sparsity,
            "params": rep.params_after, "macs": rep.macs_after}


COMPRESS_METHODS.add("prune_unstructured", CompressMethod(prepare, run, options=UnstructuredOptions))
