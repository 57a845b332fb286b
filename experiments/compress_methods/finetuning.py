"""The one fine-tuning loop of the compress methods: the experiment's train settings with a method's
epochs and learning rate, through ``experiments.training.fit``, into a subdirectory of the run."""

from __future__ import annotations

import copy
from typing import Any

from omegaconf import OmegaConf
from torch import nn

from experiments.compress_methods.base import CompressContext
from experiments.training import fit


def finetune(
    ctx: CompressContext,
    model: nn.Module,
    epochs: int,
    lr: float | None,
    subdir: str,
    *,
    metrics_prefix: str | None = None,
    **fit_kwargs: Any,
) -> dict[str, Any]:
    """Train ``model`` for ``epochs`` (0: skip) at ``lr`` (None: the train config's) into ``run/subdir``.

    ``fit_kwargs`` (criterion, callbacks) go to ``fit``. Returns ``<prefix>_epochs``,
    ``<prefix>_best_val_top1`` and ``<prefix>_time_s``, the prefix defaulting to ``subdir``.
    """
    if epochs <= 0:
        return {}
    train_cfg = copy.deepcopy(ctx.cfg.train)
    OmegaConf.set_struct(train_cfg, False)
    train_cfg.epochs, train_cfg.resume = epochs, False
    if lr is not None:
        train_cfg.optimizer.lr = lr
    state = fit(model, ctx.data, train_cfg, ctx.run.path / subdir, **fit_kwargs)
    model.eval()
    prefix = metrics_prefix or subdir
    return {f"{prefix}_epochs": epochs, f"{prefix}_best_val_top1": state["best_val_top1"],
            f"{prefix}_time_s": state["train_time_s"]}
