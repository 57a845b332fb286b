"""The ``train`` pipeline step: build data and model, fit, evaluate on test, write the run directory."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from experiments.data import build_data
from experiments.models import build_model
from experiments.steps.base import STEPS, PipelineContext
from experiments.tracking import build_tracker
from experiments.training import evaluate, fit
from lightweight_models.complexity import profile


@STEPS.register("train")
def train_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    run = ctx.run
    data = build_data(cfg.data)
    cfg.model.num_classes = data.num_classes  # recorded so the run can be rebuilt from config.yaml
    model = build_model(cfg.model, num_classes=data.num_classes)
    run.write_config(cfg)
    tracker = build_tracker(cfg.tracking, run.path, cfg, name=f"{cfg.name}-{cfg.model.name}")
    try:
        state = fit(model, data, cfg.train, run, tracker=tracker)
        final = run.load_checkpoint("last")
        if final.get("ema") is not None:
            model.load_state_dict(final["ema"])
        test = evaluate(model, data.test_loader, cfg.train.device)
        cost = profile(model.cpu(), (1, data.channels, data.image_size, data.image_size))
        metrics: dict[str, Any] = {
            "name": cfg.name,
            "model": cfg.model.name,
            "data": cfg.data.name,
            "epochs": cfg.train.epochs,
            "best_val_top1": state["best_val_top1"],
            "train_time_s": state["train_time_s"],
            "resumed_from_epoch": state["resumed_from_epoch"],
            **{f"test_{k}": v for k, v in test.items()},
            "params": cost.params,
            "macs": cost.macs,
            "peak_activation_bytes": cost.peak_activation_bytes,
            "input_shape": [1, data.channels, data.image_size, data.image_size],
        }
        run.write_metrics(metrics)
        tracker.summary(metrics)
    finally:
        tracker.finish()
    return {"model": model, "data": data, "metrics": metrics}
