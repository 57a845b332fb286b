"""``fit``: train a model from a TrainConfig into a run directory, resumably."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from configs.schema.train import TrainConfig
from experiments.runs import RunDir, load_state_strict
from experiments.training.evaluate import evaluate
from experiments.training.optim import build_optimizer
from experiments.training.progress import bar, progress_enabled
from experiments.training.schedule import build_scheduler
from experiments.training.seeding import epoch_seed, seed_everything

Criterion = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class Callback(Protocol):
    def on_epoch_start(self, epoch: int, model: nn.Module) -> None: ...
    def on_validation_start(self, epoch: int, model: nn.Module) -> None: ...
    def on_epoch_end(self, epoch: int, model: nn.Module, metrics: dict[str, Any]) -> None: ...


class Tracker(Protocol):
    def log(self, metrics: dict[str, Any], step: int) -> None: ...


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def fit(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig,
    run_dir: RunDir | str,
    *,
    criterion: Criterion | None = None,
    callbacks: Sequence[Any] = (),
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data.train_loader``, validating on ``data.val_loader`` every epoch.

    Writes ``checkpoints/last.pt`` (every epoch, atomically), ``checkpoints/best.pt`` and
    ``history.jsonl`` into ``run_dir``. With ``cfg.resume`` it continues from ``last.pt`` and
    ends with the same weights as an uninterrupted run. Returns the final training state
    summary (best validation top-1, epochs run, time). ``criterion(logits, targets, inputs)``
    replaces the cross-entropy loss (distillation); ``callbacks`` see epoch starts, validation starts and
    epoch ends.
    """
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    if cfg.epochs < 1:
        raise ValueError(f"train.epochs must be >= 1, got {cfg.epochs}")
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed, cfg.deterministic)
    device = torch.device(cfg.device)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)

    steps_per_epoch = len(data.train_loader)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise ValueError("the training loader is empty")
    optimizer = build_optimizer(model, cfg.optimizer)
    scheduler = build_scheduler(optimizer, cfg.schedule, steps_per_epoch, cfg.epochs)
    ema = None
    if cfg.ema.enabled:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema.decay), use_buffers=True)
    ce = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    loss_fn: Criterion = criterion or (lambda logits, y, x: ce(logits, y))

    start_epoch, best_top1, history = 0, -math.inf, []
    if cfg.resume and run.checkpoint_path("last").is_file():
        state = run.load_checkpoint("last")
        load_state_strict(model, state["model"], str(run.checkpoint_path("last")))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema_module") is not None:
            ema.load_state_dict(state["ema_module"])
        start_epoch, best_top1 = state["epoch"] + 1, state["best_top1"]
        history = [r for r in run.read_history() if r["epoch"] < start_epoch]

    show = progress_enabled(cfg.progress)
    global_step = start_epoch * steps_per_epoch
    t_start = time.perf_counter()
    for epoch in bar(range(start_epoch, cfg.epochs), show, desc="epochs", initial=start_epoch, total=cfg.epochs):
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        model.train()
        _call(callbacks, "on_epoch_start", epoch, model)
        loss_sum, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
        batches = bar(data.train_loader, show, desc=f"epoch {epoch}", total=steps_per_epoch)
        for step, (x, y) in enumerate(batches):
            if step >= steps_per_epoch:
                break
            x, y = x.to(device), y.to(device)
            if cfg.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x)
            loss = loss_fn(logits, y, x)
            if not torch.isfinite(loss):
                last = run.checkpoint_path("last")
                kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
                raise NonFiniteLossError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch}, step {step} "
                    f"(global step {global_step}); stopping: {kept}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            global_step += 1
            loss_sum += loss.item() * y.numel()
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.numel()
        _call(callbacks, "on_validation_start", epoch, model)
        eval_model = ema.module if ema is not None else model
        val = evaluate(eval_model, data.val_loader, device)
        record = {
            "epoch": epoch,
            "step": global_step,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / seen,
            "train_top1": 100.0 * correct / seen,
            "epoch_time_s": time.perf_counter() - t0,
            **{f"val_{k}": v for k, v in val.items()},
        }
        history.append(record)
        improved = val["top1"] > best_top1
        best_top1 = max(best_top1, val["top1"])
        state = {
            "model": model.state_dict(),
            "ema": ema.module.state_dict() if ema is not None else None,
            "ema_module": ema.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "best_top1": best_top1,
        }
        run.save_checkpoint(state, "last")
        if improved:
            run.save_checkpoint(state, "best")
        run.write_history(history)
        if tracker is not None:
            tracker.log(record, step=global_step)
        _call(callbacks, "on_epoch_end", epoch, model, record)

    return {
        "best_val_top1": best_top1,
        "epochs": cfg.epochs,
        "resumed_from_epoch": start_epoch,
        "train_time_s": time.perf_counter() - t_start,
        "history": history,
    }
