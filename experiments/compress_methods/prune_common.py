"""What the pruning and distillation methods share: typed method options, fine-tuning through
``fit``, and the pruned-shape spec kept in the run directory.

The ``compress`` schema holds quantization settings; these methods read their own settings
from ``compress.options`` and validate them against a dataclass, so a misspelled option or
a wrong type fails before any work, like any other config key.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from compression.pruning import apply_pruned_shapes
from compression.pruning.shapes import ShapeSpec
from experiments.compress_methods import CompressContext
from experiments.runs import RunDir
from experiments.training import fit

T = TypeVar("T")
SHAPES_FILE = "pruned_shapes.json"


def method_options(ctx: CompressContext, schema: type[T]) -> T:
    """``compress.options`` merged over the defaults of ``schema``; unknown keys name the valid ones."""
    raw = ctx.cfg.compress.get("options", None) if isinstance(ctx.cfg.compress, DictConfig) else None
    given = OmegaConf.to_container(raw, resolve=True) if raw is not None else {}
    valid = {f.name for f in fields(schema)}  # type: ignore[arg-type]
    unknown = sorted(set(given) - valid)
    if unknown:
        raise ValueError(
            f"compress.options for method '{ctx.cfg.compress.method}' has unknown keys {unknown}; "
            f"valid: {sorted(valid)}"
        )
    merged = OmegaConf.merge(OmegaConf.structured(schema), given)  # type checks each value
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def finetune(
    ctx: CompressContext, model: nn.Module, epochs: int, lr: float | None, subdir: str, **fit_kwargs: Any
) -> dict[str, Any]:
    """Train ``model`` with the experiment's train settings for ``epochs`` (0: skip) into ``run/subdir``."""
    if epochs <= 0:
        return {}
    train_cfg = copy.deepcopy(ctx.cfg.train)
    OmegaConf.set_struct(train_cfg, False)
    train_cfg.epochs, train_cfg.resume = epochs, False
    if lr is not None:
        train_cfg.optimizer.lr = lr
    state = fit(model, ctx.data, train_cfg, ctx.run.path / subdir, **fit_kwargs)
    model.eval()
    return {f"{subdir}_epochs": epochs, f"{subdir}_best_val_top1": state["best_val_top1"],
            f"{subdir}_time_s": state["train_time_s"]}


@dataclass
class FinetuneDistillOptions:
    """Logit distillation during the fine-tuning that follows pruning (mixed into method options)."""

    # "" fine-tunes on labels alone; "source" distils from the unpruned fp32 model; otherwise a
    # training run directory or a registered model name, as for the distill_* methods
    distill_teacher: str = ""
    distill_temperature: float = 4.0
    distill_alpha: float = 0.5


def finetune_criterion(ctx: CompressContext, opts: FinetuneDistillOptions) -> Any:
    """The fine-tuning criterion: None (cross-entropy) or a LogitDistillation from the chosen teacher."""
    if not opts.distill_teacher:
        return None
    from compression.distillation import LogitDistillation
    from experiments.compress_methods.distill_common import teacher_from  # imports this module

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
        from compression.pruning import engine_latency

        measure = engine_latency(example_input[:1])
    except ImportError:
        return None
    return measure(before.eval()), measure(after.eval())
