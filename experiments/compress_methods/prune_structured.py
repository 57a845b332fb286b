"""Structured channel pruning: dependency-graph groups cut at a ratio (or NetAdapt towards an
engine latency budget), then fine-tuning. ``prepare`` makes the cut and writes
``pruned_shapes.json`` into the run directory; rebuilding reads it back instead."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from compression.pruning import (
    PruningError,
    netadapt,
    prune_structured,
    pruned_shapes,
    pruning_report,
)
from experiments.compress_methods.base import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.compress_methods.finetuning import finetune
from experiments.compress_methods.prune_common import (
    FinetuneDistillOptions,
    engine_latencies,
    finetune_criterion,
    rebuild_pruned,
    save_shapes,
    saved_shapes,
)
from experiments.training import evaluate
from measure import latency_fn


@dataclass
class StructuredOptions(FinetuneDistillOptions):
    ratio: float = 0.5
    # fraction of attention heads to remove (MobileViT, EfficientFormer); None: the same as ratio
    head_ratio: float | None = None
    # l1 | l2 | bn_scale | taylor | random
    importance: str = "l1"
    global_ranking: bool = False
    round_to: int = 8
    max_layer_ratio: float = 0.9
    layer_ratios: dict[str, float] = field(default_factory=dict)
    finetune_epochs: int = 2
    finetune_lr: float | None = 0.01
    # measure engine latency before/after (needs the built engine)
    measure_latency: bool = True
    # NetAdapt instead of a fixed ratio: prune until the engine latency is at most this
    latency_budget_ms: float | None = None
    netadapt_step: float = 0.25
    netadapt_eval_batches: int = 2


def _taylor_loss(ctx: CompressContext) -> Callable[[nn.Module], torch.Tensor]:
    x, y = next(iter(ctx.data.train_loader))
    return lambda model: nn.functional.cross_entropy(model(x), y)


def cut(ctx: CompressContext, model: nn.Module, opts: StructuredOptions) -> nn.Module:
    """The pruned copy of ``model`` by ratio or NetAdapt; records its figures in ``ctx.info``."""
    x = ctx.example_input[:1]
    if opts.latency_budget_ms is not None:
        batches = opts.netadapt_eval_batches

        def accuracy(m: nn.Module) -> float:
            return evaluate(m, ctx.data.val_loader, "cpu", batches)["top1"]

        result = netadapt(model, x, opts.latency_budget_ms, latency_fn(x), accuracy,
                          step_ratio=opts.netadapt_step, importance=opts.importance, round_to=opts.round_to)
        ctx.info["netadapt"] = result.as_dict()
        return result.model
    needs_grad = opts.importance == "taylor"
    result = prune_structured(
        model, x, opts.ratio, importance=opts.importance, global_ranking=opts.global_ranking,
        layer_ratios=opts.layer_ratios, round_to=opts.round_to, max_layer_ratio=opts.max_layer_ratio,
        loss_fn=_taylor_loss(ctx) if needs_grad else None, head_ratio=opts.head_ratio,
    )
    ctx.info["locked_layers"] = len(result.locked)
    ctx.info["groups_pruned"] = result.groups_pruned
    ctx.info["heads_removed"] = sum(len(heads) for heads in result.heads_removed.values())
    return result.model


def prepare(ctx: CompressContext) -> nn.Module:
    spec = saved_shapes(ctx.run)
    if spec is not None:
        return rebuild_pruned(ctx.fp32_model, spec)
    opts: StructuredOptions = ctx.options
    pruned = cut(ctx, copy.deepcopy(ctx.fp32_model).eval(), opts)
    record(ctx, pruned)
    return pruned


def record(ctx: CompressContext, pruned: nn.Module) -> None:
    """Write the shape spec into the run directory (how the result is rebuilt)."""
    if ctx.run is None:
        raise PruningError("structured pruning needs a run directory to store pruned_shapes.json")
    save_shapes(ctx.run, pruned_shapes(pruned, ctx.fp32_model))


def report(ctx: CompressContext, pruned: nn.Module, measure_latency: bool) -> dict[str, Any]:
    x = ctx.example_input[:1]
    latency = engine_latencies(ctx.fp32_model, pruned, x) if measure_latency else None
    rep = pruning_report(ctx.fp32_model, pruned, tuple(x.shape), latency)
    if ctx.run is not None:
        (ctx.run.path / "pruning_report.md").write_text(f"# pruning report\n\n{rep.to_markdown()}\n")
    return {k: v for k, v in rep.as_dict().items() if k != "layer_sparsity"}


def run(ctx: CompressContext, model: nn.Module) -> dict[str, Any]:
    opts: StructuredOptions = ctx.options
    info = finetune(ctx, model, opts.finetune_epochs, opts.finetune_lr, "finetune",
                    criterion=finetune_criterion(ctx, opts))
    return {**info, **report(ctx, model, opts.measure_latency)}


COMPRESS_METHODS.add("prune_structured", CompressMethod(prepare, run, options=StructuredOptions))
