"""The ``source`` pipeline step of a compress run: the fp32 model to compress, loaded or trained first.

With ``source_run`` the model comes from that training run (its config.yaml + checkpoint) and its model settings
are copied into this run's config, so the run can be rebuilt from its own config.yaml; without it the
model/train/data settings train one first (under ``fp32/`` in the run directory).
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, open_dict

from experiments.data import build_data
from experiments.models import build_model
from experiments.runs import load_trained
from experiments.steps.base import STEPS, PipelineContext
from experiments.training import fit


@STEPS.register("source")
def source_step(cfg: DictConfig, ctx: PipelineContext) -> dict[str, Any]:
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    if cfg.source_run:
        # a checkpoint that does not fit its config fails here, before any other work
        model, src_cfg = load_trained(cfg.source_run, cfg.checkpoint)
        with open_dict(cfg):
            for key, value in src_cfg.model.items():
                cfg.model[key] = value
        data = build_data(cfg.data)
    else:
        data = build_data(cfg.data)
        cfg.model.num_classes = data.num_classes
        model = build_model(cfg.model, num_classes=data.num_classes)
        fit(model, data, cfg.train, ctx.path / "fp32")
    model.eval()
    ctx.run.write_config(cfg)
    return {"model": model, "fp32_model": model, "data": data}
