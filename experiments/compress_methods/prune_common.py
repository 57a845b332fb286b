"""What the pruning methods share: distillation while fine-tuning (options and criterion), and the
pruned-shape spec kept in the run directory."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from compression.distillation import LogitDistillation
from compression.pruning import apply_pruned_shapes
from compression.pruning.shapes import ShapeSpec
from experiments.compress_methods.base import CompressContext
from experiments.compress_methods.distill_common import teacher_from
from experiments.runs import RunDir

SHAPES_FILE = "pruned_shapes.json"


@dataclass
class FinetuneDistillOptions:
    """Logit distillation during the fine-tuning that follows pruning (mixed into method options)."""

    # "" fine-tunes on labels alone; "source" distils from the unpruned fp32 model; otherwise a
    # training run directory or a registered model name, as for the distill_* methods
    distill_teacher: str = ""
    distill_temperature: float = 4.0
    distill_alpha: float = 0.5


def finetune_criterion(ctx: CompressContext, opts: FinetuneDistillOptions) -> LogitDistillation | None:
    """The fine-tuning criterion: None (cross-entropy) or a LogitDistillation from the chosen teacher."""
    if not opts.distill_teacher:
        return None
    if opts.distill_teacher == "source":
        teacher = copy.deepcopy(ctx.fp32_model)
    else:
        teacher = teacher_from(ctx, opts.distill_teacher)
    return LogitDistillation(teacher, opts.distill_temperature, opts.distill_alpha)


def shapes_path(run: RunDir) -> Path:
    return run.path / SHAPES_FILE


def save_shapes(run: RunDir, spec: ShapeSpec) -> None:
    shapes_path(run).write_text(json.dumps(spec, indent=1))


def saved_shapes(run: RunDir | None) -> ShapeSpec | None:
    """The spec a previous ``prepare`` wrote into this run directory (rebuilding a saved result)."""
    if run is None or not shapes_path(run).is_file():
        return None
    return json.loads(shapes_path(run).read_text())


def rebuild_pruned(fp32_model: nn.Module, spec: ShapeSpec) -> nn.Module:
    """The pruned architecture with uninitialised weights: the caller loads the saved state into it."""
    return apply_pruned_shapes(copy.deepcopy(fp32_model), spec)


def engine_latencies(
    before: nn.Module, after: nn.Module, example_input: torch.Tensor
) -> tuple[float, float] | None:
    """Engine latency (ms) of both models at batch 1, or None when the engine is not built.

    A model the engine cannot run (an op it lacks) fails loudly: a silent None would hide
    the very disagreement between MACs and speed that the report exists to show.
    """
    try:
        from measure import latency_fn

        measure = latency_fn(example_input[:1])
    except ImportError:
        return None
    return measure(before.eval()), measure(after.eval())
