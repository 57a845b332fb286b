"""Quantization-aware training: PTQ initialisation, then fine-tuning with the configured quantizers
(STE / LSQ / PACT), folded-BN simulation with BN freezing, optional distillation from fp32."""

from __future__ import annotations

import copy
from typing import Any

from omegaconf import OmegaConf
from torch import nn

from compression.quantization import calibrate, quantize_model, set_quant_mode
from compression.quantization.qat import FreezeBatchNorm, attach_batchnorm, distillation_loss
from experiments.compress_methods import COMPRESS_METHODS, CompressContext, CompressMethod
from experiments.training import fit


def prepare(ctx: CompressContext) -> nn.Module:
    qmodel, report = quantize_model(ctx.fp32_model, ctx.quant, ctx.example_input)
    # with fold_bn=false the BNs are still there: train them folded (Jacob et al.)
    ctx.info.update(conv_bn=attach_batchnorm(qmodel), quantized_layers=len(report.quantized_layers),
                    quantized_functional=len(report.quantized_functional),
                    probability_grids=len(report.probability_inputs), untraced=report.untraced)
    return qmodel


def finetune(ctx: CompressContext, qmodel: nn.Module, epochs: int, lr: float, subdir: str) -> dict[str, Any]:
    qat = ctx.cfg.compress.qat
    train_cfg = copy.deepcopy(ctx.cfg.train)
    OmegaConf.set_struct(train_cfg, False)
    train_cfg.epochs, train_cfg.optimizer.lr, train_cfg.resume = epochs, lr, False
    criterion = None
    if qat.distill_weight > 0:
        criterion = distillation_loss(copy.deepcopy(ctx.fp32_model), qat.distill_weight, qat.distill_temperature)
    set_quant_mode(qmodel, "track")
    state = fit(qmodel, ctx.data, train_cfg, ctx.run.path / subdir, criterion=criterion,
                callbacks=[FreezeBatchNorm(qat.bn_freeze_epoch)])
    set_quant_mode(qmodel, "frozen")
    qmodel.eval()
    return {"qat_epochs": epochs, "qat_best_val_top1": state["best_val_top1"], "qat_time_s": state["train_time_s"]}


def run(ctx: CompressContext, qmodel: nn.Module) -> dict[str, Any]:
    qat = ctx.cfg.compress.qat
    seen = calibrate(qmodel, ctx.data.train_loader, ctx.cfg.compress.ptq.calibration_batches, ctx.cfg.train.device)
    return {"calibration_batches": seen, **finetune(ctx, qmodel, qat.epochs, qat.lr, "qat")}


COMPRESS_METHODS.add("qat", CompressMethod(prepare, run))
